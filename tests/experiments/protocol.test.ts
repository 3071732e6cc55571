import { describe, it, expect, beforeAll } from 'vitest';
import { gpt2Family } from '../../src/pipeline/models/gpt2.ts';
import { captureName } from '../../src/pipeline/models/family.ts';
import { ModelSession } from '../../src/pipeline/models/forward.ts';
import { loadSyntheticTask, shippedWorld, worldTokenizer } from '../../src/pipeline/tasks/synthetic-provider.ts';
import { selectionExamples } from '../../src/pipeline/tasks/splits.ts';
import { runProtocol, type ProtocolModel, type ProtocolResult } from '../../src/pipeline/experiments/protocol.ts';
import { examplesFile, metricsRecord, similarities } from '../../src/pipeline/experiments/record.ts';
import { relativeError } from '../reference/gpt2-reference.ts';

function tinyWorldModel(seed: number): ProtocolModel {
  const world = shippedWorld();
  const eos = world.tokenizerJson.added_tokens[0].id;
  const config = gpt2Family.parseConfig({
    model_type: 'gpt2', vocab_size: eos + 1, n_positions: 256, n_embd: 16, n_layer: 2, n_head: 2, bos_token_id: eos, eos_token_id: eos,
  }, 'tiny');
  const tokenizer = worldTokenizer(world);
  // Larger-than-default weights so that attention is not uniform and FT moves predictions.
  const params = gpt2Family.initParams({ ...config, initializerRange: 0.3 } as typeof config, seed);
  return { id: 'tiny', family: gpt2Family, config, params, tokenizer };
}

describe('the protocol on one (model, task, seed)', () => {
  const model = tinyWorldModel(3);
  const task = loadSyntheticTask('synthetic-sentiment2');
  let result: ProtocolResult;

  beforeAll(async () => {
    result = await runProtocol(model, task, {
      seed: 1, k: 6, positions: ['label_token', 'prompt_end'], tests: task.eval.slice(0, 12),
      selection: selectionExamples(task.train, { demoSeeds: [1], k: 6, n: 8 }), lrGrid: [0.003, 0.03], runner: { threads: 1 },
    });
  }, 60_000);

  it('uses the seed\'s demonstrations in order, never a test input, and picks the learning rate on the selection split', () => {
    expect(result.demos.length).toBe(6);
    const testTexts = new Set(result.tests.map((e) => e.fields.sentence));
    for (const d of result.demos) expect(testTexts.has(d.input.replace(/^Sentence: | Label:$/g, ''))).toBe(false);
    expect(result.lrSelection.map((s) => s.lr)).toEqual([0.003, 0.03]);
    const best = Math.max(...result.lrSelection.map((s) => s.accuracy ?? -1));
    expect(result.lrSelection.find((s) => s.lr === result.lr)?.accuracy).toBe(best);
    expect(result.ftLosses.length).toBe(6);
  });

  it('records one FT training query per demonstration token and layer', () => {
    const N = result.demoLengths.reduce((a, b) => a + b, 0);
    expect(result.trainQueries.map((l) => l.length)).toEqual([N, N]);
  });

  it('captures at p* equal a plain full-sequence forward (prefix bookkeeping is right)', async () => {
    const policy = gpt2Family.tokenPolicy(model.config);
    const session = await ModelSession.create(model, { logits: 'all', captures: ['attn.out', 'attn.scores'] }, { threads: 1 });
    const e = 3;
    const label0 = model.tokenizer.encode(' Negative')[0];
    const query = model.tokenizer.encode(`Sentence: ${result.tests[e].fields.sentence} Label:`);
    // ICL: the whole prompt in one piece.
    const prefix: number[] = [policy.bosTokenId!];
    for (const d of result.demos) prefix.push(...model.tokenizer.encode(d.input), ...model.tokenizer.encode(` ${d.label}`), ...model.tokenizer.encode('\n'));
    const full = [...prefix, ...query, label0];
    const { outputs } = await session.forward({ sequences: [full] });
    const p = full.length - 1; // label_token
    const d = 16;
    const out = (outputs[captureName(1, 'attn.out')].data as Float32Array).slice(p * d, (p + 1) * d);
    expect(relativeError(result.icl.captures[e].label_token.attnOut[1], out)).toBeLessThan(1e-5);
    const S = full.length;
    const head1 = (outputs[captureName(0, 'attn.scores')].data as Float32Array).slice((1 * S + p) * S + prefix.length, (1 * S + p) * S + p + 1);
    expect(relativeError(result.icl.captures[e].label_token.queryScores[0][1], head1)).toBeLessThan(1e-5);
    // ZSL: BOS + query; the query-example scores have the same length as ICL's.
    expect(result.zsl.captures[e].label_token.queryScores[0][0].length).toBe(head1.length);
    expect(result.zsl.captures[e].prompt_end.queryScores[0][0].length).toBe(head1.length - 1);
    // ICL prediction = argmax of the label logits at the prompt end.
    const V = outputs.logits.shape[2];
    const row = (outputs.logits.data as Float32Array).subarray((p - 1) * V, p * V);
    const ids = ['Negative', 'Positive'].map((w) => model.tokenizer.encode(` ${w}`)[0]);
    expect(result.icl.predictions[e]).toBe(row[ids[1]] > row[ids[0]] ? 1 : 0);
    await session.release();
  });

  it('turns into a valid metrics record and examples file', () => {
    const sims = similarities(result, 'label_token', 10, 1);
    expect(sims.values.kendall[0].length).toBe(10);
    const inputs = { modelId: 'tiny', taskId: task.spec.id, seed: 1, position: 'label_token' as const, result, sims, nulls: {}, numHeads: 2, resamples: 50 };
    const record = metricsRecord(inputs);
    expect(record.numTestExamples).toBe(12);
    expect(record.k).toBe(6);
    expect(record.id.learningRate).toBe(result.lr);
    expect(record.accuracy.icl.denominator).toBe(12);
    const file = examplesFile({ ...inputs, task, tokenizer: model.tokenizer, tokenPolicy: 'GPT-2', selectionSplit: 'train minus demos' });
    expect(file.perExample.ids.length).toBe(12);
    expect(file.perExample.values.kendall?.filter((v) => v !== null).length).toBeLessThanOrEqual(10);
    expect(file.examples[0].topDemoTokens.length).toBe(8);
  });
});

describe('with a zero learning rate FT changes nothing', () => {
  it('gives FT predictions and captures equal to ZSL', async () => {
    const model = tinyWorldModel(4);
    const task = loadSyntheticTask('synthetic-topic4');
    const r = await runProtocol(model, task, {
      seed: 2, k: 3, positions: ['label_token'], tests: task.eval.slice(0, 5), selection: [], lrGrid: [1], fixedLr: 0, runner: { threads: 1 },
    });
    expect(r.ft.predictions).toEqual(r.zsl.predictions);
    expect(Array.from(r.ft.captures[2].label_token.attnOut[1])).toEqual(Array.from(r.zsl.captures[2].label_token.attnOut[1]));
  }, 60_000);
});
