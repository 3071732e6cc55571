// Sinusoidal initial values for learned position embeddings. The dot product of two sinusoidal position vectors
// depends only on their distance, so attention to "the last few tokens" (how a label finds the words of its own
// sentence) is there from the first step instead of having to be learned from random vectors first. The vectors stay
// trainable parameters of a GPT-2 model; only their starting point changes. (Tried here: no earlier emergence.)

import { float32, type HostTensor } from '../engine/tensor.ts';

/** [positions, dModel] sinusoids (sin on even, cos on odd dimensions), scaled to root-mean-square `rms`. */
export function sinusoidalPositions(positions: number, dModel: number, rms: number): HostTensor {
  const data = new Float32Array(positions * dModel);
  const amplitude = rms * Math.SQRT2; // a sinusoid's RMS is amplitude / sqrt(2)
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < dModel; i += 2) {
      const angle = p / 10000 ** (i / dModel);
      data[p * dModel + i] = amplitude * Math.sin(angle);
      if (i + 1 < dModel) data[p * dModel + i + 1] = amplitude * Math.cos(angle);
    }
  }
  return float32(data, [positions, dModel]);
}
