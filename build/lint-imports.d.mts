/** build/lint-imports.mjs: the import-boundary lint. */
export function lint(root: string, allowedCycles?: string[][]): { files: number; problems: string[] };
