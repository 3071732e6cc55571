import { describe, it, expect } from 'vitest';
import { accuracy, correctness, rec2ftp } from '../../src/pipeline/metrics/index.ts';

// Truth table (1 = right), 15 examples:
//   zsl icl ft  count
//    0   1   1    3   ZSL wrong, both fix
//    0   1   0    2   only ICL fixes
//    0   0   1    1   only FT fixes
//    0   0   0    4   neither
//    1   1   1    2
//    1   0   1    1
//    1   1   0    1
//    1   0   0    1
const rows: [number, number, number, number][] = [
  [0, 1, 1, 3], [0, 1, 0, 2], [0, 0, 1, 1], [0, 0, 0, 4],
  [1, 1, 1, 2], [1, 0, 1, 1], [1, 1, 0, 1], [1, 0, 0, 1],
];
function expand(table: [number, number, number, number][]) {
  const zsl: number[] = [];
  const icl: number[] = [];
  const ft: number[] = [];
  for (const [z, i, f, n] of table) for (let k = 0; k < n; k++) { zsl.push(z); icl.push(i); ft.push(f); }
  return { zsl, icl, ft };
}

describe('accuracy', () => {
  it('counts correct predictions', () => {
    const c = expand(rows);
    // ZSL right: 2+1+1+1 = 5; ICL right: 3+2+2+1 = 8; FT right: 3+1+2+1 = 7; of 15.
    expect(accuracy(c.zsl)).toEqual({ numerator: 5, denominator: 15, value: 5 / 15 });
    expect(accuracy(c.icl).value).toBeCloseTo(8 / 15, 15);
    expect(accuracy(c.ft).numerator).toBe(7);
  });

  it('correctness compares predictions with gold labels', () => {
    expect(Array.from(correctness([0, 2, 1, 1], [0, 1, 1, 2]))).toEqual([1, 0, 1, 0]);
    expect(() => correctness([0], [0, 1])).toThrow();
  });

  it('empty set: accuracy undefined, not 0', () => {
    expect(accuracy([]).value).toBeUndefined();
  });

  it('counts repeated indices of a resample', () => {
    // examples 0 (right) twice and 1 (wrong) once: 2/3
    expect(accuracy([1, 0], [0, 0, 1])).toEqual({ numerator: 2, denominator: 3, value: 2 / 3 });
  });
});

describe('rec2ftp', () => {
  it('matches the hand-counted truth table', () => {
    const r = rec2ftp(expand(rows));
    // ZSL wrong: 3+2+1+4 = 10. FT fixes: 3+1 = 4. ICL fixes: 3+2 = 5. Both fix: 3.
    expect(r.rec2ftp).toEqual({ numerator: 3, denominator: 4, value: 0.75 }); // P(ICL right | ZSL wrong, FT right)
    expect(r.chance).toEqual({ numerator: 5, denominator: 10, value: 0.5 }); // P(ICL right | ZSL wrong)
    expect(r.reverse).toEqual({ numerator: 3, denominator: 5, value: 0.6 }); // P(FT right | ZSL wrong, ICL right)
    expect(r.reverseChance).toEqual({ numerator: 4, denominator: 10, value: 0.4 }); // P(FT right | ZSL wrong)
  });

  it('empty denominators are undefined, never 0 or 1', () => {
    // ZSL always right: every conditional is on an empty set.
    const allRight = rec2ftp({ zsl: [1, 1], icl: [0, 1], ft: [1, 0] });
    for (const v of Object.values(allRight)) {
      expect(v.denominator).toBe(0);
      expect(v.value).toBeUndefined();
    }
    // ZSL wrong twice, FT never fixes, ICL fixes once: Rec2FTP undefined, chance 1/2, reverse 0/1 = 0 (defined).
    const r = rec2ftp({ zsl: [0, 0, 1], icl: [1, 0, 1], ft: [0, 0, 1] });
    expect(r.rec2ftp.value).toBeUndefined();
    expect(r.chance.value).toBe(0.5);
    expect(r.reverse).toEqual({ numerator: 0, denominator: 1, value: 0 });
  });

  it('uses resample indices with repeats', () => {
    // Example 0 = (0,1,1), example 1 = (0,0,1). Indices [0,0,1]: FT fixes 3, both 2 -> 2/3.
    const r = rec2ftp({ zsl: [0, 0], icl: [1, 0], ft: [1, 1] }, [0, 0, 1]);
    expect(r.rec2ftp).toEqual({ numerator: 2, denominator: 3, value: 2 / 3 });
  });

  it('refuses settings of different lengths', () => {
    expect(() => rec2ftp({ zsl: [0, 1], icl: [1], ft: [1, 1] })).toThrow(/example count/);
  });
});
