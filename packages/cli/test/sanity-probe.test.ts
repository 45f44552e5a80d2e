import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AlgorithmPlugin, type QuantizedWeight, createRegistry, definePlugin, writeDemoModel } from '@autoround/autoround';
import { runCli } from './run-cli.js';
import { HAS_SHARED, STORIES, TINYSTORIES, mulberry32, needsShared, tempDir } from '@autoround/testing';

// The sanity probe (docs/sanity-probe.md) through the CLI. The broken runs come from test-only
// algorithms: plain RTN everywhere except one block, which they spoil. The CLI finds the plugins the
// nearest package.json depends on, so the test makes the working folder a project that depends on a
// one-line package whose default export is the plugin object built here.

const work = tempDir();
afterAll(() => work.cleanup());

const PLUGIN_GLOBAL = '__autoroundSanityProbeTestPlugin';

/** RTN, with every layer of `block` passed through `spoil`. */
async function spoiledRtn(name: string, block: number, spoil: (q: QuantizedWeight) => QuantizedWeight): Promise<AlgorithmPlugin> {
  const rtn = (await createRegistry({ discover: false })).algorithm('rtn');
  return {
    name,
    description: `RTN with block ${block} spoiled (test only)`,
    needsCalibration: () => false,
    run: (session) =>
      rtn.run({
        ...session,
        emit(layer, q) {
          session.emit(layer, layer.startsWith(`model.layers.${block}.`) ? spoil(q) : q);
        },
      }),
  };
}

/** RTN that asks the host for calibration samples first (as tuning algorithms do), so that the probe can reuse them. */
async function calibratedRtn(): Promise<AlgorithmPlugin> {
  const rtn = (await createRegistry({ discover: false })).algorithm('rtn');
  return {
    name: 'calibrated_rtn',
    description: 'RTN after reading the calibration samples (test only)',
    needsCalibration: () => true,
    async run(session) {
      expect((await session.calibration!()).length).toBe(6);
      await rtn.run(session);
    },
  };
}

/** The same scales and zero points with random codes: a layer of garbage that still packs and reads back. */
function randomCodes(q: QuantizedWeight): QuantizedWeight {
  const [rows, cols] = q.shape;
  const rand = mulberry32(7);
  const maxq = 2 ** q.scheme.bits - 1;
  const codes = Uint8Array.from({ length: rows * cols }, () => Math.floor(rand() * (maxq + 1)));
  const groups = Math.ceil(cols / q.groupSize);
  const qdq = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const g = r * groups + Math.floor(c / q.groupSize);
      qdq[r * cols + c] = (codes[r * cols + c]! - q.zeros![g]!) * q.scales![g]!;
    }
  }
  return { ...q, codes, qdq };
}

/** Finite weights whose products overflow float32 in the forward pass: the read-back model computes Inf and NaN. */
function hugeWeights(q: QuantizedWeight): QuantizedWeight {
  return { ...q, qdq: q.qdq.map((v) => (v === 0 ? 1e30 : v * 1e35)) };
}

/** A project in `root` that depends on a plugin package whose default export is globalThis[PLUGIN_GLOBAL]. */
function installPlugin(root: string): void {
  const dir = join(root, 'node_modules', 'autoround-sanity-probe-test-plugin');
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'sanity-probe-test-project', private: true, dependencies: { 'autoround-sanity-probe-test-plugin': '*' } }));
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'autoround-sanity-probe-test-plugin', version: '0.0.0', type: 'module', main: 'index.mjs', autoround: { plugin: true } }));
  writeFileSync(join(dir, 'index.mjs'), `export default globalThis.${PLUGIN_GLOBAL};\n`);
}

/** The CLI run from `root` (so that it discovers the test plugin). */
async function runFrom(root: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const cwd = process.cwd();
  process.chdir(root);
  try {
    return await runCli(args);
  } finally {
    process.chdir(cwd);
  }
}

describe('sanity probe of a model folder without a tokenizer', () => {
  it('probes on tokens sampled from the source model (seeded, offline) and passes', async () => {
    const model = join(work.dir, 'no-tokenizer');
    writeDemoModel(model, { hidden: 64, intermediate: 96, layers: 2, heads: 2, kvHeads: 1 });
    rmSync(join(model, 'tokenizer.json'));
    const r = await runCli(['--model', model, '--iters', '0', '--disable_opt_rtn', '--group_size', '32', '--output_dir', join(work.dir, 'no-tokenizer-out')]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/sanity probe: perplexity \d+\.\d+ → \d+\.\d+ .* in 4 windows \(sampled from the source model\)/);
  });
});

const PROBE_LINE = /sanity probe: perplexity (\d+\.\d+) → (\d+\.\d+) \(×(\d+\.\d+), limit ×1\.5\)/;

