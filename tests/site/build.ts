// Build the site into a temporary folder with a given results directory and base path.

import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');

export interface BuildResult {
  status: number | null;
  output: string;
}

/** The environment without what vitest sets for its own Vite (BASE_URL, MODE, NODE_ENV=test...), which would leak into Astro's build. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) {
    if (k.startsWith('VITEST') || ['BASE_URL', 'MODE', 'DEV', 'PROD', 'SSR', 'TEST', 'NODE_ENV'].includes(k)) delete env[k];
  }
  return env;
}

/** Hub models are looked for in `hubCache` (default: an empty folder beside the results), never in the user's HF cache. */
export function buildSite(opts: { results: string; models?: string; base: string; outDir: string; hubCache?: string }): BuildResult {
  const r = spawnSync(path.join(ROOT, 'node_modules/.bin/astro'), ['build', '--outDir', opts.outDir], {
    cwd: ROOT,
    encoding: 'utf8',
    env: {
      ...cleanEnv(),
      ICL_LAB_RESULTS: opts.results,
      ICL_LAB_MODELS: opts.models ?? path.join(opts.results, '__no_models__'),
      ICL_LAB_BASE: opts.base,
      HF_HUB_CACHE: opts.hubCache ?? path.join(opts.results, '__no_hub_cache__'),
      ASTRO_TELEMETRY_DISABLED: '1',
    },
    timeout: 120_000,
  });
  return { status: r.status, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}
