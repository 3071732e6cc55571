// `icl-lab models`: the catalogue of known hub models, which families this version runs, and estimates of memory and
// time for `lab run` (models/footprint.ts, the estimate `lab run` prints and checks before loading a model).

import type { Command } from './command.ts';
import { catalogueRows } from '../models/catalogue.ts';
import { CPU_FLOPS_PER_THREAD, DEFAULT_RUN_WORKLOAD, formatBytes, formatCount, formatSeconds } from '../models/footprint.ts';

export const modelsCommand: Command = {
  name: 'models',
  summary: 'List known hub models by family and size, whether this version runs them, and their memory and time estimates',
  usage: 'models [--json]',
  options: {
    json: { type: 'boolean', description: 'Print the catalogue as JSON' },
  },
  details: [
    'Run one with `icl-lab run --models <id>` (downloads it once into the Hugging Face cache; needs network).',
    `Estimates are for \`lab run\` with ${DEFAULT_RUN_WORKLOAD.testExamples} test examples, ${DEFAULT_RUN_WORKLOAD.k} demonstrations,`,
    `both analysis positions and both null models (see src/pipeline/models/footprint.ts); ">=" marks weights only.`,
  ].join('\n'),
  async run(values) {
    const rows = catalogueRows();
    if (values.json === true) {
      process.stdout.write(`${JSON.stringify(rows, null, 1)}\n`);
      return;
    }
    const lines = rows.map((r) => {
      const at = r.complete ? '' : '>=';
      const cpu = `${at}${formatBytes(r.runMemoryCpu)}`;
      const gpu = `${at}${formatBytes(r.runMemoryGpu.host)} + ${formatBytes(r.runMemoryGpu.device)}`;
      return `${r.id.padEnd(30)} ${r.modelType.padEnd(8)} ${formatCount(r.parameters).padStart(5)}  ${(r.supported ? 'yes' : 'no').padEnd(4)} ` +
        `${cpu.padStart(8)}  ${gpu.padStart(17)}  ${formatSeconds(r.secondsPerTestExample).padStart(7)}${r.note ? `  (${r.note})` : ''}`;
    });
    const threads = rows[0]?.threads ?? 1;
    process.stdout.write(
      `${'model'.padEnd(30)} ${'family'.padEnd(8)} ${'size'.padStart(5)}  runs ${'CPU mem'.padStart(8)}  ${'cuda: host + GPU'.padStart(17)}  ` +
        `per test example (CPU, ${threads} threads at a nominal ${(CPU_FLOPS_PER_THREAD * threads) / 1e9} GFLOP/s)\n${lines.join('\n')}\n` +
        'Estimated peak memory of `lab run` in this engine (models/footprint.ts); ">=" counts the weights only.\n',
    );
  },
};
