export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };

/** A logger that writes to stderr, so stdout stays free for results (perplexities, JSON). */
export function createLogger(level: LogLevel = 'info', sink: (line: string) => void = (l) => process.stderr.write(l + '\n')): Logger {
  const at = ORDER[level];
  const emit = (lvl: LogLevel, tag: string) => (msg: string) => {
    if (ORDER[lvl] >= at) sink(tag ? `${tag} ${msg}` : msg);
  };
  return { debug: emit('debug', '[debug]'), info: emit('info', ''), warn: emit('warn', 'warning:'), error: emit('error', 'error:') };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** Collects every line, for tests. */
export function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const l = createLogger('debug', (s) => lines.push(s));
  return Object.assign(l, { lines });
}
