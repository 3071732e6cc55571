// Headless Chromium for the browser tests: Debian's chromium driven by playwright-core (never a downloaded browser).
// Without it the browser tests skip locally, and fail under CI (env CI=true).

import * as fs from 'node:fs';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export const inCI = process.env.CI === 'true' || process.env.CI === '1';

export function chromiumAvailable(): boolean {
  return fs.existsSync(CHROMIUM);
}

/** Whether to run browser tests; throws under CI when the browser is missing. */
export function browserTestsEnabled(): boolean {
  if (chromiumAvailable()) return true;
  if (inCI) throw new Error(`CI=true but no Chromium at ${CHROMIUM}: install it (apt-get install -y chromium); the browser test must not be skipped in CI`);
  console.warn(`[site test] skipping the browser checks: no Chromium at ${CHROMIUM} (apt-get install -y chromium to run them)`);
  return false;
}
