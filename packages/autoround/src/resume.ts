// Resumable runs (docs/resume.md): the host's side. Every layer and tensor an algorithm emits is
// recorded; when the algorithm checkpoints after a block group, they are written to a file of that
// group and its carried state to state.bin (the commit point), both atomically, in
// `<parent>/.<output name>.resume/`. A --resume run checks that the saved run is this run (model,
// options, formats, versions), hands the saved layers to fresh exporters again and lets the algorithm
// continue from its state; the output is the same, byte for byte, as an uninterrupted run's.

import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import {
  type AlgorithmPlugin,
  AutoRoundError,
  type CheckpointValue,
  type KernelBackend,
  type Logger,
  type QuantScheme,
  type QuantizeOptions,
  type QuantizeSession,
  type QuantizedWeight,
  fsyncFolder,
  readResumeFile,
  writeResumeFile,
} from '@autoround/core';
import { findPlugins } from './discover.js';

/** Bumped whenever what a state holds changes meaning: a state of another version is never resumed. */
const STATE_VERSION = 2; // 2: QuantizedWeight.blocks/imatrix replaced extra.gguf/extra.imatrix (issue 14)

/** The folder that holds the resume state of a run writing `outputDir`: `<parent>/.<name>.resume`. */
export function resumeDirOf(outputDir: string): string {
  const target = resolve(outputDir);
  return join(dirname(target), `.${basename(target)}.resume`);
}

/** What identifies a run, field by field (a field's name as the error names it → its canonical JSON). */
export type RunFingerprint = Record<string, string>;

/** What the fingerprint is made of (a subset of the pipeline's run). */
export interface FingerprintInput {
  modelDir: string;
  algorithm: AlgorithmPlugin;
  options: QuantizeOptions;
  scheme: QuantScheme;
  layerSchemes: ReadonlyMap<string, QuantScheme | null>;
  formats: readonly string[];
  quantArgs: Readonly<Record<string, unknown>>;
  maxShardBytes: number;
  backend: KernelBackend;
}

/** JSON with sorted keys and without undefined members, so that equal values give equal strings. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (x && typeof x === 'object' && !Array.isArray(x)) {
      const o = x as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
    }
    return x;
  }) ?? 'undefined';
}

/** Options that cannot change the output's bytes (or are fingerprinted under another field). */
const NOT_NUMERIC = new Set(['log', 'registry', 'plugins', 'discoverPlugins', 'overwrite', 'force', 'resume', 'skipSanityCheck', 'backend', 'threads', 'maxShardSize']);

/** Files whose content is hashed; weight files (and anything over this size) by size and modification time. */
const HASH_LIMIT = 64 * 1024 * 1024;
const WEIGHT_FILE = /\.(safetensors|bin|gguf|pt|pth|npz)$/i;

function fileIdentity(path: string): string {
  const st = statSync(path);
  if (WEIGHT_FILE.test(path) || st.size > HASH_LIMIT) return `${st.size} bytes, modified ${new Date(st.mtimeMs).toISOString()}`;
  return `sha256 ${createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16)}…`;
}

/** Versions of node and of every @autoround package that takes part (the host's and every installed plugin). */
function packageVersions(): Record<string, string> {
  const out: Record<string, string> = { node: process.version };
  const req = createRequire(import.meta.url);
  for (const name of ['@autoround/autoround', '@autoround/core', '@autoround/core-tensor', '@autoround/models', '@autoround/kernels-cpu', '@autoround/algo-rtn']) {
    try {
      out[name] = String((req(`${name}/package.json`) as { version?: unknown }).version);
    } catch {
      /* not installed: nothing to compare */
    }
  }
  for (const f of findPlugins()) {
    try {
      out[f.name] = String((JSON.parse(readFileSync(join(f.dir, 'package.json'), 'utf8')) as { version?: unknown }).version);
    } catch {
      /* unreadable: as if absent */
    }
  }
  return out;
}

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * The identity of a run: the model (its folder, config.json and every small file by content, weight
 * files by size and modification time), every option that can change the result, the algorithm, the
 * schemes, formats, shard size, kernel backend and thread count, and the package versions.
 */
