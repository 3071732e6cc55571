// `icl-lab models`: the catalogue of known hub models, which families this version runs, and memory estimates.

import type { Command } from './command.ts';
import { catalogueRows } from '../models/catalogue.ts';

const size = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(1)}B` : `${Math.round(n / 1e6)}M`);

export const modelsCommand: Command = {
  name: 'models',
  summary: 'List known hub models by family and size, whether this version runs them, and their memory needs',
  usage: 'models [--json]',
  options: {
    json: { type: 'boolean', description: 'Print the catalogue as JSON' },
  },
  details: 'Run one with `icl-lab run --models <id>` (downloads it once into the Hugging Face cache; needs network).',
  async run(values) {
    const rows = catalogueRows();
    if (values.json === true) {
      process.stdout.write(`${JSON.stringify(rows, null, 1)}\n`);
      return;
    }
    const lines = rows.map((r) =>
      `${r.id.padEnd(32)} ${r.modelType.padEnd(9)} ${size(r.parameters).padStart(6)}  ${(r.supported ? 'yes' : 'no').padEnd(4)}  ` +
        `~${r.memoryGiB.toFixed(1)} GiB${r.note ? `  (${r.note})` : ''}`,
    );
    process.stdout.write(`${'model'.padEnd(32)} ${'family'.padEnd(9)} ${'size'.padStart(6)}  runs  memory (fp32, while loading)\n${lines.join('\n')}\n`);
  },
};
