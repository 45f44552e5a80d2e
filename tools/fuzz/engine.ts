// Runs one fuzz target: fast-check draws inputs (a seed, one of its files, a few mutations), each is written to
// the target's case folder and parsed; anything thrown that is not an AutoRoundError is a crash, an input that
// takes longer than the hang limit is a hang. fast-check shrinks each failure to a minimal mutation list, which
// is printed with the mutated file's bytes in hex; the run then goes on with the rest of its budget.
import { closeSync, existsSync, mkdirSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { describeSystemError, isAutoRoundError } from '@autoround/core-tensor';
import { applyMutations, describeMutations, inputArb, type FuzzInput } from './mutate.js';
import { materialize, type FuzzTarget, type Seed } from './targets.js';

export interface FuzzResult {
  fuzz: string;
  inputs: number;
  crashes: number;
  hangs: number;
  /** Crashes the CLI would print with a stack trace (not an AutoRoundError, nor a system error it names in one line). */
  stack_traces: number;
}

export interface FuzzOptions {
  iterations: number;
  /** fast-check's seed (the run is reproducible with the same seed and iterations). */
  seed: number;
  /** An input taking longer than this is a hang (default 1000 ms). */
  hangMs?: number;
  /** Stop after this many distinct failures (default 5). */
  maxFailures?: number;
  /** A watchdog kills the process when one input runs longer than this (default 60 s). */
  killMs?: number;
  /** Where to print failures and progress (default stderr). */
  log?: (line: string) => void;
  /** The temporary folder for seeds and cases (default: a fresh one under the OS temp folder, removed at the end). */
  work?: string;
}

type Outcome = { kind: 'ok' } | { kind: 'crash'; error: unknown; stack: boolean } | { kind: 'hang'; ms: number };

class FuzzFailure extends Error {
  constructor(readonly outcome: Exclude<Outcome, { kind: 'ok' }>) {
    super(outcome.kind === 'hang' ? `hang: ${outcome.ms.toFixed(0)} ms` : `crash: ${String((outcome.error as Error)?.stack ?? outcome.error)}`);
  }
}

/**
 * A parser stuck in a loop blocks this thread, so no timer here can see it: a watchdog thread is told each
 * input before it runs (its case file holds the bytes) and, when one runs past `killMs`, prints it and the
 * target's JSON line with one hang, then kills the process.
 */
const WATCHDOG = `
const { parentPort, workerData } = require('node:worker_threads');
const { copyFileSync, readFileSync, writeSync } = require('node:fs');
let current = null;
parentPort.on('message', (m) => { current = m; });
setInterval(() => {
  if (!current || !current.file || Date.now() - current.at < workerData.killMs) return;
  const saved = workerData.saveAs;
  let hex = '';
  try { copyFileSync(current.file, saved); const b = readFileSync(saved); hex = b.length <= 2048 ? b.toString('hex') : b.subarray(0, 512).toString('hex') + '… (' + b.length + ' bytes)'; } catch {}
  writeSync(2, 'fuzz ' + workerData.target + ': hang (still running after ' + workerData.killMs + ' ms; not shrunk)\\n  ' + current.what + '\\n  input (saved to ' + saved + '): ' + hex + '\\n');
  writeSync(1, JSON.stringify({ fuzz: workerData.target, inputs: current.n, crashes: 0, hangs: 1, stack_traces: 0 }) + '\\n');
  process.kill(process.pid, 'SIGKILL');
}, 250).unref();
`;

/**
 * Each input stands for one `auto-round` process, whose files the OS closes at exit; in this one process a
 * reader that leaves a file open (the packed-format readers keep their Checkpoint, and WeightSource has no
 * close) would run out of descriptors after some 60,000 inputs. Descriptors opened on the case folder
 * during an input are closed after it (Linux; elsewhere nothing is done).
 */
function closeLeaked(before: Set<string> | undefined, under: string): void {
  if (!before) return;
  for (const fd of readdirSync('/proc/self/fd')) {
    if (before.has(fd)) continue;
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(under)) closeSync(Number(fd));
    } catch {
      // closed meanwhile
    }
  }
}
const PROC_FD = existsSync('/proc/self/fd');
const openFds = (): Set<string> | undefined => (PROC_FD ? new Set(readdirSync('/proc/self/fd')) : undefined);

const hex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/** The mutated file in hex: whole when small, else its first 512 bytes and the bytes around each change. */
function hexOf(mutated: Uint8Array, seed: Uint8Array): string {
  if (mutated.length <= 2048) return hex(mutated);
  let first = 0;
  while (first < mutated.length && first < seed.length && mutated[first] === seed[first]) first++;
  const head = hex(mutated.subarray(0, 512));
  if (first < 512) return `${head}… (${mutated.length} bytes; first change at byte ${first})`;
  return `${head}… [bytes ${first - 64}…${Math.min(mutated.length, first + 192)}]: ${hex(mutated.subarray(first - 64, first + 192))} (${mutated.length} bytes; seed ${seed.length})`;
}

