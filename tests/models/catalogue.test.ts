import { describe, it, expect } from 'vitest';
import { CATALOGUE, catalogueRows } from '../../src/pipeline/models/catalogue.ts';
import { DEFAULT_RUN_WORKLOAD, estimateFootprint } from '../../src/pipeline/models/footprint.ts';

describe('model catalogue', () => {
  it('lists each model once, marks what this version runs, and estimates memory and time with footprint.ts', () => {
    expect(new Set(CATALOGUE.map((e) => e.id)).size).toBe(CATALOGUE.length);
    const rows = new Map(catalogueRows(2).map((r) => [r.id, r]));
    expect(rows.get('openai-community/gpt2')?.supported).toBe(true);
    expect(rows.get('EleutherAI/pythia-70m')?.supported).toBe(true);
    expect(rows.get('Qwen/Qwen2.5-0.5B')?.supported).toBe(true);
    expect(rows.get('EleutherAI/gpt-neo-1.3B')?.supported).toBe(true);
    expect(rows.get('KoboldAI/fairseq-dense-1.3B')?.supported).toBe(true); // the xglm family
    // The same estimate `lab run` prints before loading: with the architecture entered, activations and captures count.
    const paper = rows.get('KoboldAI/fairseq-dense-1.3B')!;
    const f = estimateFootprint({ parameters: 1.3e9, arch: paper.arch }, DEFAULT_RUN_WORKLOAD, { device: 'cpu', threads: 2 });
    expect(paper.complete).toBe(true);
    expect(paper.runMemoryCpu).toBe(f.peak.host);
    expect(paper.secondsPerTestExample).toBe(f.time.perItem);
    // Without it, the weights alone: a lower bound, below the complete estimate of a same-size model.
    const qwen = rows.get('Qwen/Qwen2.5-1.5B')!;
    expect(qwen.complete).toBe(false);
    expect(qwen.runMemoryCpu).toBeLessThan(rows.get('openai-community/gpt2-xl')!.runMemoryCpu);
    expect(qwen.runMemoryGpu.device).toBeGreaterThan(0);
  });
});
