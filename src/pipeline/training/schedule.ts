// Learning-rate schedule: linear warmup, then cosine decay to a floor.

export interface ScheduleSettings {
  peakLr: number;
  warmupSteps: number;
  totalSteps: number;
  /** Final learning rate as a fraction of the peak. */
  minLrRatio: number;
}

/** Learning rate for 0-based `step`. */
export function learningRate(step: number, s: ScheduleSettings): number {
  if (step < s.warmupSteps) return (s.peakLr * (step + 1)) / s.warmupSteps;
  const span = Math.max(1, s.totalSteps - s.warmupSteps);
  const progress = Math.min(1, (step - s.warmupSteps) / span);
  const floor = s.peakLr * s.minLrRatio;
  return floor + 0.5 * (s.peakLr - floor) * (1 + Math.cos(Math.PI * progress));
}
