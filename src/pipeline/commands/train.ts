// `icl-lab train`: train an embedded GPT-2 on the synthetic world from a recipe file; resumable.

import { join } from 'node:path';
import { type Command, UsageError } from './command.ts';
import { THREADS_OPTION, parseThreads } from './common.ts';
import { readTrainConfig } from '../training/train-config.ts';
import { trainModel } from '../training/trainer.ts';
import { progressWriter } from '../util/progress.ts';

export const trainCommand: Command = {
  name: 'train',
  summary: 'Train an embedded GPT-2 from scratch on the synthetic world (resumes from its last checkpoint)',
  usage: 'train --config FILE.json [--out DIR] [--checkpoint DIR] [--fresh] [--stop-after N] [--threads N]',
  options: {
    config: { type: 'string', valueName: 'FILE', description: 'Training recipe (see content/training/*.json)' },
    out: { type: 'string', valueName: 'DIR', description: 'Model folder to write when training ends (default: content/models/<id>)' },
    checkpoint: { type: 'string', valueName: 'DIR', description: 'Checkpoint folder (default: cache/training/<id>)' },
    fresh: { type: 'boolean', description: 'Ignore an existing checkpoint and start from step 0' },
    'stop-after': { type: 'string', valueName: 'N', description: 'Stop after N steps in this run (resume later)' },
    threads: THREADS_OPTION,
  },
  details: [
    'A checkpoint (parameters, AdamW moments, step, data generator state) is written atomically every',
    'checkpointEvery steps; rerunning the same command after a crash or a kill continues exactly where it was.',
    'Training curves (loss, ZSL/ICL accuracy per task, context-only accuracy) are saved in the checkpoint and,',
    'when training ends, as training-curve.json in the model folder.',
  ].join('\n'),
  async run(values) {
    if (typeof values.config !== 'string') throw new UsageError('--config is required');
    const config = await readTrainConfig(values.config);
    let stopAfter: number | undefined;
    if (values['stop-after'] !== undefined) {
      stopAfter = Number(values['stop-after']);
      if (!Number.isInteger(stopAfter) || stopAfter < 1) throw new UsageError(`--stop-after must be a positive integer, got "${String(values['stop-after'])}"`);
    }
    const outDir = typeof values.out === 'string' ? values.out : join('content', 'models', config.id);
    const checkpointDir = typeof values.checkpoint === 'string' ? values.checkpoint : join('cache', 'training', config.id);
    const interactive = process.stderr.isTTY;
    const result = await trainModel(config, {
      outDir,
      checkpointDir,
      fresh: values.fresh === true,
      stopAfter,
      threads: parseThreads(values.threads),
      log: (line) => process.stderr.write(`${interactive ? '\r\x1b[K' : ''}${line}\n`),
      // Redrawn in place on a terminal; in logs, a line every 30 s.
      progress: progressWriter((text) => process.stderr.write(text), interactive),
    });
    if (interactive) process.stderr.write('\n');
    process.stdout.write(
      result.finished
        ? `${config.id}: trained ${result.steps} steps; model written to ${outDir}\n`
        : `${config.id}: stopped at step ${result.steps} of ${config.optimizer.totalSteps}; rerun to resume from ${checkpointDir}\n`,
    );
  },
};
