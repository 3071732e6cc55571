// Symbolic shapes. A dimension is a number when fixed at graph-build time, or a name ("batch", "time") when it
// varies between runs. Tracking shapes while building lets the builder catch wiring mistakes early and lets the
// autodiff know which axes a broadcast added (their gradients must be summed).

export type Dim = number | string;
export type Shape = Dim[];

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** Product of dimensions, symbolic when any is symbolic ("batch*time"). */
export function dimProduct(dims: Dim[]): Dim {
  let fixed = 1;
  const names: string[] = [];
  for (const d of dims) {
    if (typeof d === 'number') fixed *= d;
    else names.push(d);
  }
  if (names.length === 0) return fixed;
  if (fixed === 0) return 0;
  return fixed === 1 ? names.join('*') : `${fixed}*${names.join('*')}`;
}

/** Sum of dimensions, symbolic when any is symbolic ("past+time"). A fixed 0 disappears. */
export function dimSum(dims: Dim[]): Dim {
  let fixed = 0;
  const names: string[] = [];
  for (const d of dims) {
    if (typeof d === 'number') fixed += d;
    else names.push(d);
  }
  if (names.length === 0) return fixed;
  return fixed === 0 ? names.join('+') : `${names.join('+')}+${fixed}`;
}

/** Numpy-style broadcast of two shapes; throws with both shapes when they cannot broadcast. */
export function broadcastShapes(a: Shape, b: Shape, context: string): Shape {
  const rank = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let i = 0; i < rank; i++) {
    const da = i < rank - a.length ? 1 : a[i - (rank - a.length)];
    const db = i < rank - b.length ? 1 : b[i - (rank - b.length)];
    if (da === db) out.push(da);
    else if (da === 1) out.push(db);
    else if (db === 1) out.push(da);
    else throw new Error(`${context}: cannot broadcast ${formatShape(a)} with ${formatShape(b)}`);
  }
  return out;
}

/** Normalise a possibly negative axis for a tensor of the given rank. */
export function normaliseAxis(axis: number, rank: number, context: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`${context}: axis ${axis} out of range for rank ${rank}`);
  return a;
}
