// The command-line entry: `icl-lab <command> [options]` (or `npm run lab -- <command> ...`).
// Each command lives in its own module under commands/ and declares its options, help and action.

import { parseArgs } from 'node:util';
import { type Command, type OptionValues, UsageError } from './commands/command.ts';
import { inspectCommand } from './commands/inspect.ts';
import { FeedError } from './engine/runner.ts';
import { ModelFileError } from './models/safetensors.ts';

export const COMMANDS: Command[] = [inspectCommand];

function commandHelp(cmd: Command): string {
  const lines = [`Usage: icl-lab ${cmd.usage}`, '', cmd.summary, '', 'Options:'];
  for (const [name, spec] of Object.entries(cmd.options)) {
    const flag = `--${name}${spec.type === 'string' ? ` ${spec.valueName ?? 'VALUE'}` : ''}`;
    const dflt = spec.default !== undefined ? ` (default: ${String(spec.default)})` : '';
    lines.push(`  ${flag.padEnd(28)} ${spec.description}${dflt}`);
  }
  lines.push(`  ${'--help'.padEnd(28)} Show this help`);
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
  try {
    const options = Object.fromEntries(
      Object.entries(cmd.options).map(([k, { description: _d, valueName: _v, ...spec }]) => [k, spec]),
    );
    values = parseArgs({ args: rest, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    process.stderr.write(`icl-lab ${name}: ${(err as Error).message}\nRun \`icl-lab ${name} --help\` for usage.\n`);
    return 2;
  }
  try {
    await cmd.run(values);
    return 0;
  } catch (err) {
    const e = err as Error;
    // Errors raised for the user (bad input, missing files) print as they are; anything else keeps its stack.
    const known = e instanceof UsageError || e instanceof ModelFileError || e instanceof FeedError;
    process.stderr.write(`icl-lab ${name}: ${known ? e.message : (e.stack ?? e.message)}\n`);
    return 1;
  }
}
