import { describe, it, expect } from 'vitest';
import {
  METRICS_SCHEMA_VERSION, MetricsSchemaError, formatPath, jsonNumber, makeMetricsFixture, metricsRecordSchema, parseMetricsRecord,
  type MetricsRecord,
} from '../../src/pipeline/metrics/index.ts';

/** A JSON round trip: what the site will actually read. */
function viaJson(r: MetricsRecord): Record<string, any> {
  return JSON.parse(JSON.stringify(r));
}

function errorOf(data: unknown): MetricsSchemaError {
  try {
    parseMetricsRecord(data);
  } catch (e) {
    if (e instanceof MetricsSchemaError) return e;
    throw e;
  }
  throw new Error('expected a MetricsSchemaError');
}

describe('metrics JSON schema and fixture', () => {
  const fixture = makeMetricsFixture(1);

  it('the fixture validates after a JSON round trip', () => {
    const parsed = parseMetricsRecord(viaJson(fixture));
    expect(parsed.schemaVersion).toBe(METRICS_SCHEMA_VERSION);
    expect(parsed).toEqual(fixture);
  });

  it('the fixture has the expected shape and plausible values', () => {
    expect(fixture.numLayers).toBe(4);
    expect(fixture.relativeDepth).toEqual([0.25, 0.5, 0.75, 1]);
    expect(fixture.k).toBe(4);
    expect(fixture.metrics.simaou_norm.perLayer).toHaveLength(4);
    expect(fixture.metrics.simam_delta.perHead).toHaveLength(4);
    expect(fixture.metrics.simaou_norm.baselines.uniform).not.toBeNull();
    expect(fixture.metrics.simaou_norm.baselines.untrained).not.toBeNull();
    expect(fixture.metrics.simaou_norm.baselines['trained-embeddings']).toBeNull();
    expect(fixture.metrics.simam_before.baselines.uniform).toBeNull();
    // ICL and FT share an update in the fixture, the untrained null model does not.
    expect(fixture.metrics.simaou_raw.mean.estimate!).toBeGreaterThan(0.2);
    expect(fixture.comparisons[0].diff.lo!).toBeGreaterThan(0);
    const m = fixture.metrics.kendall.mean;
    expect(m.lo!).toBeLessThanOrEqual(m.estimate!);
    expect(m.hi!).toBeGreaterThanOrEqual(m.estimate!);
  });

  it('the fixture is deterministic from its seed', () => {
    expect(makeMetricsFixture(1)).toEqual(fixture);
    expect(makeMetricsFixture(2)).not.toEqual(fixture);
    expect(makeMetricsFixture(2).id.seed).toBe(2);
  });

  it('other fixture sizes validate too', () => {
    const big = makeMetricsFixture(5, { numLayers: 7, numHeads: 3, numTestExamples: 10, demoLengths: [2, 2], resamples: 50 });
    expect(() => parseMetricsRecord(viaJson(big))).not.toThrow();
    expect(big.metrics.simam_after.perHead![6]).toHaveLength(3);
  });

  it('a wrong type names the path of the bad field', () => {
    const bad = viaJson(fixture);
    bad.metrics.simaou_norm.perLayer[2] = 'high';
    const e = errorOf(bad);
    expect(e.message).toContain('metrics.simaou_norm.perLayer[2]');
    expect(e.message).toMatch(/expected number/);
    expect(e.issues).toHaveLength(1);
  });

  it('a per-layer array of the wrong length is refused with its path', () => {
    const bad = viaJson(fixture);
    bad.metrics.kendall.baselines.uniform.perLayer.pop();
    expect(errorOf(bad).message).toContain('metrics.kendall.baselines.uniform.perLayer: expected 4 entries, got 3');
  });

  it('an empty denominator must be null, never 0', () => {
    const bad = viaJson(fixture);
    bad.rec2ftp.rec2ftp.numerator = 0;
    bad.rec2ftp.rec2ftp.denominator = 0;
    bad.rec2ftp.rec2ftp.value = 0;
    expect(errorOf(bad).message).toContain('rec2ftp.rec2ftp.value: value must be null exactly when the denominator is 0');
    bad.rec2ftp.rec2ftp.value = null;
    expect(() => parseMetricsRecord(bad)).not.toThrow();
  });

  it('missing fields, unknown fields, bad enums and NaN-as-null are caught', () => {
    const missing = viaJson(fixture);
    delete missing.accuracy.icl;
    expect(errorOf(missing).message).toContain('accuracy.icl');

    const extra = viaJson(fixture);
    extra.metrics.simaou_norm.typo = 1;
    expect(errorOf(extra).message).toContain('metrics.simaou_norm');

    const pos = viaJson(fixture);
    pos.id.position = 'last';
    expect(errorOf(pos).message).toContain('id.position');

    const lohi = viaJson(fixture);
    lohi.metrics.simam_after.mean.lo = 2;
    lohi.metrics.simam_after.mean.hi = 1;
    expect(errorOf(lohi).message).toContain('metrics.simam_after.mean.lo');

    const slot = viaJson(fixture);
    slot.metrics.simaou_raw.baselines['trained-embeddings'] = { perLayer: [1], mean: 3 };
    expect(errorOf(slot).message).toContain('metrics.simaou_raw.baselines["trained-embeddings"].mean');
  });

  it('another schema version is refused up front with a clear message', () => {
    const old = viaJson(fixture);
    old.schemaVersion = 0;
    const e = errorOf(old);
    expect(e.message).toContain('unsupported schema version 0');
    expect(e.issues).toHaveLength(1);
    expect(errorOf({}).message).toContain('schemaVersion');
    expect(metricsRecordSchema.safeParse(null).success).toBe(false);
  });
});

describe('JSON helpers', () => {
  it('formatPath and jsonNumber', () => {
    expect(formatPath(['a', 'b', 3, 'trained-embeddings'])).toBe('a.b[3]["trained-embeddings"]');
    expect(formatPath([])).toBe('(root)');
    expect(jsonNumber(undefined)).toBeNull();
    expect(jsonNumber(NaN)).toBeNull();
    expect(jsonNumber(0)).toBe(0);
  });
});
