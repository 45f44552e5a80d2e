import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { AutoRoundError, systemErrorWords } from '@autoround/core-tensor';
import type { Logger } from './log.js';

/**
 * Output folders are the one place this toolkit deletes anything, so every rule about what may be
 * replaced lives here (docs/output-folders.md):
 * - the output is built in a hidden staging sibling and renamed into place only when complete;
 * - an existing folder is replaced only with `overwrite`, only if it looks like an earlier output of
 *   this toolkit (or `force` is given too), never if it is `/`, the home folder, the working folder,
 *   one of their ancestors, or a folder holding one of the run's inputs;
 * - the old folder is renamed aside before the new one is renamed in and put back on any failure;
 * - at the end nothing is replaced that is not exactly what was checked at the start.
 */
export interface OutputOptions {
  /** Replace a non-empty output folder (one that looks like an earlier output of this toolkit). */
  overwrite?: boolean;
  /** With `overwrite`: replace a non-empty folder even when it does not look like an earlier output. */
  force?: boolean;
  /** The run's inputs (model folder, calibration and evaluation files): no replaced folder may hold one. */
  protect?: readonly string[];
  /** Where stale staging folders and leftovers are reported. */
  log?: Pick<Logger, 'info' | 'warn'>;
}

/** The hidden siblings of an output folder: `.NAME.partial-PID-STAMP` (staging), `.NAME.old-PID-STAMP` (set aside). */
const SIBLING = /^\.(.*)\.(partial|old)-(\d+)-([0-9a-z]+)$/;

function stamp(): string {
  return Date.now().toString(36);
}

function isInside(child: string, parent: string): boolean {
  const r = relative(parent, child);
  return r === '' || (!r.startsWith('..') && !r.startsWith(sep) && r !== '..');
}

function realOrResolved(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
}

/** Whether a process with this id runs (EPERM: it exists but belongs to someone else), for locks and staging folders left by dead runs. */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function outputError(message: string, subject: string, cause?: unknown): AutoRoundError {
  return new AutoRoundError('E_OUTPUT', message, { subject, ...(cause !== undefined ? { cause } : {}) });
}

/** A failed file-system call in plain words (core-tensor's table of system errors), else its message. */
function fsReason(e: unknown): string {
  return systemErrorWords(e) ?? (e as Error).message;
}

/** Whether `dir` (a folder) holds what this toolkit writes: a config.json with a quantization_config, a quantization_config.json (fake), or only such subfolders (several formats). */
export function looksLikeOutput(dir: string, depth = 0): boolean {
  let entries: string[];
  try {
    entries = readdirSync(dir).filter((e) => !e.startsWith('.'));
  } catch {
    return false;
  }
  if (existsSync(join(dir, 'quantization_config.json'))) return true;
  const config = join(dir, 'config.json');
  if (existsSync(config)) {
    try {
      const c = JSON.parse(readFileSync(config, 'utf8')) as { quantization_config?: unknown };
      return typeof c.quantization_config === 'object' && c.quantization_config !== null;
    } catch {
      return false;
    }
  }
  if (depth > 0 || entries.length === 0) return false;
  return entries.every((e) => {
    const p = join(dir, e);
    return lstatSync(p).isDirectory() && looksLikeOutput(p, depth + 1);
  });
}

/** A fingerprint of a folder's tree (names, kinds, sizes, times, inodes), to tell whether it changed. */
function fingerprint(target: string): string {
  if (!existsSync(target)) return 'absent';
  const rows: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = lstatSync(p);
      rows.push(`${rel}${name}\t${st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : 'f'}\t${st.size}\t${st.mtimeMs}\t${st.ino}`);
      if (st.isDirectory() && rows.length < 100_000) walk(p, `${rel}${name}/`);
    }
  };
  const st = lstatSync(target);
  rows.push(`.\t${st.isDirectory() ? 'd' : 'f'}\t${st.mode}\t${st.ino}`);
  if (st.isDirectory()) walk(target, '');
  return rows.join('\n');
}

