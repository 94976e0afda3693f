/**
 * Podman's spellings of fields that docker names otherwise (image `.ID` for
 * docker's `.Id`, `.Digest`, `.Names`...): readable by a --format template,
 * left out of the JSON (non-enumerable), which keeps docker's keys only.
 */
export function withTemplateAliases<T extends object>(data: T, aliases: Record<string, unknown>): T {
  for (const [k, v] of Object.entries(aliases)) {
    if (!Object.hasOwn(data, k)) Object.defineProperty(data, k, { value: v, enumerable: false });
  }
  return data;
}