describe.skipIf(!HAS_SHARED)(needsShared('sanity probe after quantizing'), () => {
  const root = join(work.dir, 'cwd');
  const rtn = (out: string, extra: string[] = []) => ['--model', STORIES, '--iters', '0', '--disable_opt_rtn', '--group_size', '32', '--output_dir', out, ...extra];
  const broken = (alg: string, out: string, extra: string[] = []) => ['--model', STORIES, '--iters', '1', '--algorithm', alg, '--group_size', '32', '--output_dir', out, ...extra];

  beforeAll(async () => {
    (globalThis as Record<string, unknown>)[PLUGIN_GLOBAL] = definePlugin({
      name: 'sanity-probe-test',
      algorithms: [await spoiledRtn('garbage_block1', 1, randomCodes), await spoiledRtn('huge_block2', 2, hugeWeights), await calibratedRtn()],
      exporters: [
        {
          name: 'unreadable',
          description: 'writes a note and no model (test only): nothing can read it back',
          check: () => null,
          open: (ctx) => ({ writeQuantized() {}, writeTensor() {}, finish: () => writeFileSync(join(ctx.dir, 'note.txt'), 'nothing to read\n') }),
        },
      ],
    });
    installPlugin(root);
  });

  it('a healthy RTN run passes and prints the probe line (windows from the built-in text)', async () => {
    const out = join(work.dir, 'healthy');
    const r = await runFrom(root, rtn(out));
    expect(r.code, r.err).toBe(0);
    const m = PROBE_LINE.exec(r.err);
    expect(m, r.err).not.toBeNull();
    const [src, q, ratio] = [Number(m![1]), Number(m![2]), Number(m![3])];
    expect(q / src).toBeCloseTo(ratio, 2);
    expect(ratio).toBeLessThan(1.5);
    expect(r.err).toMatch(/\(built-in text\)/);
  });

  it('a run with calibration probes on its calibration samples (4 windows)', async () => {
    const out = join(work.dir, 'calibrated');
    const r = await runFrom(root, broken('calibrated_rtn', out, ['--dataset', TINYSTORIES, '--nsamples', '6', '--seqlen', '128']));
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(PROBE_LINE);
    expect(r.err).toMatch(/508 tokens in 4 windows \(calibration samples\)/);
  });

  it('a broken run fails with exit 1, keeps its output, and names the block', async () => {
    const out = join(work.dir, 'broken');
    const r = await runFrom(root, broken('garbage_block1', out));
    expect(r.code, r.err).toBe(1);
    const m = /has perplexity (\d+\.\d+) against the source model's (\d+\.\d+): ×(\d+\.\d+), more than the ×1\.5 allowed at 4 bits/.exec(r.err);
    expect(m, r.err).not.toBeNull();
    expect(Number(m![3])).toBeGreaterThan(1.5);
    expect(r.err).toMatch(/largest block output error .* is block 1's/);
    expect(r.err).not.toMatch(/^error: .*\n\s+at /m); // one line, no stack trace
    // the output stays where it was written, complete
    expect(existsSync(join(out, 'config.json'))).toBe(true);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
    expect(readdirSync(work.dir).some((f) => f.includes('.partial'))).toBe(false);
  });

  it('--skip_sanity_check turns the probe off: the same broken run exits 0', async () => {
    const out = join(work.dir, 'broken-skipped');
    const r = await runFrom(root, broken('garbage_block1', out, ['--skip_sanity_check']));
    expect(r.code, r.err).toBe(0);
    expect(r.err).not.toMatch(/sanity/);
  });

  it('a result that is not a number fails too, naming the first block whose output is not finite', async () => {
    const out = join(work.dir, 'nan');
    const r = await runFrom(root, broken('huge_block2', out, ['--format', 'fake']));
    expect(r.code, r.err).toBe(1);
    expect(r.err).toMatch(/sanity check failed: .*has perplexity (NaN|Infinity)/);
    expect(r.err).toMatch(/Block 2 is the first whose output is not finite/);
    expect(existsSync(join(out, 'config.json'))).toBe(true);
  });

  it('probes the first format that can be read back, once, and warns when none can', async () => {
    const both = join(work.dir, 'two-formats');
    const r = await runFrom(root, rtn(both, ['--format', 'unreadable,auto_gptq']));
    expect(r.code, r.err).toBe(0);
    expect(r.err.match(/sanity probe:/g)).toHaveLength(1);
    expect(r.err).toMatch(/read back from .*auto_gptq \(auto_gptq\)/);
    const none = join(work.dir, 'unreadable');
    const u = await runFrom(root, rtn(none, ['--format', 'unreadable']));
    expect(u.code, u.err).toBe(0);
    expect(u.err).toMatch(/sanity probe skipped: no installed reader for unreadable/);
  });
});
