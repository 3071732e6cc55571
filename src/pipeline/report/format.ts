// How the report and `lab diff` print numbers. One function, so the page, the CLI and the tests agree on every digit.
//   pct1   a rate in [0, 1] as percent, 1 decimal (73.9)         spp1  a difference of rates in percentage points (+2.4)
//   f1/f2  a number already in percent units (the paper's)       f3    a similarity, 3 decimals (0.186)
//   sf3    a signed similarity difference (+0.012)               int   a count
//   num    a setting printed as stored (a learning rate: 0.0005)
// Negative numbers use the minus sign U+2212; null/undefined/NaN print as an em dash.

export const NUM_FORMATS = ['pct1', 'spp1', 'f1', 'f2', 'f3', 'sf3', 'int', 'num'] as const;
export type NumFormat = (typeof NUM_FORMATS)[number];

export const MISSING = '\u2014';
const MINUS = '\u2212';

function fixed(v: number, digits: number, signed: boolean): string {
  let s = v.toFixed(digits);
  // -0.000 is 0.000
  if (/^-0\.?0*$/.test(s)) s = s.slice(1);
  if (s.startsWith('-')) return MINUS + s.slice(1);
  return signed && Number(s) !== 0 ? `+${s}` : s;
}

export function formatNumber(v: number | null | undefined, fmt: NumFormat): string {
  if (v === null || v === undefined || Number.isNaN(v)) return MISSING;
  switch (fmt) {
    case 'pct1': return fixed(v * 100, 1, false);
    case 'spp1': return fixed(v * 100, 1, true);
    case 'f1': return fixed(v, 1, false);
    case 'f2': return fixed(v, 2, false);
    case 'f3': return fixed(v, 3, false);
    case 'sf3': return fixed(v, 3, true);
    case 'int': return String(Math.round(v));
    case 'num': return v < 0 ? MINUS + String(-v) : String(v);
  }
}

/** Value format of a metric key: rates (accuracy, Rec2FTP) print as percent, similarities with 3 decimals. */
export function formatOfMetric(metricKey: string): { value: NumFormat; delta: NumFormat } {
  return metricKey.startsWith('accuracy.') || metricKey.startsWith('rec2ftp.') ? { value: 'pct1', delta: 'spp1' } : { value: 'f3', delta: 'sf3' };
}
