// The fixed set of quantization runs whose output bytes are pinned by golden-outputs.json (issue #14:
// the redesign must keep every byte). Shared by golden-outputs.test.ts and record.ts (which runs one
// case in its own process, to check determinism across processes and thread counts).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { AutoRound, type AutoRoundOptions, silentLogger } from '@autoround/autoround';
import signround from '@autoround/algo-signround';
import gguf from '@autoround/export-gguf';
import { LLAMA256, STORIES, TINYSTORIES } from '@autoround/testing';

/** The calibration file's name, relative to the working directory the runs use (see runCase). */
export const CALIB_FILE = 'golden-calib.txt';
/** How much of TinyStories-validation-sample.txt calibrates every run (enough for nsamples × seqlen tokens). */
const CALIB_CHARS = 12_000;

export interface GoldenCase {
  /** `<model>/<method>/<formats>`, the key in golden-outputs.json. */
  readonly name: string;
  readonly model: string;
  readonly options: Partial<AutoRoundOptions>;
  readonly format: string[];
}

/** Every packed int format of the host and the unpacked reference, written in one run. */
const INT_FORMATS = ['auto_round', 'auto_gptq', 'auto_awq', 'llm_compressor', 'fake'];

const METHODS: Record<string, Partial<AutoRoundOptions>> = {
  rtn: { iters: 0, disableOptRtn: true },
  'opt-rtn': { iters: 0 },
  signround20: { iters: 20 },
};
// 10 iterations (the suite's time matters on 2 cores) where that moves the weights off RTN; nblocks 2 on
// llama-256's int path keeps RTN's weights after 10 (the best-loss rule), so it runs 20
const VARIANTS: Record<string, Partial<AutoRoundOptions>> = {
  nblocks2: { iters: 20, nblocks: 2 },
  adam: { iters: 10, enableAdam: true },
  lfq: { iters: 10, enableLfq: true },
  'norm-bias': { iters: 10, enableNormBiasTuning: true },
};

function buildCases(): GoldenCase[] {
  const cases: GoldenCase[] = [];
  for (const [model, dir] of [['stories260K', STORIES], ['llama-256', LLAMA256]] as const) {
    const add = (method: string, options: Partial<AutoRoundOptions>, format: string[]) =>
      cases.push({ name: `${model}/${method}/${format.join('+')}`, model: dir, options, format });
    for (const [m, o] of Object.entries(METHODS)) {
      add(m, { scheme: 'W4A16', groupSize: 32, ...o }, INT_FORMATS);
      // a GGUF type decides the scheme; one file type per run
      for (const t of ['gguf:q4_k_m', 'gguf:q2_k_s']) add(m, o, [t]);
    }
    // the tuning flags, on both tuning paths (int, GGUF frozen scales)
    for (const [v, o] of Object.entries(VARIANTS)) {
      add(`${v}-iters${o.iters}`, { scheme: 'W4A16', groupSize: 32, ...o }, ['auto_round']);
      add(`${v}-iters${o.iters}`, o, ['gguf:q4_k_m']);
    }
  }
  return cases;
}

export const GOLDEN_CASES: readonly GoldenCase[] = buildCases();

/** Writes the calibration text into `dir` as CALIB_FILE. */
export function writeCalibration(dir: string): void {
  writeFileSync(join(dir, CALIB_FILE), readFileSync(TINYSTORIES, 'utf8').slice(0, CALIB_CHARS));
}

/**
 * Runs one case into `out` and returns its files' SHA-256 by relative path. The working directory must
 * hold CALIB_FILE (writeCalibration): the dataset is named relatively because quantization_config
 * records the dataset argument as given, and an absolute temporary path would differ on every run.
 */
export async function runCase(c: GoldenCase, out: string, extra: Partial<AutoRoundOptions> = {}): Promise<Record<string, string>> {
  await new AutoRound(c.model, {
    dataset: `${CALIB_FILE}:concat`,
    nsamples: 4,
    seqlen: 32,
    batchSize: 2,
    seed: 42,
    backend: 'native',
    threads: 2,
    skipSanityCheck: true,
    log: silentLogger,
    discoverPlugins: false,
    plugins: [signround, gguf],
    ...c.options,
    ...extra,
  }).quantizeAndSave(out, { format: c.format });
  return hashFolder(out);
}

/** SHA-256 of every file under `dir`, by path relative to it ('/'-separated), sorted. */
export function hashFolder(dir: string): Record<string, string> {
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else files.push(relative(dir, p).split(sep).join('/'));
    }
  };
  walk(dir);
  files.sort();
  return Object.fromEntries(files.map((f) => [f, createHash('sha256').update(readFileSync(join(dir, f))).digest('hex')]));
}
