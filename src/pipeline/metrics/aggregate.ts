// Aggregation over the (layer, example) grid that every similarity metric produces, and the relative-depth axis that
// lets models of different depth be overlaid.

/**
 * Per-example metric values, indexed [layer][example]. NaN marks a value that is undefined for that example (e.g.
 * Kendall tau of a constant vector); every helper here skips NaN, and scalar results are `undefined`, never NaN,
 * when nothing is defined.
 */
export type LayerExampleMatrix = Float64Array[];

export function newMatrix(numLayers: number, numExamples: number): LayerExampleMatrix {
  return Array.from({ length: numLayers }, () => new Float64Array(numExamples));
}

/** Mean of the non-NaN entries; undefined if there are none. */
export function meanDefined(values: ArrayLike<number>): number | undefined {
  let s = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isNaN(v)) {
      s += v;
      n++;
    }
  }
  return n === 0 ? undefined : s / n;
}

/** Per-layer mean over examples (the paper's first averaging step). */
export function layerMeans(m: LayerExampleMatrix): (number | undefined)[] {
  return m.map((row) => meanDefined(row));
}

/**
 * Per-example mean over layers: the unit the bootstrap resamples for a layer-averaged value. Equals the paper's
 * order (examples, then layers) when no entry is NaN. NaN where an example has no defined layer.
 */
export function exampleMeans(m: LayerExampleMatrix): Float64Array {
  const numExamples = m.length === 0 ? 0 : m[0].length;
  const out = new Float64Array(numExamples);
  for (let e = 0; e < numExamples; e++) {
    let s = 0;
    let n = 0;
    for (const row of m) {
      if (row.length !== numExamples) throw new Error('exampleMeans: ragged matrix');
      if (!Number.isNaN(row[e])) {
        s += row[e];
        n++;
      }
    }
    out[e] = n === 0 ? NaN : s / n;
  }
  return out;
}

/** The paper's reported number: mean over examples per layer, then mean over layers. */
export function layerAverage(m: LayerExampleMatrix): number | undefined {
  const perLayer = layerMeans(m).map((v) => (v === undefined ? NaN : v));
  return meanDefined(perLayer);
}

/**
 * Per-head mean over examples, from per-example values indexed [example][layer][head]. Returns [layer][head]
 * (NaN where no example is defined).
 */
export function headMeans(values: readonly (readonly ArrayLike<number>[])[]): Float64Array[] {
  if (values.length === 0) return [];
  const numLayers = values[0].length;
  return Array.from({ length: numLayers }, (_, l) => {
    const numHeads = values[0][l].length;
    const out = new Float64Array(numHeads);
    for (let h = 0; h < numHeads; h++) {
      const col = new Float64Array(values.length);
      for (let e = 0; e < values.length; e++) col[e] = values[e][l][h];
      out[h] = meanDefined(col) ?? NaN;
    }
    return out;
  });
}

/**
 * Relative depth of each layer, (l + 1) / L for 0-based layer l: 1/L for the first layer, 1 for the last, so the
 * last layers of a 12-layer and a 32-layer model line up at 1.
 */
export function relativeDepth(numLayers: number): Float64Array {
  if (!(numLayers > 0) || !Number.isInteger(numLayers)) throw new Error(`relativeDepth: bad layer count ${numLayers}`);
  const out = new Float64Array(numLayers);
  for (let l = 0; l < numLayers; l++) out[l] = (l + 1) / numLayers;
  return out;
}

/**
 * A per-layer curve read at arbitrary relative depths by linear interpolation (clamped to the first/last layer), so
 * two models of different depth can be compared point by point or diffed on one grid. Undefined/NaN layers are not
 * allowed here: interpolate only defined curves.
 */
export function atRelativeDepth(perLayer: ArrayLike<number>, depths: ArrayLike<number>): Float64Array {
  const L = perLayer.length;
  if (L === 0) throw new Error('atRelativeDepth: empty curve');
  const out = new Float64Array(depths.length);
  for (let i = 0; i < depths.length; i++) {
    // Layer l sits at (l + 1) / L, so the fractional layer index is depth * L - 1.
    const x = Math.min(L - 1, Math.max(0, depths[i] * L - 1));
    const lo = Math.floor(x);
    const hi = Math.min(L - 1, lo + 1);
    const t = x - lo;
    out[i] = perLayer[lo] * (1 - t) + perLayer[hi] * t;
  }
  return out;
}
