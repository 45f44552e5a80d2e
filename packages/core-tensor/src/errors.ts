import type { ErrorCode } from './error-codes.js';

/**
 * The one error type the toolkit throws for bad input. `subject` names the file, tensor,
 * flag or layer at fault so that a user can act on the message alone.
 */
export class AutoRoundError extends Error {
  readonly code: ErrorCode;
  readonly subject: string | undefined;

  constructor(code: ErrorCode, message: string, options?: { subject?: string; cause?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'AutoRoundError';
    this.code = code;
    this.subject = options?.subject;
  }
}

/** By shape, not instanceof: a plugin may bring its own copy of this package. */
export function isAutoRoundError(e: unknown): e is AutoRoundError {
  return e instanceof Error && e.name === 'AutoRoundError' && typeof (e as { code?: unknown }).code === 'string';
}

/** Plain words for the operating-system error codes a user can act on (missing files, full disks, permissions). */
const SYSTEM_ERROR_WORDS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or folder',
  EISDIR: 'is a folder, not a file',
  ENOTDIR: 'not a folder (a file is in the way)',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted (read-only, immutable or owned by another user)',
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EFBIG: 'file too large for the file system',
  EMFILE: 'too many open files in this process (raise `ulimit -n`)',
  ENFILE: 'too many open files on this system',
  EEXIST: 'already exists',
  ENOTEMPTY: 'folder is not empty',
  EBUSY: 'busy (in use by another process or a mount point)',
  EXDEV: 'cannot move across file systems',
  EIO: 'input/output error (a failing disk or network file system)',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'name too long',
};

/** The `code`, `path` and `syscall` Node puts on a failed file-system call, when `e` is one. */
export function systemErrorOf(e: unknown): { code: string; path?: string; dest?: string; syscall?: string } | undefined {
  if (!(e instanceof Error)) return undefined;
  const x = e as Error & { code?: unknown; path?: unknown; dest?: unknown; syscall?: unknown; errno?: unknown };
  if (typeof x.code !== 'string' || !/^E[A-Z0-9]+$/.test(x.code) || typeof x.errno !== 'number') return undefined;
  return {
    code: x.code,
    ...(typeof x.path === 'string' ? { path: x.path } : {}),
    ...(typeof x.dest === 'string' ? { dest: x.dest } : {}),
    ...(typeof x.syscall === 'string' ? { syscall: x.syscall } : {}),
  };
}

/**
 * One line for a Node system error about the user's files or machine: `<path>: <plain words> (<CODE> in
 * <syscall>)`; undefined for anything else, including codes that mean a bug of ours (EBADF, EINVAL).
 * `fallbackPath` names the file when the error itself carries none (writeSync on a descriptor).
 */
export function describeSystemError(e: unknown, fallbackPath?: string): string | undefined {
  const s = systemErrorOf(e);
  const words = systemErrorWords(e);
  if (!s || !words) return undefined;
  const path = s.path ?? fallbackPath;
  return path ? `${path}${s.dest ? ` → ${s.dest}` : ''}: ${words}` : words;
}

/** `<plain words> (<CODE> in <syscall>)` for a Node system error about the user's files or machine, without the path. */
export function systemErrorWords(e: unknown): string | undefined {
  const s = systemErrorOf(e);
  const words = s && SYSTEM_ERROR_WORDS[s.code];
  if (!s || !words) return undefined;
  return `${words} (${s.code}${s.syscall ? ` in ${s.syscall}` : ''})`;
}

/**
 * Runs a write of `file`; a failed one (a full disk, a quota, a read-only mount) becomes an AutoRoundError
 * naming the file: a write through a descriptor, writeFileSync's included, fails with no path of its own.
 */
export function writing<T>(file: string, write: () => T): T {
  try {
    return write();
  } catch (e) {
    const why = systemErrorWords(e);
    if (why === undefined) throw e;
    throw new AutoRoundError('E_WRITE', `cannot write ${file}: ${why}`, { subject: file, cause: e });
  }
}
