import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '@autoround/core-tensor';
import { QdqParams, quantizeDequantize } from '../src/quantizers/int-qdq.js';
import { completeScheme, PyRandom } from '@autoround/core';
import { quantizeInt } from '@autoround/quant-types';
import { writeFileSync } from 'node:fs';
import { AutoRound, type AutoRoundOptions, memoryLogger, writeDemoModel } from '@autoround/autoround';
import signround, { IndexSampler, layerLr } from '../src/index.js';
import { AdamW, SignSgd } from '../src/loop.js';
import { tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

describe('SignRound pieces', () => {
  it('packs exactly what the tuned QDQ computes (quantizeInt with V/alpha/beta = autograd forward)', () => {
    let s = 3;
    const r = () => ((s = (s * 16807) % 2147483647) / 2147483647);
    for (const [bits, sym, gs] of [[2, false, 32], [4, true, 32], [3, true, -1], [8, false, 64]] as const) {
      const out = 8;
      const inF = 96;
      const w = Float32Array.from({ length: out * inF }, () => Math.fround((r() - 0.5) * 0.1));
      const p = new QdqParams(w, out, inF, { bits, groupSize: gs, sym });
      p.v.data.forEach((_, i) => (p.v.data[i] = Math.fround((r() - 0.5) * 0.8)));
      p.alpha!.data.forEach((_, i) => (p.alpha!.data[i] = Math.fround(0.6 + 0.4 * r())));
      p.beta!.data.forEach((_, i) => (p.beta!.data[i] = Math.fround(0.6 + 0.4 * r())));
      const a = quantizeDequantize(w, p).weight;
      const q = quantizeInt(w, out, inF, completeScheme({ bits, group_size: gs, sym, data_type: 'int' }), { v: p.v.data, minScale: p.alpha!.data, maxScale: p.beta!.data });
      for (let i = 0; i < a.length; i++) expect(a[i] === q.qdq[i]).toBe(true);
    }
  });

  it('samples indices like the original IndexSampler (reshuffle when the tail is short)', () => {
    const s = new IndexSampler(10, 4, new PyRandom(42));
    const a = s.next();
    const b = s.next();
    const c = s.next(); // only 2 left: reshuffle
    expect(new Set([...a, ...b]).size).toBe(8);
    expect(c.length).toBe(4);
    expect(new PyRandom(42).shuffle([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]).slice(0, 4)).toEqual(a);
  });

  it('uses lr = 1/iters, 2/iters for ≤3-bit layers from 1000 iterations on', () => {
    const o = { iters: 200, batchSize: 8, gradientAccumulateSteps: 1, seed: 42, enableMinmaxTuning: true, enableQuantedInput: true, notUseBestMse: false, dynamicMaxGap: -1, momentum: 0, enableAlgExt: false, nblocks: 1, enableAdam: false, enableNormBiasTuning: false, enableLfq: false, minExpertTokens: 64 };
    expect(layerLr(o, 2)).toBe(1 / 200);
    expect(layerLr({ ...o, iters: 1000 }, 2)).toBe(2 / 1000);
    expect(layerLr({ ...o, iters: 1000 }, 4)).toBe(1 / 1000);
    expect(layerLr({ ...o, lr: 5e-3 }, 2)).toBe(5e-3);
    expect(layerLr({ ...o, enableAdam: true }, 2)).toBe(0.005);
    expect(layerLr({ ...o, enableAdam: true, lr: 1e-3 }, 2)).toBe(1e-3);
  });
});

describe('sign-SGD with momentum', () => {
  it('steps on the sign of buf = μ·buf + grad (buf = grad at the first step); μ = 0 is the plain sign step', () => {
    const grads = [[1, -1], [-0.5, -1], [-0.5, 2]];
    const run = (mu: number) => {
      const opt = new SignSgd(mu);
      const x = Float32Array.from([0, 0]);
      const path: number[][] = [];
      for (const g of grads) {
        opt.step(x, g, 0.25);
        path.push(Array.from(x));
      }
      return path;
    };
    expect(run(0)).toEqual([[-0.25, 0.25], [0, 0.5], [0.25, 0.25]]);
    // μ = 0.9: buf0 = [1, −1]; buf1 = [0.4, −1.9]; buf2 = [−0.14, 0.29]
    expect(run(0.9)).toEqual([[-0.25, 0.25], [-0.5, 0.5], [-0.25, 0.25]]);
    expect(() => new SignSgd(1)).toThrow(/--momentum/);
  });
});

describe('AdamW (AdamRound)', () => {
  it('two steps equal torch.optim.AdamW with its defaults, computed by hand in float64', () => {
    const opt = new AdamW();
    const x = Float32Array.from([1, -0.5, 0]);
    const g1 = [0.2, -3, 0];
    const g2 = [-0.1, -1, 1e-3];
    const lr = 0.01;
    // by hand: decoupled weight decay, moments, bias corrections
    const ref = Array.from(x, Number);
    const m = [0, 0, 0];
    const v = [0, 0, 0];
    [g1, g2].forEach((g, k) => {
      const t = k + 1;
      for (let i = 0; i < 3; i++) {
        ref[i] = ref[i]! * (1 - lr * 0.01);
        m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
        v[i] = 0.999 * v[i]! + 0.001 * g[i]! * g[i]!;
        ref[i] = ref[i]! - (lr / (1 - 0.9 ** t)) * (m[i]! / (Math.sqrt(v[i]!) / Math.sqrt(1 - 0.999 ** t) + 1e-8));
      }
    });
    opt.step(x, g1, lr);
    opt.step(x, g2, lr);
    for (let i = 0; i < 3; i++) expect(x[i]).toBeCloseTo(ref[i]!, 6);
    // the first step moves every nonzero-gradient weight by ≈ lr against its gradient's sign (Adam's unit step)
    const y = Float32Array.from([0, 0]);
    new AdamW(0.9, 0.999, 1e-8, 0).step(y, [5, -1e-3], lr);
    expect(y[0]).toBeCloseTo(-lr, 6);
    expect(y[1]).toBeCloseTo(lr, 4);
  });
});

/** A 2-block demo model, calibrated on `text` (documents separated by blank lines, one sample each at most). */
function demoJob(name: string, text: string) {
  const model = join(work.dir, name);
  writeDemoModel(model, { hidden: 64, intermediate: 128, layers: 2, heads: 2, kvHeads: 1 });
  const calib = join(work.dir, `${name}.txt`);
  writeFileSync(calib, `${text}\n\n`.repeat(300));
  /** A W2G32 run of 12 iterations; its per-block log lines parsed. */
  return async (out: string, extra: Partial<AutoRoundOptions> = {}) => {
    const log = memoryLogger();
    const ar = new AutoRound(model, { bits: 2, groupSize: 32, sym: false, iters: 12, dataset: `${calib}:concat`, nsamples: 8, seqlen: 32, batchSize: 4, log, discoverPlugins: false, plugins: [signround], ...extra });
    const dir = join(work.dir, `${name}-${out}`);
    const res = await ar.quantizeAndSave(dir, { format: 'fake', keepQdq: true });
    const blocks = log.lines.filter((l) => l.includes('loss iter 0')).map((l) => {
      const m = /^(.*?): loss iter 0: ([\d.e-]+) -> iter (\d+): ([\d.e-]+)/.exec(l)!;
      return { label: m[1]!, first: Number(m[2]), best: Number(m[4]) };
    });
    return { qdq: res.qdq, tensors: res.tensors, blocks, raw: log.lines, dir, model };
  };
}

type Qdq = Awaited<ReturnType<ReturnType<typeof demoJob>>>['qdq'];
const sameWeights = (a: Qdq, b: Qdq) => [...a].every(([name, q]) => Buffer.compare(Buffer.from(q.qdq.buffer), Buffer.from(b.get(name)!.qdq.buffer)) === 0);

describe('SignRound end to end', () => {
  it('lowers every block loss and is deterministic for a seed', async () => {
    const run = demoJob('m1', 'The quick brown fox jumps over the lazy dog, and the dog sleeps on in the sun.');
    const a = await run('a');
    expect(a.blocks.length).toBe(2);
    for (const b of a.blocks) expect(b.best).toBeLessThanOrEqual(b.first);
    expect(sameWeights(a.qdq, (await run('b')).qdq)).toBe(true);
  });

  it('SignRoundV2 (enableAlgExt) starts W2 sym from the importance-weighted scales: a lower first loss in every block, lower at best, deterministic', async () => {
    const run = demoJob('m2', 'Once upon a time a small cat sat by the warm fire and told stories. A dog came in from the rain.');
    const plain = await run('plain', { sym: true });
    const ext = await run('ext', { sym: true, enableAlgExt: true });
    expect(ext.blocks).toHaveLength(2);
    ext.blocks.forEach((l, b) => {
      expect(l.first, `block ${b}`).toBeLessThan(plain.blocks[b]!.first);
      expect(l.best).toBeLessThanOrEqual(l.first);
    });
    expect(sameWeights(ext.qdq, (await run('ext2', { sym: true, enableAlgExt: true })).qdq)).toBe(true);
    expect(sameWeights(ext.qdq, (await run('mom', { sym: true, enableAlgExt: true, momentum: 0.9 })).qdq)).toBe(false);
  });

  it('nblocks 2 tunes both blocks of the demo model as one: one log line for blocks 1-2, a lower loss, every layer emitted, deterministic', async () => {
    const run = demoJob('m3', 'The little boat sailed across the quiet lake at dawn, and the birds sang.');
    const one = await run('nb1', { nblocks: 1 });
    const two = await run('nb2', { nblocks: 2 });
    expect(one.blocks.map((b) => b.label)).toEqual(['block 1/2', 'block 2/2']);
    expect(two.blocks.map((b) => b.label)).toEqual(['blocks 1-2/2']);
    expect(two.blocks[0]!.best).toBeLessThan(two.blocks[0]!.first);
    expect([...two.qdq.keys()].sort()).toEqual([...one.qdq.keys()].sort());
    expect(sameWeights(two.qdq, one.qdq)).toBe(false);
    expect(sameWeights(two.qdq, (await run('nb2b', { nblocks: 2 })).qdq)).toBe(true);
  });

  it('tunes a block beside a quantized layer it does not tune (a GGUF k-quant in an int run: RTN, fixed)', async () => {
    const run = demoJob('m7', 'The wind carried the kite over the fields until the string ran out at last.');
    const fixedLayer = 'model.layers.0.mlp.down_proj';
    const layerConfig = { [fixedLayer]: 'GGUF:Q4_K_S' };
    const mixed = await run('mixed', { layerConfig });
    const rtn = await run('rtn', { layerConfig, iters: 0, disableOptRtn: true });
    // the int loop (no GGUF whole-calibration pick), both blocks tuned, the fixed layer exactly its RTN weight
    expect(mixed.raw.some((l) => l.includes('loss on all calibration samples'))).toBe(false);
    expect(mixed.blocks).toHaveLength(2);
    for (const b of mixed.blocks) expect(b.best).toBeLessThanOrEqual(b.first);
    expect(Buffer.compare(Buffer.from(mixed.qdq.get(fixedLayer)!.qdq.buffer), Buffer.from(rtn.qdq.get(fixedLayer)!.qdq.buffer))).toBe(0);
    expect(sameWeights(mixed.qdq, (await run('mixed2', { layerConfig })).qdq)).toBe(true);
  });

  it("enableAdam (AdamRound) tunes with AdamW: a lower loss in every block, output unlike sign-SGD's", async () => {
    const run = demoJob('m4', 'A red kite rose over the hill while the children ran after it, laughing.');
    const adam = await run('adam', { enableAdam: true });
    expect(adam.blocks).toHaveLength(2);
    for (const b of adam.blocks) expect(b.best).toBeLessThan(b.first);
    expect(sameWeights(adam.qdq, (await run('sign')).qdq)).toBe(false);
  });

  it('dynamicMaxGap stops a block once its best loss is that many iterations old, and says so', async () => {
    const run = demoJob('m5', 'Grandma baked bread on Sunday and the whole street smelled of it until night.');
    const r = await run('gap', { iters: 60, dynamicMaxGap: 1 });
    expect(r.blocks).toHaveLength(2);
    const stops = r.raw.map((l) => /stopped early after (\d+) of 60 iterations/.exec(l)).filter((m) => m !== null);
    expect(stops.length).toBeGreaterThan(0);
    for (const m of stops) expect(Number(m[1])).toBeLessThan(60);
  });

  it('enableNormBiasTuning tunes the norm weights too: they change, the written model holds exactly them, a plain run writes the source ones', async () => {
    const run = demoJob('m6', 'The old lighthouse keeper climbed the stairs every evening to light the lamp.');
    const plain = await run('plain');
    const nb = await run('nb', { enableNormBiasTuning: true });
    expect(plain.tensors.size).toBe(0);
    const names = [...nb.tensors.keys()].sort();
    expect(names).toEqual(['model.layers.0.input_layernorm.weight', 'model.layers.0.post_attention_layernorm.weight', 'model.layers.1.input_layernorm.weight', 'model.layers.1.post_attention_layernorm.weight']);
    const src = Checkpoint.open(nb.model);
    const out = Checkpoint.open(nb.dir);
    let changed = 0;
    for (const n of names) {
      const written = out.readFloat32(n).data;
      expect(written, n).toEqual(nb.tensors.get(n));
      if (written.some((v, i) => v !== src.readFloat32(n).data[i])) changed++;
      expect(Checkpoint.open(plain.dir).readFloat32(n).data).toEqual(src.readFloat32(n).data);
    }
    expect(changed).toBeGreaterThan(0);
    for (const b of nb.blocks) expect(b.best).toBeLessThanOrEqual(b.first);
    expect(nb.blocks[0]!.first).toBe(plain.blocks[0]!.first); // every offset starts at 0: block 0 starts from the same loss
  });

  it('enableLfq tunes the last block on the LM loss of the next tokens: its log line is a cross-entropy, the others are unchanged', async () => {
    const run = demoJob('m7', 'A little fox found a red ball in the snow and carried it home to its mother.');
    const plain = await run('plain');
    const lfq = await run('lfq', { enableLfq: true });
    expect(lfq.blocks).toHaveLength(2);
    expect(lfq.blocks[0]).toEqual(plain.blocks[0]); // block 0: the same MSE tuning
    const ce = lfq.blocks[1]!;
    // a cross-entropy over the demo vocabulary (~350 tokens) of a random model: near its log, far above the block MSE
    expect(ce.first).toBeGreaterThan(3);
    expect(ce.first).toBeLessThan(8);
    expect(ce.best).toBeLessThanOrEqual(ce.first);
    expect(sameWeights(lfq.qdq, plain.qdq)).toBe(false);
    // with gradient accumulation the iteration's loss is the sum of its micro-batches' means, as for the MSE:
    // two micro-batches of 2 give about twice the cross-entropy, not the mean divided by batch·T·hidden
    const gas = await run('lfq-gas', { enableLfq: true, batchSize: 2, gradientAccumulateSteps: 2 });
    expect(gas.blocks[1]!.first).toBeGreaterThan(1.5 * ce.first);
    expect(gas.blocks[1]!.first).toBeLessThan(2.5 * ce.first);
  });
});
