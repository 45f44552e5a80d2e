import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { AutoRoundError } from '@autoround/core-tensor';

/**
 * Runs `fill` against a hidden sibling folder and renames it to `finalDir` only when it
 * succeeds, so a failed or interrupted run never leaves a half-written output folder.
 */
export async function writeAtomically<T>(finalDir: string, fill: (tmpDir: string) => Promise<T> | T, options: { overwrite?: boolean } = {}): Promise<T> {
  const target = resolve(finalDir);
  const parent = dirname(target);
  if (existsSync(target)) {
    const st = statSync(target);
    if (!st.isDirectory()) throw new AutoRoundError('E_OUTPUT', `output ${target} exists and is not a folder`, { subject: target });
    if (readdirSync(target).length > 0 && !options.overwrite) {
      throw new AutoRoundError('E_OUTPUT', `output folder ${target} exists and is not empty (pass --overwrite to replace it)`, { subject: target });
    }
  }
  try {
    mkdirSync(parent, { recursive: true });
  } catch (e) {
    throw new AutoRoundError('E_OUTPUT', `cannot create output folder ${parent}: ${(e as Error).message}`, { subject: parent, cause: e });
  }
  const tmp = join(parent, `.${basename(target)}.partial-${process.pid}-${Date.now().toString(36)}`);
  try {
    mkdirSync(tmp);
  } catch (e) {
    throw new AutoRoundError('E_OUTPUT', `cannot write in ${parent}: ${(e as Error).message}`, { subject: parent, cause: e });
  }
  const cleanup = () => rmSync(tmp, { recursive: true, force: true });
  const onSignal = (signal: NodeJS.Signals) => {
    cleanup();
    process.stderr.write(`\n${signal}: stopped; nothing was written to ${target}\n`);
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await fill(tmp);
    if (existsSync(target)) rmSync(target, { recursive: true, force: true });
    renameSync(tmp, target);
    return result;
  } catch (e) {
    cleanup();
    throw e;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
