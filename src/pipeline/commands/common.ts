// Option parsing shared by commands.

import { type OptionSpec, UsageError } from './command.ts';
import { type DeviceRequest, DEVICE_CHOICES } from '../engine/runner.ts';
import { MAX_MEMORY_ENV } from '../models/footprint.ts';

export function parseDevice(value: unknown): DeviceRequest {
  const v = value ?? 'cpu';
  if (!DEVICE_CHOICES.includes(v as DeviceRequest)) {
    throw new UsageError(`--device must be one of ${DEVICE_CHOICES.join(', ')}, got "${String(v)}"`);
  }
  return v as DeviceRequest;
}

export function parseThreads(value: unknown): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--threads must be a positive integer, got "${String(value)}"`);
  return n;
}

/** The options every command that runs a model shares. */
export const DEVICE_OPTION: OptionSpec = {
  type: 'string', valueName: DEVICE_CHOICES.join('|'), default: 'cpu', description: 'Execution provider',
};
export const THREADS_OPTION: OptionSpec = { type: 'string', valueName: 'N', description: 'CPU threads (default: all cores)' };

/** --max-memory: the memory a model may take, in GB (10^9 bytes), overriding the memory available now. */
export const MAX_MEMORY_OPTION: OptionSpec = {
  type: 'string', valueName: 'GB',
  description: `Memory limit for the estimate checked before loading a model (default: $${MAX_MEMORY_ENV}, else the memory available now)`,
};

/** --max-memory (else $ICL_LAB_MAX_MEMORY_GB) in bytes; undefined when neither is set. */
export function parseMaxMemory(value: unknown, env: NodeJS.ProcessEnv = process.env): number | undefined {
  const [raw, what] = value !== undefined ? [value, '--max-memory'] : [env[MAX_MEMORY_ENV] || undefined, MAX_MEMORY_ENV];
  if (raw === undefined) return undefined;
  const gb = Number(raw);
  if (!(Number.isFinite(gb) && gb > 0)) throw new UsageError(`${what} must be a positive number of GB, got "${String(raw)}"`);
  return gb * 1e9;
}
