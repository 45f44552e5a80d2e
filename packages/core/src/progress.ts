/**
 * Progress with an ETA. On a TTY it redraws one line; elsewhere it logs at most every
 * `quietEveryMs` (and at the end) so CI logs stay short.
 */
export class Progress {
  private done = 0;
  private readonly start = Date.now();
  private lastLog = 0;
  private readonly tty: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly quietEveryMs = 30_000,
    tty?: boolean,
  ) {
    this.tty = tty ?? (!!stream.isTTY && !process.env.CI);
  }

  tick(n = 1, note = ''): void {
    this.done += n;
    const now = Date.now();
    const finished = this.done >= this.total;
    if (this.tty) {
      this.stream.write(`\r\x1b[K${this.line(note)}${finished ? '\n' : ''}`);
    } else if (finished || now - this.lastLog >= this.quietEveryMs) {
      this.lastLog = now;
      this.stream.write(this.line(note) + '\n');
    }
  }

  line(note = ''): string {
    const el = (Date.now() - this.start) / 1000;
    const rate = this.done / Math.max(el, 1e-9);
    const eta = this.done > 0 ? (this.total - this.done) / rate : NaN;
    const pct = ((100 * this.done) / Math.max(this.total, 1)).toFixed(0);
    return `${this.label} ${this.done}/${this.total} (${pct}%) ${fmt(el)} elapsed, ETA ${Number.isFinite(eta) ? fmt(eta) : '?'}${note ? ' ' + note : ''}`;
  }
}

export function fmt(sec: number): string {
  if (sec < 60) return `${sec.toFixed(1)}s`;
  const m = Math.floor(sec / 60);
  const s = Math.round(sec % 60);
  if (m < 60) return `${m}m${String(s).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