export async function fuzzTarget(target: FuzzTarget, options: FuzzOptions): Promise<FuzzResult> {
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const hangMs = options.hangMs ?? 1000;
  const own = options.work === undefined;
  const work = options.work ?? join(tmpdir(), `autoround-fuzz-${target.name}-${process.pid}-${Date.now()}`);
  mkdirSync(work, { recursive: true });
  try {
    mkdirSync(join(work, 'seeds'));
    const seeds = await target.seeds(join(work, 'seeds'));
    // one case folder per seed, holding its valid files; each input rewrites one file and restores it after
    const cases = seeds.map((s, i) => {
      const dir = join(work, 'case', String(i));
      materialize(s, dir);
      return dir;
    });
    const pick = (input: FuzzInput): { seed: Seed; dir: string; fileIndex: number } => {
      const i = input.seed % seeds.length;
      return { seed: seeds[i]!, dir: cases[i]!, fileIndex: input.file % seeds[i]!.files.length };
    };
    const mutatedOf = (input: FuzzInput) => {
      const { seed, fileIndex } = pick(input);
      const f = seed.files[fileIndex]!;
      return { f, bytes: applyMutations(f.bytes, f.kind, f.fields, input.mutations) };
    };
    const watchdog = new Worker(WATCHDOG, {
      eval: true,
      workerData: { target: target.name, killMs: options.killMs ?? 60_000, saveAs: join(tmpdir(), `autoround-fuzz-${target.name}-hang-${process.pid}`) },
    });
    watchdog.unref();
    let n = 0;
    const runOne = async (input: FuzzInput): Promise<Outcome> => {
      const { dir, seed: s } = pick(input);
      const { f, bytes } = mutatedOf(input);
      const path = join(dir, f.rel);
      writeFileSync(path, bytes);
      watchdog.postMessage({ file: path, at: Date.now(), n: ++n, what: `seed ${s.name}, file ${f.rel}, mutations ${describeMutations(input.mutations)}` });
      const t0 = performance.now();
      let outcome: Outcome = { kind: 'ok' };
      // the libraries under test warn on console about what they skip ("Unknown pattern type"): a flood at 100k inputs
      const saved = [console.log, console.warn, console.error, console.info] as const;
      console.log = console.warn = console.error = console.info = () => {};
      const fds = openFds();
      try {
        await target.run(dir, path);
      } catch (e) {
        if (!isAutoRoundError(e)) outcome = { kind: 'crash', error: e, stack: describeSystemError(e) === undefined };
      } finally {
        [console.log, console.warn, console.error, console.info] = saved;
        closeLeaked(fds, dir);
        watchdog.postMessage(null);
        writeFileSync(path, f.bytes);
      }
      const ms = performance.now() - t0;
      if (outcome.kind === 'ok' && ms > hangMs) {
        // a busy machine (GC, other processes) can stretch one run past the limit: a hang is an input that is
        // slow every time, so it is timed twice more and the fastest run counts
        const again = Math.min(ms, await timed(input), await timed(input));
        if (again > hangMs) outcome = { kind: 'hang', ms: again };
      }
      return outcome;
    };

    const timed = async (input: FuzzInput): Promise<number> => {
      const { dir } = pick(input);
      const { f, bytes } = mutatedOf(input);
      const path = join(dir, f.rel);
      writeFileSync(path, bytes);
      const saved = [console.log, console.warn, console.error, console.info] as const;
      console.log = console.warn = console.error = console.info = () => {};
      const fds = openFds();
      const t0 = performance.now();
      try {
        await target.run(dir, path);
      } catch {
        // what it throws was judged on the first run
      } finally {
        [console.log, console.warn, console.error, console.info] = saved;
        closeLeaked(fds, dir);
        writeFileSync(path, f.bytes);
      }
      return performance.now() - t0;
    };

    const result: FuzzResult = { fuzz: target.name, inputs: 0, crashes: 0, hangs: 0, stack_traces: 0 };
    let seed = options.seed;
    let remaining = options.iterations;
    let failures = 0;
    while (remaining > 0 && failures < (options.maxFailures ?? 5)) {
      const details = await fc.check(
        fc.asyncProperty(inputArb, async (input) => {
          const o = await runOne(input);
          if (o.kind !== 'ok') throw new FuzzFailure(o);
        }),
        { numRuns: remaining, seed },
      );
      if (!details.failed) {
        result.inputs += remaining;
        break;
      }
      // numRuns counts the inputs drawn up to and including the first failing one (not the shrinking replays)
      result.inputs += details.numRuns;
      remaining -= details.numRuns;
      failures++;
      const input = details.counterexample?.[0] as FuzzInput | undefined;
      const err = details.errorInstance;
      const outcome = err instanceof FuzzFailure ? err.outcome : ({ kind: 'crash', error: err, stack: true } as const);
      if (outcome.kind === 'hang') result.hangs++;
      else {
        result.crashes++;
        if (outcome.stack) result.stack_traces++;
      }
      if (input) {
        const { seed: s, fileIndex } = pick(input);
        const { f, bytes } = mutatedOf(input);
        const saved = join(tmpdir(), `autoround-fuzz-${target.name}-${s.name}-${Date.now()}-${f.rel}`);
        writeFileSync(saved, bytes);
        const what =
          outcome.kind === 'hang'
            ? `hang (${outcome.ms.toFixed(0)} ms > ${hangMs} ms)`
            : `crash: ${String((outcome.error as Error)?.stack ?? outcome.error)
                .split('\n')
                .slice(0, 6)
                .join('\n    ')}`;
        log(
          [
            `fuzz ${target.name}: ${what}`,
            `  seed ${s.name}, file ${f.rel} (#${fileIndex}), fast-check seed ${seed}, shrunk ${details.numShrinks} times`,
            `  mutations: ${describeMutations(input.mutations)}`,
            `  input (${bytes.length} bytes, saved to ${saved}): ${hexOf(bytes, f.bytes)}`,
          ].join('\n'),
        );
      }
      seed++;
    }
    await watchdog.terminate();
    return result;
  } finally {
    if (own) rmSync(work, { recursive: true, force: true });
  }
}
