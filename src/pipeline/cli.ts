// The command-line entry: `icl-lab <command> [options]` (or `npm run lab -- <command> ...`).
// Each command lives in its own module under commands/ and declares its options, help and action.

import { parseArgs } from 'node:util';
import { cacheCommand } from './commands/cache.ts';
import { type Command, type OptionValues, UsageError } from './commands/command.ts';
import { diffCommand } from './commands/diff.ts';
import { finetuneCommand } from './commands/finetune.ts';
import { inspectCommand } from './commands/inspect.ts';
import { trainCommand } from './commands/train.ts';
import { runCommand } from './commands/run.ts';
import { modelsCommand } from './commands/models.ts';
import { FeedError } from './engine/runner.ts';
import { ModelFileError } from './models/safetensors.ts';
import { MemoryLimitError } from './models/footprint.ts';
import { PlanError } from './experiments/plan.ts';
import { LabelWordError } from './tasks/label-words.ts';
import { TaskFileError } from './tasks/user-task.ts';
import { MetricsSchemaError } from './metrics/schema.ts';
import { DiffSpecError } from './report/diff.ts';
import { ModelCardError } from './report/model-card.ts';
import { ResultsError } from './report/results.ts';
import { TrainConfigError } from './training/train-config.ts';

/** Errors that describe bad input in words meant for the user: printed without a stack trace. */
const USER_FACING_ERRORS = [
  UsageError, ModelFileError, FeedError, PlanError, LabelWordError, TaskFileError, MetricsSchemaError, DiffSpecError,
  ModelCardError, ResultsError, TrainConfigError, MemoryLimitError,
];

export const COMMANDS: Command[] = [runCommand, inspectCommand, finetuneCommand, trainCommand, diffCommand, cacheCommand, modelsCommand];

function commandHelp(cmd: Command): string {
  const lines = [`Usage: icl-lab ${cmd.usage}`, '', cmd.summary, '', 'Options:'];
  for (const [name, spec] of Object.entries(cmd.options)) {
    const flag = `--${name}${spec.type === 'string' ? ` ${spec.valueName ?? 'VALUE'}` : ''}`;
    const dflt = spec.default !== undefined ? ` (default: ${String(spec.default)})` : '';
    lines.push(`  ${flag.padEnd(30)} ${spec.description}${dflt}`);
  }
  lines.push(`  ${'--help'.padEnd(30)} Show this help`);
  if (cmd.details) lines.push('', cmd.details);
  return lines.join('\n');
}

function mainHelp(): string {
  const lines = [
    'icl-lab: does in-context learning behave like finetuning? A reproducible report generator for Dai et al. (2023).',
    '',
    'Usage: icl-lab <command> [options]     (from the repo: npm run lab -- <command> [options])',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(12)} ${c.summary}`),
    '',
    'Run `icl-lab <command> --help` for a command\'s options.',
  ];
  return lines.join('\n');
}

/** Run the CLI; returns the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${mainHelp()}\n`);
    return name ? 0 : 1;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`icl-lab: unknown command "${name}". Commands: ${COMMANDS.map((c) => c.name).join(', ')}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${commandHelp(cmd)}\n`);
    return 0;
  }
  let values: OptionValues;
  let positionals: string[];
  try {
    const options = Object.fromEntries(
      Object.entries(cmd.options).map(([k, { description: _d, valueName: _v, ...spec }]) => [k, spec]),
    );
    ({ values, positionals } = parseArgs({ args: rest, options, strict: true, allowPositionals: cmd.positionals !== undefined }));
    const p = cmd.positionals;
    if (p && (positionals.length < p.min || positionals.length > p.max)) throw new Error(`expected ${p.names}, got ${positionals.length} argument(s)`);
  } catch (err) {
    process.stderr.write(`icl-lab ${name}: ${(err as Error).message}\nRun \`icl-lab ${name} --help\` for usage.\n`);
    return 2;
  }
  try {
    await cmd.run(values, positionals);
    return 0;
  } catch (err) {
    const e = err as Error;
    // Errors raised for the user (bad input, missing files) print as they are; anything else keeps its stack.
    const known = USER_FACING_ERRORS.some((cls) => e instanceof cls);
    process.stderr.write(`icl-lab ${name}: ${known ? e.message : (e.stack ?? e.message)}\n`);
    return 1;
  }
}
