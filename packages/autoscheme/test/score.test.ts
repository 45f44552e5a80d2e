// The delta-loss scores' ingredients: the block-wise backward's weight gradients against central differences of
// the same loss, and the first-order estimate against the loss change of quantizing one layer alone.
import { describe, expect, it } from 'vitest';
import { Checkpoint, type KernelBackend } from '@autoround/core-tensor';
import { type BlockTunableCausalLM, fullName, isBlockTunable, presetScheme, readConfig } from '@autoround/core';
import { jsGemm, nativeBackend } from '@autoround/kernels-cpu';
import { llamaArchitecture } from '@autoround/models';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HAS_SHARED, LLAMA256, SHARED, STORIES, mulberry32, needsShared } from '@autoround/testing';
import { deltaLoss, deltaLossScores, lossGradients, meanLoss, rtnQdq, type ScoreReduction, type ScoringModel } from '../src/index.js';

const backend: KernelBackend = nativeBackend.available() ? nativeBackend.create({ threads: 1 }) : { name: 'js', threads: 1, gemm: jsGemm };

function open(dir: string): { model: BlockTunableCausalLM; ckpt: Checkpoint; layers: { name: string; out: number; inF: number }[] } {
  const config = readConfig(dir);
  const spec = llamaArchitecture.describe(config, `${dir}/config.json`);
  const ckpt = Checkpoint.open(dir);
  const model = llamaArchitecture.load(spec, ckpt, backend);
  if (!isBlockTunable(model)) throw new Error('not block-tunable');
  const layers = spec.blocks.flatMap((b) => b.linears.map((l) => ({ name: fullName(b, l), out: l.outFeatures, inF: l.inFeatures })));
  return { model, ckpt, layers };
}

function randomSamples(n: number, T: number, vocab: number, seed: number): Int32Array[] {
  const r = mulberry32(seed);
  return Array.from({ length: n }, () => Int32Array.from({ length: T }, () => Math.floor(r() * vocab)));
}