/**
 * Refuses output paths that must never be replaced, whatever the flags; returns the resolved target.
 * Checked before any work so that a bad path costs nothing.
 */
export function checkOutputPath(finalDir: string, options: OutputOptions = {}): string {
  if (finalDir.trim() === '') throw outputError('the output folder is empty (--output_dir ""): name a folder to write to', '--output_dir');
  const target = realOrResolved(finalDir);
  const shown = `--output_dir ${finalDir}`;
  if (dirname(target) === target) throw outputError(`${shown} is the root folder ${target}: refusing to write there`, target);
  const cwd = realOrResolved(process.cwd());
  if (isInside(cwd, target)) throw outputError(`${shown} is ${target === cwd ? 'the current folder' : `an ancestor of the current folder ${cwd}`}: refusing to replace it; name a new folder`, target);
  const home = realOrResolved(homedir());
  if (isInside(home, target)) throw outputError(`${shown} is ${target === home ? 'the home folder' : `an ancestor of the home folder ${home}`}: refusing to replace it; name a new folder`, target);
  for (const p of options.protect ?? []) {
    if (!p || !existsSync(p)) continue;
    const input = realOrResolved(p);
    if (isInside(input, target)) {
      const what = input === target ? 'is the input' : `contains the input ${input}`;
      throw outputError(`${shown} ${what} (${p}): refusing to write over the run's input; name another folder`, target);
    }
  }
  return target;
}

/** What was checked at the start: the target's state, to be matched again before it is replaced. */
interface Checked {
  target: string;
  fingerprint: string;
  mode: number | undefined;
}

/** Every check writeAtomically makes before it starts, for a host to run before any expensive work. */
export function checkOutput(finalDir: string, options: OutputOptions = {}): void {
  checkTarget(finalDir, options);
}

function checkTarget(finalDir: string, options: OutputOptions): Checked {
  const target = checkOutputPath(finalDir, options);
  if (!existsSync(target)) return { target, fingerprint: 'absent', mode: undefined };
  const st = statSync(target);
  if (!st.isDirectory()) throw outputError(`output ${target} exists and is not a folder`, target);
  if ((st.mode & 0o200) === 0) {
    throw outputError(`output folder ${target} is read-only (mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}): make it writable or name another folder`, target);
  }
  const entries = readdirSync(target);
  if (entries.length > 0) {
    if (!options.overwrite) throw outputError(`output folder ${target} exists and is not empty (pass --overwrite to replace it)`, target);
    if (!options.force && !looksLikeOutput(target)) {
      throw outputError(
        `output folder ${target} is not empty and does not look like an earlier output of auto-round (no config.json with a quantization_config): --overwrite alone will not replace it; add --force to replace it anyway`,
        target,
      );
    }
  }
  return { target, fingerprint: fingerprint(target), mode: st.mode & 0o7777 };
}

/**
 * Leftovers of runs that died (SIGKILL, power loss) beside `target`: staging folders are removed,
 * an old output set aside but never replaced is put back. Only processes that no longer run count.
 */
export function cleanStaleSiblings(target: string, log?: Pick<Logger, 'info' | 'warn'>): void {
  const parent = dirname(target);
  const base = basename(target);
  let entries: string[];
  try {
    entries = readdirSync(parent);
  } catch {
    return;
  }
  for (const e of entries) {
    const m = SIBLING.exec(e);
    if (!m || m[1] !== base || processAlive(Number(m[3]))) continue;
    const p = join(parent, e);
    try {
      if (m[2] === 'partial') {
        rmSync(p, { recursive: true, force: true });
        log?.info(`removed ${p}, the staging folder of an earlier run (process ${m[3]}) that did not finish`);
      } else if (!existsSync(target)) {
        renameSync(p, target);
        log?.warn(`put back ${target}: an earlier run (process ${m[3]}) had set it aside to replace it and stopped before it could`);
      } else {
        rmSync(p, { recursive: true, force: true });
        log?.info(`removed ${p}, an output an earlier run (process ${m[3]}) had replaced`);
      }
    } catch (err) {
      log?.warn(`could not clean ${p} (${fsReason(err)}); remove it by hand`);
    }
  }
}