export function runFingerprint(x: FingerprintInput): RunFingerprint {
  const fp: RunFingerprint = { 'state format': String(STATE_VERSION) };
  const modelDir = resolve(x.modelDir);
  fp['model folder'] = modelDir;
  const st = statSync(modelDir);
  const files = st.isDirectory() ? readdirSync(modelDir).filter((f) => !f.startsWith('.') && statSync(join(modelDir, f)).isFile()).sort() : [];
  if (!st.isDirectory()) fp[`model file ${basename(modelDir)}`] = fileIdentity(modelDir);
  for (const f of files) fp[`model file ${f}`] = fileIdentity(join(modelDir, f));
  fp.algorithm = x.algorithm.name;
  const opts = x.options as Record<string, unknown>;
  for (const k of Object.keys(opts).sort()) {
    const v = opts[k];
    if (NOT_NUMERIC.has(k) || v === undefined || typeof v === 'function') continue;
    fp[`option --${snake(k)}`] = canonical(v);
  }
  fp.scheme = canonical(x.scheme);
  fp['layer schemes'] = canonical([...x.layerSchemes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  fp['option --format'] = canonical(x.formats);
  fp.quantization_config = canonical(x.quantArgs);
  fp['max shard bytes'] = String(x.maxShardBytes);
  fp['kernel backend'] = `${x.backend.name}, ${x.backend.threads} thread${x.backend.threads === 1 ? '' : 's'}`;
  for (const [name, v] of Object.entries(packageVersions())) fp[`version of ${name}`] = v;
  return fp;
}

function digestOf(fp: RunFingerprint): string {
  return createHash('sha256').update(canonical(fp)).digest('hex');
}

/** Fields that follow from the options (a differing option explains them, so they are named only when no option differs). */
const DERIVED = new Set(['algorithm', 'scheme', 'layer schemes', 'quantization_config', 'max shard bytes']);

/** One field's difference: for two JSON objects, only their members that differ. */
function describeDifference(field: string, a: string | undefined, b: string | undefined): string {
  const clip = (s: string | undefined) => (s === undefined ? '(not set)' : s.length > 100 ? `${s.slice(0, 97)}…` : s);
  const obj = (s: string | undefined): Record<string, unknown> | null => {
    try {
      const v = s === undefined ? null : (JSON.parse(s) as unknown);
      return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
    } catch {
      return null;
    }
  };
  const [oa, ob] = [obj(a), obj(b)];
  if (oa && ob) {
    const keys = [...new Set([...Object.keys(oa), ...Object.keys(ob)])].filter((k) => canonical(oa[k]) !== canonical(ob[k]));
    return keys.map((k) => `${field} ${k} differs (interrupted run: ${clip(canonical(oa[k]))}; this run: ${clip(canonical(ob[k]))})`).join('; ');
  }
  return `${field} differs (interrupted run: ${clip(a)}; this run: ${clip(b)})`;
}

/** The fields where two fingerprints differ, for the error: what the user changed first, then what follows from it. */
function differences(saved: RunFingerprint, now: RunFingerprint): string[] {
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(now)])].filter((k) => saved[k] !== now[k]);
  const primary = keys.filter((k) => !DERIVED.has(k));
  return (primary.length > 0 ? primary : keys).map((k) => describeDifference(k, saved[k], now[k]));
}

/** One result an algorithm handed over, as stored. */
type Emission = { kind: 'layer'; name: string; q: QuantizedWeight } | { kind: 'tensor'; name: string; data: Float32Array };

/** A QuantizedWeight as a checkpoint value: every own field as it is (scheme, shape, arrays, extra). */
function layerValue(q: QuantizedWeight): CheckpointValue {
  return { ...(q as unknown as Record<string, CheckpointValue>), shape: [q.shape[0], q.shape[1]] };
}

/** What `saved` says was this run's resume state, or null when there is none. */
export interface SavedRun {
  readonly dir: string;
  readonly lastBlock: number;
  readonly state: CheckpointValue;
  /** The block-group files, in the order they were written. */
  readonly groups: readonly string[];
}

const STATE_FILE = 'state.bin';
/** Every file a resume folder may hold: the state, the block groups, and writeResumeFile's temporaries. */
const STATE_FILES = /^(state\.bin|blocks-\d{5}\.bin|\.(state\.bin|blocks-\d{5}\.bin)\.tmp-\d+)$/;

/**
 * Deletes a resume folder, but only one that holds nothing but what this module writes: a folder of
 * the user's that happens to carry the name is left alone, with a warning.
 */
function removeStateFolder(dir: string, log: Logger): void {
  if (!existsSync(dir)) return;
  const foreign = readdirSync(dir).filter((f) => !STATE_FILES.test(f));
  if (foreign.length > 0) {
    log.warn(`${dir} holds files a resume state does not (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ' …' : ''}): left as it is; remove it by hand`);
    return;
  }
  rmSync(dir, { recursive: true, force: true });
}

