// Progress of a long command: redrawn in place on a terminal, and in a log (no terminal) one line per interval,
// so a log shows how the run went without a line per step.

export function progressWriter(
  write: (text: string) => void,
  interactive: boolean,
  intervalMs = 30_000,
  now: () => number = Date.now,
): (text: string) => void {
  let lastLine = -Infinity;
  return (text) => {
    if (interactive) return write(`\r\x1b[K${text}`);
    const t = now();
    if (t - lastLine < intervalMs) return;
    write(`${text}\n`);
    lastLine = t;
  };
}