/** Moves a finished output that cannot go into place to a visible sibling, so that the run's work is not lost. */
function keepAside(staged: string, target: string): string {
  const kept = `${target}.autoround-${stamp()}`;
  try {
    renameSync(staged, kept);
    return `the new output is in ${kept}`;
  } catch {
    return `the new output is in ${staged}`;
  }
}

/** Moves `staged` into `target`, setting an existing target aside first and putting it back on failure. */
function replaceInto(staged: string, checked: Checked, log?: Pick<Logger, 'info' | 'warn'>): void {
  const { target } = checked;
  if (fingerprint(target) !== checked.fingerprint) {
    const what = checked.fingerprint === 'absent' ? 'it appeared' : 'its contents are not what was checked at the start';
    throw outputError(`output folder ${target} changed during the run (${what}): nothing was replaced; ${keepAside(staged, target)}`, target);
  }
  try {
    if (checked.mode !== undefined) chmodSync(staged, checked.mode);
    if (checked.fingerprint === 'absent') {
      renameSync(staged, target);
      return;
    }
  } catch (e) {
    throw outputError(`cannot move the new output into ${target}: ${fsReason(e)}; ${keepAside(staged, target)}`, target, e);
  }
  const aside = join(dirname(target), `.${basename(target)}.old-${process.pid}-${stamp()}`);
  try {
    renameSync(target, aside);
  } catch (e) {
    throw outputError(`cannot replace ${target}: ${fsReason(e)}; it was left as it was and ${keepAside(staged, target)}`, target, e);
  }
  try {
    renameSync(staged, target);
  } catch (e) {
    renameSync(aside, target);
    throw outputError(`cannot move the new output into ${target}: ${fsReason(e)}; the old folder was put back and ${keepAside(staged, target)}`, target, e);
  }
  try {
    rmSync(aside, { recursive: true, force: true });
  } catch (e) {
    log?.warn(`the new output is in ${target}; the folder it replaced, moved to ${aside}, could not be deleted (${fsReason(e)}): delete it by hand`);
  }
}

/**
 * Runs `fill` against a hidden sibling folder and renames it to `finalDir` only when it
 * succeeds, so a failed or interrupted run never leaves a half-written output folder and never
 * loses the folder it replaces.
 */
export async function writeAtomically<T>(finalDir: string, fill: (tmpDir: string) => Promise<T> | T, options: OutputOptions = {}): Promise<T> {
  // leftovers of dead runs first: an output one of them set aside is the user's, and goes back before the check
  cleanStaleSiblings(checkOutputPath(finalDir, options), options.log);
  const checked = checkTarget(finalDir, options);
  const { target } = checked;
  const parent = dirname(target);
  try {
    mkdirSync(parent, { recursive: true });
  } catch (e) {
    throw outputError(`cannot create output folder ${parent}: ${fsReason(e)}`, parent, e);
  }
  const tmp = join(parent, `.${basename(target)}.partial-${process.pid}-${stamp()}`);
  try {
    mkdirSync(tmp);
  } catch (e) {
    throw outputError(`cannot write in ${parent}: ${fsReason(e)}`, parent, e);
  }
  const cleanup = () => rmSync(tmp, { recursive: true, force: true });
  const onSignal = (signal: NodeJS.Signals) => {
    cleanup();
    process.stderr.write(`\n${signal}: stopped; nothing was written to ${target}\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let staged = true;
  try {
    const result = await fill(tmp);
    try {
      replaceInto(tmp, checked, options.log);
    } finally {
      staged = existsSync(tmp);
    }
    return result;
  } finally {
    if (staged) cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
