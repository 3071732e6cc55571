// Child process for the crash test: starts a cache put, says READY when the first file is written, then hangs until
// the parent kills it with SIGKILL (argv: store root, key).

import { openCache } from '../../src/pipeline/cache/store.ts';

const [root, key] = process.argv.slice(2);
const store = openCache(root);
await store.put('runs', key, {
  'a.bin': new Uint8Array(1000).fill(7),
  'b.bin': () =>
    new Promise<Uint8Array>(() => {
      process.stdout.write('READY\n');
    }),
});
