// Whole-command timings for `npm run bench`: a cold run of the default plan (an empty cache, so every run is
// computed) and a warm `npm run build` (the committed results are up to date, so nothing is recomputed and the
// time is the check plus the site build). Both run as child processes, exactly as a user types them.

import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BenchLine } from './bench.ts';

const CLI = path.resolve(import.meta.dirname, '../bin/icl-lab.mjs');

function timed(command: string, args: string[], label: string): number {
  const start = performance.now();
  const result = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, ASTRO_TELEMETRY_DISABLED: '1' } });
  const seconds = (performance.now() - start) / 1000;
  if (result.status !== 0) {
    throw new Error(`bench: ${label} failed (exit ${result.status}):\n${(result.stdout ?? '').slice(-2000)}${(result.stderr ?? '').slice(-2000)}`);
  }
  return seconds;
}

export async function planBench(threads: number): Promise<BenchLine[]> {
  const scratch = await mkdtemp(path.join(os.tmpdir(), 'icl-lab-bench-'));
  try {
    const cold = timed(process.execPath, [
      CLI, 'run', '--cache', path.join(scratch, 'cache'), '--results', path.join(scratch, 'results'), '--threads', String(threads),
    ], 'cold run of the default plan');
    const warm = timed('npm', ['run', '-s', 'build'], 'warm npm run build');
    return [
      { name: 'cold run of the default plan (empty cache; target <= 15 min)', value: cold / 60, unit: 'min' },
      { name: 'warm `npm run build` (nothing to recompute; target <= 60 s)', value: warm, unit: 's' },
    ];
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
