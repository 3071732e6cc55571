// Option parsing shared by commands.

import { type OptionSpec, UsageError } from './command.ts';
import { type DeviceRequest, DEVICE_CHOICES } from '../engine/runner.ts';

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
