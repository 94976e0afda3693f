import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        // The registry client against a real registry server (Debian's docker-registry), started by the tests.
        test: { name: 'registry', include: ['test/registry/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 60_000 },
      },
      {
        // save, load and import against stores in temp dirs; layers are extracted by build/nook's store helper (NOOK_SELF).
        test: { name: 'archive', include: ['test/archive/**/*.test.ts'], testTimeout: 60_000, hookTimeout: 60_000 },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // Checks build/nook, creates the test users and the rootfs: only when integration tests run.
          globalSetup: ['test/helpers/global-setup.ts'],
          // The tests count the test users' processes: one file at a time.
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
