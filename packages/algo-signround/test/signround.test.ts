import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { QdqParams, quantizeDequantize } from '@autoround/core-tensor';
import { completeScheme, PyRandom } from '@autoround/core';
import { quantizeInt } from '@autoround/algo-rtn';
import { AutoRound, memoryLogger, writeDemoModel } from '@autoround/autoround';
import signround, { IndexSampler, layerLr } from '../src/index.js';
import { AdamW, SignSgd } from '../src/loop.js';
import { tempDir } from '../../../tools/testing/fixtures.js';

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
    const o = { iters: 200, batchSize: 8, gradientAccumulateSteps: 1, seed: 42, enableMinmaxTuning: true, enableQuantedInput: true, notUseBestMse: false, dynamicMaxGap: -1, momentum: 0, enableAlgExt: false, nblocks: 1, enableAdam: false };
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

describe('SignRound end to end', () => {
  it('lowers every block loss and is deterministic for a seed', async () => {
    const model = join(work.dir, 'm');
    writeDemoModel(model, { hidden: 64, intermediate: 128, layers: 2, heads: 2, kvHeads: 1 });
    const { writeFileSync } = await import('node:fs');
    const calib = join(work.dir, 'calib.txt');
    writeFileSync(calib, 'The quick brown fox jumps over the lazy dog. '.repeat(400));
    const run = async (out: string) => {
      const log = memoryLogger();
      const ar = new AutoRound(model, { bits: 2, groupSize: 32, sym: false, iters: 12, dataset: `${calib}:concat`, nsamples: 8, seqlen: 32, batchSize: 4, log, discoverPlugins: false, plugins: [signround] });
      const res = await ar.quantizeAndSave(join(work.dir, out), { format: 'fake', keepQdq: true });
      return { res, log };
    };
    const a = await run('a');
    const losses = a.log.lines.filter((l) => l.includes('loss iter 0'));
    expect(losses.length).toBe(2);
    for (const l of losses) {
      const m = /loss iter 0: ([\d.e-]+) -> iter (\d+): ([\d.e-]+)/.exec(l)!;
      expect(Number(m[3])).toBeLessThanOrEqual(Number(m[1]));
    }
    const b = await run('b');
    for (const [name, q] of a.res.qdq) expect(Buffer.compare(Buffer.from(q.qdq.buffer), Buffer.from(b.res.qdq.get(name)!.qdq.buffer))).toBe(0);
  });

  it('SignRoundV2 (enableAlgExt) starts W2 sym from the importance-weighted scales: a lower first loss in every block, lower at best, deterministic', async () => {
    const model = join(work.dir, 'm2');
    writeDemoModel(model, { hidden: 64, intermediate: 128, layers: 2, heads: 2, kvHeads: 1 });
    const { writeFileSync } = await import('node:fs');
    const calib = join(work.dir, 'calib2.txt');
    // blank lines: a text file is split into documents there, and each document gives at most one sample
    writeFileSync(calib, 'Once upon a time a small cat sat by the warm fire and told stories. A dog came in from the rain.\n\n'.repeat(300));
    const run = async (out: string, extra: { enableAlgExt?: boolean; momentum?: number }) => {
      const log = memoryLogger();
      const ar = new AutoRound(model, { bits: 2, groupSize: 32, sym: true, iters: 12, dataset: `${calib}:concat`, nsamples: 8, seqlen: 32, batchSize: 4, log, discoverPlugins: false, plugins: [signround], ...extra });
      const res = await ar.quantizeAndSave(join(work.dir, out), { format: 'fake', keepQdq: true });
      const losses = log.lines.filter((l) => l.includes('loss iter 0')).map((l) => {
        const m = /loss iter 0: ([\d.e-]+) -> iter (\d+): ([\d.e-]+)/.exec(l)!;
        return { first: Number(m[1]), best: Number(m[3]) };
      });
      return { res, losses };
    };
    const plain = await run('plain', {});
    const ext = await run('ext', { enableAlgExt: true });
    expect(ext.losses).toHaveLength(2);
    ext.losses.forEach((l, b) => {
      expect(l.first, `block ${b}`).toBeLessThan(plain.losses[b]!.first);
      expect(l.best).toBeLessThanOrEqual(l.first);
    });
    const again = await run('ext2', { enableAlgExt: true });
    for (const [name, q] of ext.res.qdq) expect(Buffer.compare(Buffer.from(q.qdq.buffer), Buffer.from(again.res.qdq.get(name)!.qdq.buffer))).toBe(0);
    const mom = await run('mom', { enableAlgExt: true, momentum: 0.9 });
    expect([...mom.res.qdq].some(([name, q]) => Buffer.compare(Buffer.from(q.qdq.buffer), Buffer.from(ext.res.qdq.get(name)!.qdq.buffer)) !== 0)).toBe(true);
  });

  it('nblocks 2 tunes both blocks of the demo model as one: one log line for blocks 1-2, a lower loss, every layer emitted, deterministic', async () => {
    const model = join(work.dir, 'm3');
    writeDemoModel(model, { hidden: 64, intermediate: 128, layers: 2, heads: 2, kvHeads: 1 });
    const { writeFileSync } = await import('node:fs');
    const calib = join(work.dir, 'calib3.txt');
    writeFileSync(calib, 'The little boat sailed across the quiet lake at dawn, and the birds sang.\n\n'.repeat(300));
    const run = async (out: string, nblocks: number) => {
      const log = memoryLogger();
      const ar = new AutoRound(model, { bits: 2, groupSize: 32, sym: false, iters: 12, dataset: `${calib}:concat`, nsamples: 8, seqlen: 32, batchSize: 4, log, discoverPlugins: false, plugins: [signround], nblocks });
      const res = await ar.quantizeAndSave(join(work.dir, out), { format: 'fake', keepQdq: true });
      return { res, lines: log.lines.filter((l) => l.includes('loss iter 0')) };
    };
    const one = await run('nb1', 1);
    const two = await run('nb2', 2);
    expect(one.lines.map((l) => l.split(':')[0])).toEqual(['block 1/2', 'block 2/2']);
    expect(two.lines.map((l) => l.split(':')[0])).toEqual(['blocks 1-2/2']);
    const m = /loss iter 0: ([\d.e-]+) -> iter (\d+): ([\d.e-]+)/.exec(two.lines[0]!)!;
    expect(Number(m[3])).toBeLessThan(Number(m[1]));
    expect([...two.res.qdq.keys()].sort()).toEqual([...one.res.qdq.keys()].sort());
    expect([...two.res.qdq].some(([name, q]) => Buffer.compare(Buffer.from(q.qdq.buffer), Buffer.from(one.res.qdq.get(name)!.qdq.buffer)) !== 0)).toBe(true);
    const again = await run('nb2b', 2);
    for (const [name, q] of two.res.qdq) expect(Buffer.compare(Buffer.from(q.qdq.buffer), Buffer.from(again.res.qdq.get(name)!.qdq.buffer))).toBe(0);
  });

  it('enableAdam (AdamRound) tunes with AdamW: a lower loss in every block, output unlike sign-SGD\'s', async () => {
    const model = join(work.dir, 'm4');
    writeDemoModel(model, { hidden: 64, intermediate: 128, layers: 2, heads: 2, kvHeads: 1 });
    const { writeFileSync } = await import('node:fs');
    const calib = join(work.dir, 'calib4.txt');
    writeFileSync(calib, 'A red kite rose over the hill while the children ran after it, laughing.\n\n'.repeat(300));
    const run = async (out: string, enableAdam: boolean) => {
      const log = memoryLogger();
      const ar = new AutoRound(model, { bits: 2, groupSize: 32, sym: false, iters: 12, dataset: `${calib}:concat`, nsamples: 8, seqlen: 32, batchSize: 4, log, discoverPlugins: false, plugins: [signround], enableAdam });
      const res = await ar.quantizeAndSave(join(work.dir, out), { format: 'fake', keepQdq: true });
      return { res, lines: log.lines.filter((l) => l.includes('loss iter 0')) };
    };
    const adam = await run('adam', true);
    const sign = await run('sign', false);
    expect(adam.lines).toHaveLength(2);
    for (const l of adam.lines) {
      const m = /loss iter 0: ([\d.e-]+) -> iter (\d+): ([\d.e-]+)/.exec(l)!;
      expect(Number(m[3])).toBeLessThan(Number(m[1]));
    }
    expect([...adam.res.qdq].some(([name, q]) => Buffer.compare(Buffer.from(q.qdq.buffer), Buffer.from(sign.res.qdq.get(name)!.qdq.buffer)) !== 0)).toBe(true);
  });
});
