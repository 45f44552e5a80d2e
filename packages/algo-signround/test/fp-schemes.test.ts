// The floating-point schemes end to end on stories260K (docs/algorithms/fp-qdq.md): RTN, calibrated RTN and
// SignRound through the host, the fields exporters read, static activation ranges, activation quantization in
// the in-memory evaluation, and bad layouts refused before any work.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AutoRound, PerplexityBench, silentLogger } from '@autoround/autoround';
import { AutoRoundError, type QuantizedWeight } from '@autoround/core';
import { decodeElement } from '@autoround/quant-types';
import signround from '../src/index.js';
import { HAS_SHARED, STORIES, TINYSTORIES, needsShared, tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

describe.skipIf(!HAS_SHARED)(needsShared('floating-point schemes on stories260K'), () => {
  const calib = join(work.dir, 'calib.txt');
  let evalText = '';
  beforeAll(() => {
    const text = readFileSync(TINYSTORIES, 'utf8');
    writeFileSync(calib, text.slice(0, 100_000));
    evalText = text.slice(-4000);
  });
  const run = async (scheme: string, extra: Record<string, unknown> = {}) => {
    const ar = new AutoRound(STORIES, { scheme, iters: 0, dataset: `${calib}:concat`, nsamples: 8, seqlen: 128, log: silentLogger, skipSanityCheck: true, discoverPlugins: false, plugins: [signround], ...extra });
    const res = await ar.quantizeAndSave(join(work.dir, `${scheme}-${Object.keys(extra).join('-')}-${Math.random()}`), { format: 'fake', keepQdq: true });
    return { ar, res };
  };

  it('MXFP4 RTN: codes and E8M0 scales decode to the QDQ; layers whose width is not a multiple of 32 stay in full precision', async () => {
    const { ar, res } = await run('MXFP4', { disableOptRtn: true });
    const names = [...res.qdq.keys()];
    expect(names.some((n) => n.endsWith('mlp.down_proj'))).toBe(false); // in_features 172
    expect(names.some((n) => n.endsWith('self_attn.q_proj'))).toBe(true);
    const q = res.qdq.get(names[0]!)!;
    expect(q.element).toBe('e2m1');
    expect(q.scaleFormat).toBe('e8m0');
    for (let i = 0; i < q.qdq.length; i++) {
      const g = Math.floor(i / 32);
      expect(decodeElement(q.codes![i]!, 'e2m1') * 2 ** (q.scaleCodes![g]! - 127)).toBe(q.qdq[i] === 0 ? 0 : q.qdq[i]);
    }
    // the evaluation quantizes activations too: W4A4 differs from the same weights with 16-bit activations
    const bench = new PerplexityBench(await ar.registry(), await ar.load(), await ar.backend(), evalText, { seqlen: 128 });
    const w4a4 = bench.runQuantized(res.qdq).perplexity;
    const w4a16 = bench.runQuantized(new Map([...res.qdq].map(([n, x]): [string, QuantizedWeight] => [n, { ...x, scheme: { ...x.scheme, act_bits: 16 } }]))).perplexity;
    expect(Number.isFinite(w4a4)).toBe(true);
    expect(w4a4).not.toBe(w4a16);
    expect(w4a4).toBeGreaterThan(w4a16);
  });

  it('NVFP4: fused global scales for q/k/v and gate/up, calibrated input_global_scale (also with --disable_opt_rtn)', async () => {
    const { res } = await run('NVFP4', { disableOptRtn: true });
    const g = (n: string) => res.qdq.get(`model.layers.0.${n}`)!;
    expect(g('self_attn.q_proj').globalScale).toBe(g('self_attn.k_proj').globalScale);
    expect(g('self_attn.q_proj').globalScale).toBe(g('self_attn.v_proj').globalScale);
    expect(g('mlp.gate_proj').globalScale).toBe(g('mlp.up_proj').globalScale);
    const q = g('self_attn.q_proj');
    expect(q.actMax).toBeGreaterThan(0);
    expect(q.inputGlobalScale).toBe(Math.fround(2688 * Math.fround(1 / q.actMax!)));
    expect(q.scaleFormat).toBe('e4m3');
  });

  it('FP8_STATIC records actMax and input_scale = actMax/448', async () => {
    const { res } = await run('FP8_STATIC');
    for (const q of res.qdq.values()) {
      expect(q.inputScale).toBe(Math.fround(Math.fround(q.actMax!) / 448));
      expect(q.scales!.length).toBe(q.shape[0]);
    }
  });

  it('SignRound with MXFP4 weights and activations runs and emits the MX fields', async () => {
    const { res } = await run('MXFP4', { iters: 4 });
    const q = [...res.qdq.values()][0]!;
    expect(q.element).toBe('e2m1');
    expect(q.scaleCodes!.length).toBe(q.shape[0] * (q.shape[1] / 32));
  });

  it('a group size the type cannot take fails before any work, naming the layer', async () => {
    const ar = new AutoRound(STORIES, { scheme: 'NVFP4', groupSize: 32, iters: 0, dataset: `${calib}:concat`, nsamples: 2, seqlen: 64, log: silentLogger, discoverPlugins: false, plugins: [signround] });
    const e = await ar.quantizeAndSave(join(work.dir, 'bad'), { format: 'fake' }).then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(AutoRoundError);
    expect((e as AutoRoundError).code).toBe('E_GROUP_SIZE');
    expect((e as Error).message).toMatch(/model\.layers\.\d+\.\S+: nv_fp4 takes group_size 16, got 32/);
  });
});
