// `icl-lab diff A B`: two models (or runs) side by side, every metric with its delta and an interval for the delta.
// The same table the report's diff pages show, computed by report/diff.ts.

import { type Command, UsageError } from './command.ts';
import { DiffSpecError, diffSpecs, formatDiffText } from '../report/diff.ts';
import { ResultsError, loadResults, resultsDir } from '../report/results.ts';

export const diffCommand: Command = {
  name: 'diff',
  summary: 'Compare two models or runs: every metric, its delta and an interval for the delta',
  usage: 'diff A B [--json] [--results DIR] [--resamples N]',
  options: {
    json: { type: 'boolean', description: 'Print the diff as JSON' },
    results: { type: 'string', valueName: 'DIR', description: 'Results directory (default: $ICL_LAB_RESULTS or cache/results)' },
    resamples: { type: 'string', valueName: 'N', default: '1000', description: 'Bootstrap resamples for paired intervals' },
  },
  positionals: { min: 2, max: 2, names: 'A B' },
  details: [
    'A and B name a model (MODEL), or narrow it: MODEL/TASK, MODEL/TASK/SEED, MODEL/TASK/SEED/POSITION.',
    'Runs are matched on what the two do not both fix, e.g. `diff gpt2 gpt2-medium` matches task, seed and position;',
    '`diff m/sst2/1 m/sst2/2` compares two seeds. Intervals are paired when both runs have examples.json with the',
    'same example ids, otherwise marked unpaired.',
  ].join('\n'),
  async run(values, positionals = []) {
    const [a, b] = positionals;
    if (a === undefined || b === undefined) throw new UsageError('diff needs two arguments: A B');
    const resamples = Number(values.resamples ?? '1000');
    if (!Number.isInteger(resamples) || resamples < 1) throw new UsageError(`--resamples must be a positive integer, got "${String(values.resamples)}"`);
    const dir = typeof values.results === 'string' ? values.results : resultsDir();
    let result;
    try {
      const results = loadResults(dir);
      if (results.runs.length === 0) throw new UsageError(`no results in ${dir}${results.exists ? '' : ' (the directory does not exist)'}: nothing to diff yet`);
      result = diffSpecs(results.runs, a, b, { resamples });
    } catch (err) {
      if (err instanceof DiffSpecError || err instanceof ResultsError) throw new UsageError(err.message);
      throw err;
    }
    process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : formatDiffText(result));
  },
};
