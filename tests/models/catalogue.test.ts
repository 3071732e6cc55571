import { describe, it, expect } from 'vitest';
import { CATALOGUE, catalogueRows, memoryEstimateBytes } from '../../src/pipeline/models/catalogue.ts';

describe('model catalogue', () => {
  it('lists each model once, marks what this version runs, and estimates memory from the size', () => {
    expect(new Set(CATALOGUE.map((e) => e.id)).size).toBe(CATALOGUE.length);
    const rows = new Map(catalogueRows().map((r) => [r.id, r]));
    expect(rows.get('openai-community/gpt2')?.supported).toBe(true);
    expect(rows.get('EleutherAI/pythia-70m')?.supported).toBe(true);
    expect(rows.get('Qwen/Qwen2.5-0.5B')?.supported).toBe(true);
    expect(rows.get('EleutherAI/gpt-neo-1.3B')?.supported).toBe(true);
    expect(rows.get('KoboldAI/fairseq-dense-1.3B')?.supported).toBe(true); // the xglm family
    expect(memoryEstimateBytes(1e9)).toBe(8e9);
    expect(rows.get('openai-community/gpt2')?.memoryGiB).toBeCloseTo((124e6 * 8) / 2 ** 30, 6);
  });
});