/**
 * Reads the state of an interrupted run from `dir` and checks it is this run's (`fp`); null when
 * there is none (no block was finished). A different run is an AutoRoundError naming every field
 * that differs.
 */
export function loadSavedRun(dir: string, fp: RunFingerprint): SavedRun | null {
  const file = join(dir, STATE_FILE);
  if (!existsSync(file)) return null;
  const { meta, value } = readResumeFile(file);
  const m = meta as { fingerprint?: RunFingerprint; lastBlock?: number; groups?: string[] } | null;
  if (!m || typeof m.fingerprint !== 'object' || !Number.isInteger(m.lastBlock) || !Array.isArray(m.groups)) {
    throw new AutoRoundError('E_RESUME', `resume state ${file} is damaged (its header lacks the run's identity); run without --resume to start over`, { subject: file });
  }
  const diff = differences(m.fingerprint, fp);
  if (diff.length > 0) {
    const subject = diff[0]!.slice(0, diff[0]!.indexOf(' differs'));
    throw new AutoRoundError('E_RESUME', `cannot resume the interrupted run saved in ${dir}: ${diff.join('; ')}. Run it with the same model and options, or without --resume to discard the saved state and start over`, { subject });
  }
  return { dir, lastBlock: m.lastBlock!, state: value, groups: m.groups };
}

/** The saved layers and tensors of every finished block group, in the order they were emitted (read one group at a time). */
function* savedEmissions(saved: SavedRun, digest: string, layerSchemes: ReadonlyMap<string, QuantScheme | null>): Generator<Emission> {
  for (const g of saved.groups) {
    const file = join(saved.dir, g);
    if (!existsSync(file)) throw new AutoRoundError('E_RESUME', `resume state ${saved.dir} lacks ${g}, which ${STATE_FILE} lists; run without --resume to start over`, { subject: file });
    const { meta, value } = readResumeFile(file);
    const bad = (why: string) => new AutoRoundError('E_RESUME', `resume state ${file} ${why}; run without --resume to start over`, { subject: file });
    if ((meta as { run?: unknown } | null)?.run !== digest) throw bad('belongs to another run');
    const items = (value as { items?: unknown } | null)?.items;
    if (!Array.isArray(items)) throw bad('is damaged (no item list)');
    for (const it of items as Record<string, CheckpointValue>[]) {
      const name = it.name;
      if (typeof name !== 'string') throw bad('is damaged (an item without a name)');
      if (it.kind === 'tensor' && it.data instanceof Float32Array) {
        yield { kind: 'tensor', name, data: it.data };
        continue;
      }
      const q = it.q as Record<string, unknown> | undefined;
      if (it.kind !== 'layer' || !q || !(q.qdq instanceof Float32Array)) throw bad(`is damaged (item ${name})`);
      // the very scheme object of this run (exporters may compare schemes by identity)
      const scheme = layerSchemes.get(name);
      if (!scheme || canonical(scheme) !== canonical(q.scheme)) throw bad(`holds layer ${name} with another scheme than this run gives it`);
      yield { kind: 'layer', name, q: { ...q, scheme } as unknown as QuantizedWeight };
    }
  }
}

/** The resume side of one pipeline run: opened before anything is written, used inside the staging folder. */
export class RunResume {
  private pending: Emission[] = [];
  private saves = 0;
  private readonly groups: string[];
  private readonly digest: string | null;

  private constructor(
    readonly dir: string,
    private readonly log: Logger,
    private readonly fingerprint: RunFingerprint | null,
    readonly saved: SavedRun | null,
    /** An earlier state to delete before this run writes its own. */
    private readonly discard: boolean,
    private readonly resume: boolean,
  ) {
    this.groups = [...(saved?.groups ?? [])];
    this.digest = fingerprint ? digestOf(fingerprint) : null;
  }

