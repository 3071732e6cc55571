// Reverse-mode autodiff over the graph builder's tape: the recorded nodes are walked backwards from a scalar, each
// op's derivative rule (ops.ts) emits its gradient nodes as ordinary ONNX into the same graph, and gradients of a
// value with several consumers are summed. Only nodes on a path from `wrt` to the loss are differentiated, and
// emitted nodes the requested gradients do not need are dropped again.

import { OPS } from './ops.ts';
import type { Graph, Value } from './graph.ts';
import { formatShape } from './shape.ts';
import { floatTensor } from './tensor.ts';

const isFloat = (v: Value): boolean => v.dtype === 'float32' || v.dtype === 'float64';
const staticShape = (v: Value): v is Value & { shape: number[] } => v.shape.every((d) => typeof d === 'number');

/** Emit d loss / d w for every w in `wrt` into `g`; returns the gradient value by w's name (same shape as w). */
export function addGradients(g: Graph, loss: Value, wrt: Value[]): Map<string, Value> {
  if (!isFloat(loss) || loss.shape.some((d) => d !== 1)) {
    throw new Error(`addGradients: the loss must be a float scalar, got ${loss.dtype} ${formatShape(loss.shape)}`);
  }
  const start = g.nodes.length;
  const tape = g.nodes.slice();

  // Forward: the float values that depend on some w.
  const depends = new Set(wrt.map((w) => w.name));
  for (const node of tape) {
    if (node.inputs.some((v) => depends.has(v.name))) for (const o of node.outputs) if (isFloat(o)) depends.add(o.name);
  }

  // Backward: gradient contributions per value, summed once all of its consumers are done.
  const parts = new Map<string, Value[]>();
  const totals = new Map<string, Value>();
  const total = (v: Value): Value | undefined => {
    const hit = totals.get(v.name);
    if (hit) return hit;
    const list = parts.get(v.name);
    if (!list) return undefined;
    const sum = list.reduce((acc, p) => g.add(acc, p));
    totals.set(v.name, sum);
    return sum;
  };
  if (depends.has(loss.name)) {
    parts.set(loss.name, [g.initializer(g.freshName('grad_seed'), floatTensor(loss.dtype as 'float32', [1], loss.shape as number[]))]);
  }
  g.scope('grad', () => {
    for (let i = tape.length - 1; i >= 0; i--) {
      const node = tape[i];
      if (!node.outputs.some((o) => parts.has(o.name))) continue;
      if (!node.inputs.some((v) => depends.has(v.name))) continue;
      const rule = OPS[node.op].vjp;
      if (!rule) throw new Error(`addGradients: op ${node.op} has no derivative rule (node output ${node.outputs[0].name})`);
      const inputGrads = rule(g, node, node.outputs.map(total));
      node.inputs.forEach((input, j) => {
        const grad = inputGrads[j];
        if (!grad || !depends.has(input.name)) return;
        if (grad.dtype !== input.dtype || formatShape(grad.shape) !== formatShape(input.shape)) {
          throw new Error(
            `addGradients: the ${node.op} rule gave ${input.name} a gradient of ${grad.dtype} ${formatShape(grad.shape)}, ` +
              `expected ${input.dtype} ${formatShape(input.shape)}`,
          );
        }
        parts.set(input.name, [...(parts.get(input.name) ?? []), grad]);
      });
    }
  });

  // Parameters the loss does not depend on get zeros.
  const grads = new Map<string, Value>();
  for (const w of wrt) {
    grads.set(w.name, g.scope('grad', () => total(w) ?? g.constantOfShape(staticShape(w) ? g.constantInt(w.shape) : g.shape(w), w.dtype, 0)));
  }
  g.pruneSince(start, [...grads.values()]);
  return grads;
}
