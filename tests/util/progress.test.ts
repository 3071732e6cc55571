import { describe, it, expect } from 'vitest';
import { progressWriter } from '../../src/pipeline/util/progress.ts';

describe('progress lines', () => {
  it('a log gets the first line, then one per interval; a terminal redraws every update in place', () => {
    let clock = 0;
    const log: string[] = [];
    const toLog = progressWriter((t) => log.push(t), false, 30_000, () => clock);
    for (const [t, text] of [[0, 'a'], [10_000, 'b'], [29_999, 'c'], [30_000, 'd'], [45_000, 'e'], [61_000, 'f']] as const) {
      clock = t;
      toLog(text);
    }
    expect(log).toEqual(['a\n', 'd\n', 'f\n']);
    const terminal: string[] = [];
    const toTerminal = progressWriter((t) => terminal.push(t), true, 30_000, () => 0);
    toTerminal('x');
    toTerminal('y');
    expect(terminal).toEqual(['\r\x1b[Kx', '\r\x1b[Ky']);
  });
});
