import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // ONNX Runtime sessions are CPU-heavy; on a 2-core machine, parallel files mostly fight each other.
    fileParallelism: false,
    testTimeout: 60_000,
  },
});