/** n windows of T tokens of the C4 calibration sample, one per record long enough. */
function c4Samples(dir: string, n: number, T: number): Int32Array[] {
  const tok = llamaArchitecture.tokenizer!(dir);
  const out: Int32Array[] = [];
  for (const line of readFileSync(join(SHARED, 'datasets/calibration/c4_sample_1480.text.jsonl'), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const ids = tok.encode((JSON.parse(line) as { text: string }).text);
    if (ids.length >= T) out.push(Int32Array.from(ids.slice(0, T)));
    if (out.length === n) break;
  }
  return out;
}

/** A scoring model whose QDQ weights are fixed arrays (so a test can perturb them). */
function fixedQdq(m: ReturnType<typeof open>, qdq: Map<string, Float32Array>): ScoringModel {
  return { model: m.model, spec: m.model.spec, backend, weight: (n) => m.ckpt.readFloat32(`${n}.weight`).data, qdq: (n) => qdq.get(n) };
}

function ranks(x: readonly number[]): number[] {
  const idx = x.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const r = new Array<number>(x.length);
  idx.forEach(([, i], k) => (r[i] = k));
  return r;
}

function spearman(a: readonly number[], b: readonly number[]): number {
  const ra = ranks(a);
  const rb = ranks(b);
  const n = a.length;
  const d2 = ra.reduce((s, v, i) => s + (v - rb[i]!) ** 2, 0);
  return 1 - (6 * d2) / (n * (n * n - 1));
}

describe.skipIf(!HAS_SHARED)('delta-loss scoring', () => {
  it(needsShared('stories260K: ∂L/∂Ŵ of the block-wise backward matches central differences of the mean LM loss'), async () => {
    const m = open(STORIES);
    const scheme = presetScheme('W3A16');
    const qdq = new Map(m.layers.map((l) => [l.name, rtnQdq(l.name, scheme, m.ckpt.readFloat32(`${l.name}.weight`).data, l.out, l.inF)]));
    const sm = fixedQdq(m, qdq);
    const data = { samples: randomSamples(3, 24, m.model.spec.vocabSize, 5), batchSize: 2 };
    const grads = new Map<string, Float32Array>();
    const { loss } = await lossGradients(sm, data, (n, g) => grads.set(n, g.slice()));
    expect(loss).toBeCloseTo(meanLoss(sm, data), 4);
    for (const layer of ['model.layers.0.self_attn.q_proj', 'model.layers.2.mlp.down_proj', 'model.layers.4.self_attn.v_proj']) {
      const g = grads.get(layer)!;
      // the three largest gradient entries of the layer
      const top = [...g.keys()].sort((a, b) => Math.abs(g[b]!) - Math.abs(g[a]!)).slice(0, 3);
      const w = qdq.get(layer)!;
      for (const j of top) {
        const h = 2e-2;
        const keep = w[j]!;
        w[j] = keep + h;
        const up = meanLoss(sm, data);
        w[j] = keep - h;
        const down = meanLoss(sm, data);
        w[j] = keep;
        const fd = (up - down) / (2 * h);
        expect(Math.abs(fd - g[j]!)).toBeLessThan(0.03 * Math.abs(g[j]!) + 2e-5);
      }
    }
  }, 120_000);

  it(needsShared('stories260K: the activation term is |∂L/∂x̂ · (x − x̂)|, ∂L/∂x̂ against central differences of the mean loss'), async () => {
    const m = open(STORIES);
    const sm0 = fixedQdq(m, new Map());
    // one sample: the forward and the graph see the same rows, and one entry is shifted once
    const T = 24;
    const data = { samples: randomSamples(1, T, m.model.spec.vocabSize, 11), batchSize: 1 };
    const base = meanLoss(sm0, data);
    let checked = 0;
    for (const [layer, row, col] of [
      ['model.layers.1.mlp.down_proj', T - 3, 5],
      ['model.layers.3.self_attn.o_proj', 4, 7],
      ['model.layers.0.mlp.gate_proj', 6, 3],
      ['model.layers.2.self_attn.q_proj', 9, 10],
    ] as const) {
      // x̂ = x + δ at one entry of one layer's input: the term is |g·δ|, g = ∂L/∂x̂ at that entry
      const shifted = (d: number): ScoringModel => ({
        ...sm0,
        actQdq: (n, x, rows, inF) => {
          if (n !== layer) return undefined;
          const y = x.slice();
          y[row * inF + col]! += d;
          return y;
        },
      });
      const terms = new Map<string, number>();
      await lossGradients(shifted(0), data, () => undefined, undefined, (n, t) => terms.set(n, (terms.get(n) ?? 0) + t));
      expect([...terms.keys()]).toEqual([layer]);
      expect(terms.get(layer)).toBe(0);
      const h = 0.05;
      const scored = await deltaLossScores(shifted(h), data, 'batch');
      // with no weight quantized, the score is the activation term alone
      const term = scored.scores.get(layer)!;
      const fd = (meanLoss(shifted(h), data) - meanLoss(shifted(-h), data)) / 2;
      expect(Math.abs(scored.loss - meanLoss(shifted(h), data))).toBeLessThan(1e-5);
      expect(Math.abs(term - Math.abs(fd))).toBeLessThan(0.05 * Math.abs(fd) + 2e-6);
      if (Math.abs(fd) > 1e-5) checked++;
      // the term is a mean over batches (the original's act_cnt), of gradients of each batch's share of the mean loss:
      // the same sample in two batches halves each batch's gradient, so the mean is half (a sum would keep it whole)
      const twice = await deltaLossScores(shifted(h), { samples: [data.samples[0]!, data.samples[0]!], batchSize: 1 }, 'batch');
      expect(twice.scores.get(layer)!).toBeCloseTo(term / 2, 7);
      expect(base).toBeGreaterThan(0);
    }
    expect(checked).toBeGreaterThanOrEqual(3);
  }, 120_000);

  it(needsShared('llama-256: the scores order layers as quantizing each one alone changes the loss (rank correlation)'), async () => {
    const m = open(LLAMA256);
    const scheme = presetScheme('W2A16');
    const data = { samples: c4Samples(LLAMA256, 8, 128), batchSize: 1 };
    const qdqAll = new Map(m.layers.map((l) => [l.name, rtnQdq(l.name, scheme, m.ckpt.readFloat32(`${l.name}.weight`).data, l.out, l.inF)]));
    // scores with only one layer quantized at a time are what the first-order estimate predicts for that layer
    const base = meanLoss(fixedQdq(m, new Map()), data);
    const picked = m.layers.filter((_, i) => i % 3 === 0);
    const actual: number[] = [];
    const est: Record<ScoreReduction, number[]> = { gradient: [], batch: [] };
    for (const l of picked) {
      const one = new Map([[l.name, qdqAll.get(l.name)!]]);
      for (const red of ['gradient', 'batch'] as const) {
        const r = await deltaLossScores(fixedQdq(m, one), data, red);
        est[red].push(r.scores.get(l.name)!);
        if (red === 'gradient') actual.push(r.loss - base);
      }
    }
    // also the scores of the all-layers pass, as AutoScheme computes them
    for (const red of ['gradient', 'batch'] as const) {
      const all = await deltaLossScores(fixedQdq(m, qdqAll), data, red);
      const rho = spearman(est[red], actual);
      const rhoAll = spearman(picked.map((l) => all.scores.get(l.name)!), actual);
      console.log(`rank correlation over ${picked.length} llama-256 layers, W2A16, reduction ${red}: one layer quantized ${rho.toFixed(3)}, all layers quantized ${rhoAll.toFixed(3)}`);
      expect(rho).toBeGreaterThan(0.6);
      expect(rhoAll).toBeGreaterThan(0.6);
    }
    expect(deltaLoss(new Float32Array([1, -2]), new Float32Array([1, 1]), new Float32Array([0.5, 2]))).toBeCloseTo(0.5 + 2, 12);
  }, 300_000);
});
