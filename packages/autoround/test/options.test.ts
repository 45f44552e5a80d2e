// Issue #13 items 12, 13 and 15 at the API: every numeric option's range is checked by the AutoRound
// constructor (named as the option), options that would be silently ignored are errors or one warning.
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rtnAlgorithm } from '@autoround/algo-rtn';
import { definePlugin, isAutoRoundError, resolveLayerSchemes, presetScheme } from '@autoround/core';
import { evalWindows } from '@autoround/eval';
import gguf from '@autoround/export-gguf';
import { AutoRound, type AutoRoundOptions, OPTION_RANGES, memoryLogger, openModel, validateOptions, writeDemoModel } from '../src/index.js';
import { createRegistry } from '../src/registry.js';
import { tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

/** The error `fn` throws (an AutoRoundError), or a failed expectation. */
function errorOf(fn: () => unknown): { code: string; message: string; subject: string | undefined } {
  try {
    fn();
  } catch (e) {
    expect(isAutoRoundError(e), String(e)).toBe(true);
    return e as { code: string; message: string; subject: string | undefined };
  }
  throw new Error('expected an error');
}

/** A third-party algorithm (RTN under another name) declaring two options; `record` gets the knobSteps it ran with. */
function knobPlugin(record?: (knobSteps: unknown) => void) {
  return definePlugin({
    name: 'knob-plugin',
    algorithms: [
      {
        ...rtnAlgorithm,
        name: 'knobbed',
        description: 'RTN that records its option',
        options: [
          { name: 'knobSteps', flag: 'knob_steps', type: 'integer', default: 3, help: 'steps of the knob', range: { min: 1, max: 10 } },
          { name: 'knobOn', flag: 'knob_on', type: 'boolean', help: 'turn the knob' },
        ],
        run: (session) => (record?.(session.options.knobSteps), rtnAlgorithm.run(session)),
      },
    ],
  });
}

describe('numeric option ranges (item 12)', () => {
  // each value silently cancelled or changed the work before (exit 0)
  const bad: [keyof AutoRoundOptions, unknown, RegExp][] = [
    ['threads', 0, /threads must be an integer ≥ 1/],
    ['threads', -3, /threads must be an integer ≥ 1/],
    ['iters', 1e9, /iters must be an integer ≥ 0 and ≤ 1000000, got 1000000000/],
    ['iters', -1, /iters must be an integer ≥ 0/],
    ['iters', 2.5, /iters must be an integer/],
    ['bits', 0, /bits must be an integer ≥ 1 and ≤ 16/],
    ['bits', 17, /bits must be an integer ≥ 1 and ≤ 16/],
    ['groupSize', -2, /groupSize must be an integer ≥ 1 .*or 0 \(one group per tensor\) or -1 \(one group per output channel\), got -2/],
    ['nsamples', 0, /nsamples must be an integer ≥ 1/],
    ['seqlen', 0, /seqlen must be an integer ≥ 1/],
    ['batchSize', 0, /batchSize must be an integer ≥ 1/],
    ['seed', -1, /seed must be an integer ≥ 0/],
    ['seed', 1.5, /seed must be an integer/],
    ['maxShardSize', '0', /maxShardSize must be a size of at least one byte/],
    ['maxShardSize', 'lots', /maxShardSize must be a size of at least one byte/],
    ['maxShardSize', -5, /maxShardSize must be a size of at least one byte/],
  ];
  for (const [option, value, message] of bad) {
    it(`new AutoRound(model, { ${option}: ${String(value)} }) is an error naming the option`, () => {
      const e = errorOf(() => new AutoRound('unused', { [option]: value, log: memoryLogger() }));
      expect(e.message).toMatch(message);
      expect(e.subject).toBe(option);
    });
  }

  it('the CLI naming reports the same ranges under the flags', () => {
    expect(errorOf(() => validateOptions({ batchSize: 0 }, 'flag')).message).toMatch(/^--batch_size must be an integer ≥ 1/);
    expect(errorOf(() => validateOptions({ evalMaxTokens: -1 }, 'flag')).message).toBe('--eval_max_tokens must be an integer ≥ 1, got -1');
    expect(errorOf(() => validateOptions({ evalSeqlen: 1 }, 'flag')).subject).toBe('--eval_seqlen');
  });

  it('accepts the ends of every range and the defaults', () => {
    for (const r of OPTION_RANGES) {
      const lo = r.minExclusive ? r.min + 1e-6 : r.min;
      const hi = r.max === Number.POSITIVE_INFINITY ? 1e6 : r.maxExclusive ? r.max - 1e-6 : r.max;
      expect(() => validateOptions({ [r.option]: lo }), `${r.option} ${lo}`).not.toThrow();
      expect(() => validateOptions({ [r.option]: hi }), `${r.option} ${hi}`).not.toThrow();
    }
    expect(() => new AutoRound('unused', { groupSize: -1, maxShardSize: '500MB', log: memoryLogger() })).not.toThrow();
    expect(() => new AutoRound('unused', { groupSize: 0, maxShardSize: 1, log: memoryLogger() })).not.toThrow();
  });

  // an algorithm's options are declared by the algorithm (AlgorithmPlugin.options); SignRound's ranges are
  // tested in packages/algo-signround/test/options.test.ts, through the CLI in packages/cli/test/option-checks.test.ts
  const knob = knobPlugin();

  it("an installed algorithm's declared option is checked once the registry is known, named as the option", async () => {
    const bad = async (o: AutoRoundOptions) =>
      new AutoRound('unused', { plugins: [knob], discoverPlugins: false, log: memoryLogger(), ...o }).registry().then(
        () => null,
        (x: unknown) => x as { message: string; subject: string },
      );
    expect(await bad({ algorithmOptions: { knobSteps: 11 } })).toMatchObject({ message: 'knobSteps must be an integer ≥ 1 and ≤ 10, got 11', subject: 'knobSteps' });
    expect(await bad({ algorithmOptions: { knobOn: 'yes' } })).toMatchObject({ message: 'knobOn must be true or false, got "yes"' });
    expect(await bad({ algorithmOptions: { knobSteps: 10, knobOn: true } })).toBeNull();
    expect(errorOf(() => validateOptions({ algorithmOptions: { knobSteps: 0 } }, 'flag', knob.algorithms!)).message).toBe('--knob_steps must be an integer ≥ 1 and ≤ 10, got 0');
  });

  it('perplexity refuses a token limit below 1 (a negative one cut tokens from the end of the text)', () => {
    const ids = Int32Array.from({ length: 20 }, (_, i) => i + 2);
    expect(() => evalWindows(ids, { seqlen: 4, maxTokens: -1 })).toThrow(/maxTokens \(--eval_max_tokens\) must be an integer ≥ 1, got -1/);
    expect(() => evalWindows(ids, { seqlen: 4, maxTokens: 0 })).toThrow(/must be an integer ≥ 1, got 0/);
    expect(evalWindows(ids, { seqlen: 4, maxTokens: 6 }).length).toBeGreaterThan(0);
  });
});

describe('options that were silently ignored (item 13)', () => {
  const demo = join(work.dir, 'demo');
  // a stand-in tuning algorithm with aliases (SignRound lives in @autoround/algo-signround, not a dependency here)
  const tuner = definePlugin({ name: 'tuner-plugin', algorithms: [{ ...rtnAlgorithm, name: 'tuner', aliases: ['tune', 'tuning'], description: 'a tuning stand-in' }] });
  writeDemoModel(demo, { hidden: 64, intermediate: 96, layers: 1, heads: 2, kvHeads: 1 });

  it('--bits / --group_size / --asym with a gguf format: one warning saying the GGUF type decides', async () => {
    const log = memoryLogger();
    const ar = new AutoRound('unused', { bits: 8, groupSize: 64, sym: false, plugins: [gguf], discoverPlugins: false, log });
    const s = await ar.scheme(['gguf:q4_0']);
    expect([s.bits, s.group_size, s.sym]).toEqual([4, 32, true]);
    await ar.scheme(['gguf:q4_0']);
    const warned = log.lines.filter((l) => /ignored/.test(l));
    expect(warned).toEqual(['warning: --bits 8, --group_size 64, --asym ignored: with --format gguf:q4_0 the GGUF file type decides how each layer is quantized (int4 sym g32)']);
  });

  it('--bits with a GGUF:* scheme: one warning too; no warning without overrides', async () => {
    const log = memoryLogger();
    expect((await new AutoRound('unused', { scheme: 'GGUF:Q4_K_M', bits: 2, plugins: [gguf], discoverPlugins: false, log }).scheme(['fake'])).bits).toBe(4);
    expect(log.lines.some((l) => /--bits 2 ignored: --scheme GGUF:Q4_K_M fixes bits, group_size, sym and data_type/.test(l))).toBe(true);
    const quiet = memoryLogger();
    await new AutoRound('unused', { plugins: [gguf], discoverPlugins: false, log: quiet }).scheme(['gguf:q4_0']);
    await new AutoRound('unused', { bits: 8, plugins: [gguf], discoverPlugins: false, log: quiet }).scheme(['auto_round']);
    expect(quiet.lines.filter((l) => l.startsWith('warning'))).toEqual([]);
  });

  it('--ignore_layers naming no layer is an error naming the pattern; lm_head (kept anyway) is not', async () => {
    const registry = await createRegistry({ discover: false });
    const model = openModel(registry, demo);
    try {
      const e = errorOf(() => resolveLayerSchemes(model.spec, presetScheme('W4A16'), { ignoreLayers: 'mlp.down_proj,self_atn' }));
      expect(e.message).toMatch(/--ignore_layers \/ --fp_layers: "self_atn" names no layer of the model \(layers are named like model\.layers\.0\.self_attn\.q_proj\)/);
      expect(e.subject).toBe('--ignore_layers');
      const m = resolveLayerSchemes(model.spec, presetScheme('W4A16'), { ignoreLayers: 'mlp.down_proj, lm_head, layers.0' });
      expect(m.get('model.layers.0.mlp.down_proj')).toBeNull();
    } finally {
      model.checkpoint.close();
    }
  });

  it('--layer_config: an unknown key, a value of the wrong type, an entry that is no scheme, a pattern matching nothing', async () => {
    const registry = await createRegistry({ discover: false });
    const model = openModel(registry, demo);
    const lc = (layerConfig: Record<string, unknown>) => errorOf(() => resolveLayerSchemes(model.spec, presetScheme('W4A16'), { layerConfig: layerConfig as never })).message;
    try {
      expect(lc({ 'mlp.down_proj': { bits: 8, groupsize: 32 } })).toMatch(/^--layer_config "mlp\.down_proj": unknown key "groupsize" \(known: bits, group_size, sym/);
      expect(lc({ 'mlp.down_proj': { bits: '8' } })).toMatch(/--layer_config "mlp\.down_proj": "bits" must be a number, got "8"/);
      expect(lc({ 'mlp.down_proj': { sym: 'no' } })).toMatch(/"sym" must be a boolean/);
      expect(lc({ 'mlp.down_proj': 8 })).toMatch(/--layer_config "mlp\.down_proj": expected a scheme name \("W8A16"\) or an object of scheme fields/);
      expect(lc({ 'mlp.dwn_proj': { bits: 8 } })).toMatch(/--layer_config: "mlp\.dwn_proj" matches no quantizable layer/);
      const ok = resolveLayerSchemes(model.spec, presetScheme('W4A16'), { layerConfig: { 'mlp.down_proj': { bits: 8, group_size: 32, scale_dtype: 'fp32' } } });
      expect(ok.get('model.layers.0.mlp.down_proj')?.bits).toBe(8);
    } finally {
      model.checkpoint.close();
    }
  });

  it('an algorithm that is not installed (awq) fails before the model is read, listing the installed ones once each', async () => {
    const ar = new AutoRound(join(work.dir, 'no-such-model'), { algorithm: 'awq', iters: 0, log: memoryLogger(), plugins: [tuner], discoverPlugins: false });
    const e = await ar.quantizeAndSave(join(work.dir, 'out-awq')).then(
      () => null,
      (x: unknown) => x as Error,
    );
    expect(e?.message).toMatch(/unknown algorithm "awq" \(--algorithm\); installed algorithms: .*rtn/);
    expect(e?.message).toMatch(/installed algorithms: (.*, )?tuner \(or tune, tuning\)(, .*)?\./);
    expect(e?.message).toMatch(/"awq" is not implemented as an algorithm here: --format auto_awq writes its file layout/);
    expect(e?.message).not.toMatch(/no-such-model/);
  });

  it('a tuning --algorithm with iters 0 warns that RTN is used; --algorithm rtn with iters > 0 is an error; rtn alone means iters 0', async () => {
    const log = memoryLogger();
    const res = await new AutoRound(demo, { algorithm: 'tune', iters: 0, disableOptRtn: true, groupSize: 32, log, plugins: [tuner], discoverPlugins: false }).quantizeAndSave(join(work.dir, 'out-alg0'), { format: 'fake' });
    expect(res.quantizedLayers).toBeGreaterThan(0);
    expect(log.lines.some((l) => /--algorithm tune with --iters 0: round-to-nearest \(RTN\) is used, not tuner/.test(l))).toBe(true);
    const e = await new AutoRound(demo, { algorithm: 'rtn', iters: 5, log: memoryLogger() }).quantizeAndSave(join(work.dir, 'out-rtn5'), { format: 'fake' }).then(
      () => null,
      (x: unknown) => x as Error,
    );
    expect(e?.message).toMatch(/--algorithm rtn does not tune, but --iters 5 asks for 5 tuning iterations/);
    const rtnLog = memoryLogger();
    await new AutoRound(demo, { algorithm: 'rtn', disableOptRtn: true, groupSize: 32, log: rtnLog }).quantizeAndSave(join(work.dir, 'out-rtn'), { format: 'fake' });
    expect(rtnLog.lines.some((l) => /with rtn,/.test(l))).toBe(true);
  });
});

describe("an algorithm's declared options (docs/adr/0020-plugin-contract-v1.md#algorithm-options)", () => {
  const demo = join(work.dir, 'demo-knob');
  writeDemoModel(demo, { hidden: 64, intermediate: 96, layers: 1, heads: 2, kvHeads: 1 });
  const seen: unknown[] = [];
  const knob = knobPlugin((v) => seen.push(v));

  it('reach the algorithm in QuantizeOptions from algorithmOptions', async () => {
    await new AutoRound(demo, { algorithm: 'knobbed', iters: 1, groupSize: 32, algorithmOptions: { knobSteps: 7 }, plugins: [knob], discoverPlugins: false, log: memoryLogger() }).quantizeAndSave(join(work.dir, 'out-knob'), {
      format: 'fake',
    });
    expect(seen).toEqual([7]);
  });
});

describe('item 15b: the default seqlen on a model with fewer positions', () => {
  const demo = join(work.dir, 'demo-seqlen');
  // max_position_embeddings 512 (writeDemoModel's default), less than the default seqlen 2048
  writeDemoModel(demo, { hidden: 64, intermediate: 96, layers: 1, heads: 2, kvHeads: 1 });
  // an algorithm that asks for calibration (without reading it) and records the seqlen it was given
  const seen: number[] = [];
  const calibrated = definePlugin({
    name: 'calibrated-plugin',
    algorithms: [{ ...rtnAlgorithm, name: 'calibrated', description: 'RTN that asks for calibration', needsCalibration: () => true, run: (session) => (seen.push(session.options.seqlen), rtnAlgorithm.run(session)) }],
  });
  const opts = (o: AutoRoundOptions): AutoRoundOptions => ({ algorithm: 'calibrated', iters: 1, groupSize: 32, plugins: [calibrated], discoverPlugins: false, ...o });

  it('is lowered to max_position_embeddings with one line saying it is the default and how to choose', async () => {
    const log = memoryLogger();
    await new AutoRound(demo, opts({ log })).quantizeAndSave(join(work.dir, 'out-seqlen'), { format: 'fake' });
    expect(seen.at(-1)).toBe(512);
    const said = log.lines.filter((l) => /--seqlen/.test(l));
    expect(said).toEqual([expect.stringMatching(/^calibration samples of 512 tokens: the default --seqlen 2048 is longer than the model allows \(max_position_embeddings 512 in .*config\.json\); pass --seqlen N to choose another length$/)]);
  });

  it('a seqlen the caller gives is still an error', async () => {
    const e = await new AutoRound(demo, opts({ seqlen: 1024, log: memoryLogger() })).quantizeAndSave(join(work.dir, 'out-seqlen-given'), { format: 'fake' }).then(
      () => null,
      (x: unknown) => x as Error,
    );
    expect(e?.message).toMatch(/^--seqlen 1024 is longer than the model allows \(max_position_embeddings 512/);
  });
});
