// The paper's published numbers (Dai et al. 2023, arXiv 2212.10559 v3, Tables 1-5), as data. These are the paper's
// results, quoted for reference; the report labels them so and never mixes them into this project's numbers.
// Accuracy and Rec2FTP are percentages as printed; SimAOU, SimAM and Kendall are the printed values.

export const PAPER_TASKS = ['sst2', 'sst5', 'mr', 'subj', 'agnews', 'cb'] as const;
export type PaperTask = (typeof PAPER_TASKS)[number];
export const PAPER_MODELS = ['1.3B', '2.7B'] as const;
export type PaperModel = (typeof PAPER_MODELS)[number];

export const PAPER_TASK_NAMES: Record<PaperTask, string> = { sst2: 'SST2', sst5: 'SST5', mr: 'MR', subj: 'Subj', agnews: 'AGNews', cb: 'CB' };

type Row = Record<PaperTask, number>;

export interface PaperTables {
  source: string;
  note: string;
  /** Table 1: eval-set sizes, label types, accuracy (%). */
  table1: {
    numExamples: Row;
    numLabels: Row;
    accuracy: Record<PaperModel, { zsl: Row; ft: Row; icl: Row }>;
  };
  /** Table 2: Rec2FTP (%). */
  table2: Record<PaperModel, Row & { avg: number }>;
  /** Table 3: SimAOU, normalised (the paper's definition). */
  table3: Record<PaperModel, { randomDelta: Row & { avg: number }; deltaFt: Row & { avg: number } }>;
  /** Table 4: SimAM before / after finetuning. */
  table4: Record<PaperModel, { before: Row & { avg: number }; after: Row & { avg: number } }>;
  /** Table 5: Kendall rank correlation. */
  table5: Record<PaperModel, { random: Row & { avg: number }; ft: Row & { avg: number } }>;
}

const row = (v: number[]): Row => ({ sst2: v[0], sst5: v[1], mr: v[2], subj: v[3], agnews: v[4], cb: v[5] });
const rowAvg = (v: number[]): Row & { avg: number } => ({ ...row(v), avg: v[6] });

export const PAPER_TABLES: PaperTables = {
  source: 'Dai et al. (2023), arXiv 2212.10559 v3, Tables 1-5',
  note: 'Published numbers of the paper (fairseq dense GPT 1.3B and 2.7B), quoted for reference; not computed by this project.',
  table1: {
    numExamples: row([872, 1101, 1066, 2000, 7600, 56]),
    numLabels: row([2, 5, 2, 2, 4, 3]),
    accuracy: {
      '1.3B': { zsl: row([70.5, 39.3, 65.9, 72.6, 46.3, 37.5]), ft: row([73.9, 39.5, 73.0, 77.8, 65.3, 55.4]), icl: row([92.7, 45.0, 89.0, 90.0, 79.2, 57.1]) },
      '2.7B': { zsl: row([71.4, 35.9, 60.9, 75.2, 39.8, 42.9]), ft: row([76.9, 39.1, 80.0, 86.1, 65.7, 57.1]), icl: row([95.0, 46.5, 91.3, 90.3, 80.3, 55.4]) },
    },
  },
  table2: {
    '1.3B': rowAvg([91.84, 66.67, 97.08, 87.17, 83.08, 87.5, 85.56]),
    '2.7B': rowAvg([96.83, 71.6, 95.83, 87.63, 84.44, 100.0, 89.39]),
  },
  table3: {
    '1.3B': { randomDelta: rowAvg([0.002, 0.003, 0.001, 0.002, 0.002, 0.003, 0.002]), deltaFt: rowAvg([0.11, 0.08, 0.222, 0.191, 0.281, 0.234, 0.186]) },
    '2.7B': { randomDelta: rowAvg([0.0, -0.002, 0.0, 0.001, -0.002, 0.0, -0.001]), deltaFt: rowAvg([0.195, 0.323, 0.157, 0.212, 0.333, 0.13, 0.225]) },
  },
  table4: {
    '1.3B': { before: rowAvg([0.555, 0.391, 0.398, 0.378, 0.152, 0.152, 0.338]), after: rowAvg([0.585, 0.404, 0.498, 0.49, 0.496, 0.177, 0.442]) },
    '2.7B': { before: rowAvg([0.687, 0.38, 0.314, 0.346, 0.172, 0.228, 0.355]), after: rowAvg([0.687, 0.492, 0.347, 0.374, 0.485, 0.217, 0.434]) },
  },
  table5: {
    '1.3B': { random: rowAvg([0.0, -0.001, 0.0, 0.001, -0.001, 0.0, 0.0]), ft: rowAvg([0.192, 0.151, 0.173, 0.181, 0.19, 0.274, 0.193]) },
    '2.7B': { random: rowAvg([-0.001, 0.0, 0.0, 0.0, 0.0, -0.001, 0.0]), ft: rowAvg([0.213, 0.177, 0.264, 0.203, 0.201, 0.225, 0.214]) },
  },
};

const ALIASES: Record<string, PaperTask> = {
  sst2: 'sst2', gluesst2: 'sst2', sst5: 'sst5', setfitsst5: 'sst5', mr: 'mr', rottentomatoes: 'mr',
  subj: 'subj', setfitsubj: 'subj', agnews: 'agnews', cb: 'cb', supergluecb: 'cb',
};

/** The paper task a task id denotes (same dataset), or undefined: 'SST-2', 'sst2', 'glue/sst2' -> 'sst2'. */
export function paperTaskOf(taskId: string): PaperTask | undefined {
  return ALIASES[taskId.toLowerCase().replace(/[^a-z0-9]/g, '')];
}
