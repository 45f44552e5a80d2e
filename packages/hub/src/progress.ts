/** A byte counter drawn on one redrawn line when stderr is a terminal; silent otherwise. */
export class ByteProgress {
  private done = 0;
  private last = 0;
  private readonly start = Date.now();

  constructor(
    private readonly label: string,
    private readonly total: number | undefined,
    private readonly enabled: boolean,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  static shouldShow(explicit: boolean | undefined, disabledByEnv: boolean, stream: NodeJS.WriteStream = process.stderr): boolean {
    if (explicit !== undefined) return explicit;
    return !disabledByEnv && !!stream.isTTY && !process.env.CI;
  }

  set(done: number): void {
    this.done = done;
    this.draw(false);
  }

  add(n: number): void {
    this.done += n;
    this.draw(false);
  }

  finish(): void {
    this.draw(true);
  }

  private draw(final: boolean): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (!final && now - this.last < 100) return;
    this.last = now;
    const el = Math.max((now - this.start) / 1000, 1e-3);
    const pct = this.total ? ` ${((100 * this.done) / this.total).toFixed(0).padStart(3)}%` : '';
    const of = this.total !== undefined ? `/${mb(this.total)}` : '';
    this.stream.write(`\r\x1b[K${this.label}${pct} ${mb(this.done)}${of} ${mb(this.done / el)}/s${final ? '\n' : ''}`);
  }
}

export function mb(bytes: number): string {
  if (bytes < 1024) return `${bytes.toFixed(0)} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} kB`;
  if (bytes < 1024 ** 3) return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}
