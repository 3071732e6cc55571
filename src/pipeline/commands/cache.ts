// `icl-lab cache status|verify|gc`: look after the content-addressed store of stage results.

import { readFile } from 'node:fs/promises';
import { type Command, UsageError } from './command.ts';
import { defaultCacheRoot, openCache } from '../cache/store.ts';

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

/** Keys to keep: a JSON array of strings, or one key (or stage/key) per line; `#` starts a comment line. */
async function readKeepFile(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--keep ${path}: cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (err) {
      throw new UsageError(`--keep ${path}: not valid JSON (${(err as Error).message})`);
    }
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
      throw new UsageError(`--keep ${path}: a JSON keep list must be an array of key strings`);
    }
    return value;
  }
  return trimmed.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

export const cacheCommand: Command = {
  name: 'cache',
  summary: 'Show, verify or clean the store of computed results',
  usage: 'cache status|verify|gc [--cache DIR] [--keep FILE] [--dry-run]',
  positionals: { min: 1, max: 1, names: 'one of status, verify, gc' },
  options: {
    cache: { type: 'string', valueName: 'DIR', description: 'Store root (default: $ICL_LAB_CACHE or ./cache)' },
    keep: { type: 'string', valueName: 'FILE', description: 'gc: keys to keep (JSON array, or one key or stage/key per line)' },
    'dry-run': { type: 'boolean', description: 'gc: list what would be removed, remove nothing' },
  },
  details: [
    'status   entries and bytes per stage, and leftover temp folders',
    'verify   re-hash every file of every entry; exits 1 if any entry is damaged (a damaged entry is recomputed',
    '         by the next run that needs it)',
    'gc       remove stale temp folders and, with --keep, every entry whose key is not listed',
  ].join('\n'),
  async run(values, positionals = []) {
    const action = positionals[0];
    if (!['status', 'verify', 'gc'].includes(action)) {
      throw new UsageError(`unknown cache action "${action}"; use status, verify or gc`);
    }
    const root = typeof values.cache === 'string' && values.cache !== '' ? values.cache : defaultCacheRoot();
    const store = openCache(root);
    const out = (s: string) => process.stdout.write(`${s}\n`);
    if (action === 'status') {
      const s = await store.status();
      out(`cache ${s.root}: ${s.entries} entries, ${formatBytes(s.bytes)}`);
      for (const [stage, v] of Object.entries(s.stages)) out(`  ${stage.padEnd(20)} ${String(v.entries).padStart(6)} entries  ${formatBytes(v.bytes)}`);
      if (s.tempFolders > 0) out(`  ${s.tempFolders} temp folder(s) under tmp/ (removed by \`cache gc\` once stale)`);
      return;
    }
    if (action === 'verify') {
      const v = await store.verify();
      out(`cache ${store.root}: ${v.ok} entries verified, ${v.corrupted.length} damaged`);
      for (const c of v.corrupted) out(`  DAMAGED ${c.stage}/${c.key}: ${c.problem}`);
      if (v.corrupted.length > 0) {
        throw new UsageError(`${v.corrupted.length} damaged cache entr${v.corrupted.length === 1 ? 'y' : 'ies'}; they will be recomputed when needed (or remove them with gc)`);
      }
      return;
    }
    const dryRun = values['dry-run'] === true;
    const keepPath = typeof values.keep === 'string' ? values.keep : undefined;
    let keep: string[] | undefined;
    if (keepPath !== undefined) keep = await readKeepFile(keepPath);
    const result = keep
      ? await store.gc(keep, { dryRun })
      : await store.gc((await store.listEntries()).map((e) => `${e.stage}/${e.key}`), { dryRun }); // temp folders only
    const verb = dryRun ? 'would remove' : 'removed';
    for (const e of result.removedEntries) out(`  ${verb} ${e.stage}/${e.key} (${formatBytes(e.bytes)})`);
    for (const t of result.removedTemp) out(`  ${verb} temp ${t}`);
    out(
      `cache ${store.root}: ${verb} ${result.removedEntries.length} entries and ${result.removedTemp.length} temp folder(s), ` +
        `${formatBytes(result.freedBytes)}; kept ${result.keptEntries}` +
        (keep ? '' : ' (no --keep list: entries are kept; pass --keep FILE to remove entries the plan no longer uses)'),
    );
  },
};
