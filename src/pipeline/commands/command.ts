// What a CLI command declares: its options, help text and action.

import type { ParseArgsConfig } from 'node:util';

export type OptionValues = Record<string, string | boolean | Array<string | boolean> | undefined>;

export type OptionSpec = NonNullable<ParseArgsConfig['options']>[string] & { description: string; valueName?: string };

export interface Command {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  /** Extra help text after the options (examples, notes). */
  details?: string;
  /** Positional arguments the command takes (none if absent). */
  positionals?: { min: number; max: number; names: string };
  run(values: OptionValues, positionals?: string[]): Promise<void>;
}

/** An error whose message is meant for the user as it stands (no stack trace). */
export class UsageError extends Error {}