  /**
   * Opens the resume state of a run: with `resume`, loads and checks the saved state (an
   * AutoRoundError before anything is written when it belongs to another run); without, marks an
   * existing one for deletion. Runs whose algorithm does not checkpoint write nothing.
   */
  static open(outputDir: string, resume: boolean, input: FingerprintInput, log: Logger): RunResume {
    const dir = resumeDirOf(outputDir);
    const resumable = input.algorithm.resumable?.(input.options) === true;
    const exists = existsSync(dir);
    const fp = resumable || (resume && exists) ? runFingerprint(input) : null;
    const saved = resume && exists ? loadSavedRun(dir, fp!) : null;
    if (resume && !saved) {
      log.info(
        resumable
          ? `--resume: no block of this run was saved in ${dir}; starting from the first block`
          : `--resume: ${input.algorithm.name} does not checkpoint its work (SignRound tuning does); starting from the beginning`,
      );
    }
    if (saved && !resumable) throw new AutoRoundError('E_RESUME', `cannot resume: ${input.algorithm.name} cannot continue from a saved state`, { subject: '--resume' });
    return new RunResume(dir, log, resumable ? fp : null, saved, exists && !saved, resume);
  }

  /** Inside the staging folder, before the algorithm runs: drop an old state, or hand the saved results to the exporters again. */
  replay(session: QuantizeSession): void {
    if (this.discard) {
      // with --resume this is a folder no block was committed to: nothing worth a line
      if (!this.resume) this.log.info(`discarding the saved state of an interrupted run in ${this.dir} (pass --resume to continue it instead)`);
      removeStateFolder(this.dir, this.log);
    }
    const saved = this.saved;
    if (!saved) return;
    for (const e of savedEmissions(saved, this.digest!, session.layerSchemes)) {
      if (e.kind === 'layer') session.emit(e.name, e.q);
      else session.emitTensor!(e.name, e.data);
    }
    const blocks = session.spec.blocks;
    const done = blocks.filter((b) => b.index <= saved.lastBlock);
    for (const b of done) session.blockDone?.(b.index, 'restored');
    this.log.info(`resuming the run saved in ${this.dir}: ${done.length} of ${blocks.length} blocks restored, continuing with block ${done.length + 1}`);
  }

  /** The session the algorithm sees: emissions recorded, checkpoints stored, and the saved state to continue from. */
  track(session: QuantizeSession): QuantizeSession {
    if (!this.fingerprint) return session;
    const emitTensor = session.emitTensor;
    return {
      ...session,
      emit: (name, q) => {
        session.emit(name, q);
        this.pending.push({ kind: 'layer', name, q });
      },
      ...(emitTensor
        ? {
            emitTensor: (name: string, data: Float32Array) => {
              emitTensor(name, data);
              this.pending.push({ kind: 'tensor', name, data: data.slice() });
            },
          }
        : {}),
      saveResumeState: (lastBlock, state) => this.save(lastBlock, state),
      ...(this.saved ? { resumeState: { lastBlock: this.saved.lastBlock, state: this.saved.state } } : {}),
    };
  }

  /** Writes the results emitted since the last checkpoint, then the state (the commit point); both atomic. */
  private save(lastBlock: number, state: CheckpointValue): void {
    const t0 = Date.now();
    if (!existsSync(this.dir)) {
      mkdirSync(this.dir, { recursive: true });
      fsyncFolder(dirname(this.dir));
    }
    const group = `blocks-${String(lastBlock).padStart(5, '0')}.bin`;
    const items: CheckpointValue[] = this.pending.map((e) => (e.kind === 'layer' ? { kind: 'layer', name: e.name, q: layerValue(e.q) } : { kind: 'tensor', name: e.name, data: e.data }));
    let bytes = writeResumeFile(join(this.dir, group), { run: this.digest, lastBlock }, { items });
    this.pending = [];
    if (!this.groups.includes(group)) this.groups.push(group);
    bytes += writeResumeFile(join(this.dir, STATE_FILE), { fingerprint: this.fingerprint, lastBlock, groups: this.groups }, state);
    const what = `${(bytes / 1048576).toFixed(1)} MiB in ${((Date.now() - t0) / 1000).toFixed(2)} s`;
    // once per run, where the state is and what it is for; then quietly
    if (this.saves++ === 0) this.log.info(`saved the progress after block ${lastBlock + 1} in ${this.dir} (${what}; an interrupted run continues from its last saved block with --resume)`);
    else this.log.debug(`saved the progress after block ${lastBlock + 1} (${what})`);
    // tests only: die the hardest way right after the checkpoint of the N-th block (1-based, as the log counts)
    const stopAfter = Number(process.env.AUTOROUND_TEST_EXIT_AFTER_BLOCK);
    if (stopAfter > 0 && lastBlock + 1 >= stopAfter) process.kill(process.pid, 'SIGKILL');
  }

  /** After the output is in place: the state has served its purpose. */
  finished(): void {
    if (this.fingerprint || this.saved) removeStateFolder(this.dir, this.log);
  }
}
