import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '@autoround/core-tensor';
import { presetScheme } from '@autoround/core';
import { exportGguf, ggufExporter, ggufLayerTypes, readGgufWeights } from '../src/index.js';
import { planGguf } from '../src/export.js';
import { GGMLType, ggufQuantizedWeight } from '@autoround/quant-types';
import { readConfig } from '@autoround/core';
import { permuteRows, reversePermuteRowBytes, reversePermuteRows } from '../src/tensor-map.js';
import { exportContext, randn, rng, writeSynthModel } from './fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'gguf-qdq-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const llamaDir = join(tmp, 'llama3');
const weights = writeSynthModel(llamaDir, { kind: 'llama3', hidden: 256, heads: 4, kvHeads: 2, headDim: 64, inter: 512, layers: 2, vocab: 300, tied: false });

describe('GGUF types as QDQ', () => {
  it('ggufLayerTypes makes the choices the exporter plans (mix and fallbacks)', () => {
    const config = readConfig(llamaDir);
    const ck = Checkpoint.open(llamaDir);
    const sourceTensors = ck.names.map((n) => ({ name: n, shape: ck.info(n).shape }));
    ck.close();
    for (const ft of ['Q4_K_M', 'Q3_K_M', 'Q2_K', 'Q4_0']) {
      for (const hasImatrix of [false, true]) {
        const plan = planGguf({ config, modelDir: llamaDir, sourceTensors, fileType: ft, hasImatrix });
        const types = ggufLayerTypes({ config, sourceTensors, fileType: ft, hasImatrix });
        for (const p of plan.tensors) if (p.hfName && p.shape.length === 2) expect(types.get(p.hfName.replace(/\.weight$/, '')), `${ft} ${p.name}`).toBe(p.type);
      }
    }
  });

  it('the Q/K permutation of rows, of row bytes, and its inverse', () => {
    const x = Float32Array.from({ length: 16 * 3 }, (_, i) => i);
    const p = reversePermuteRows(x, 16, 3, 2);
    expect(permuteRows(p, 16, 3, 2)).toEqual(x);
    const bytes = Uint8Array.from(x);
    expect(Array.from(reversePermuteRowBytes(bytes, 16, 3, 2))).toEqual(Array.from(p));
  });
});

describe('the gguf session with algorithm results', () => {
  const cfg = readConfig(llamaDir);
  const ck = Checkpoint.open(llamaDir);
  const sourceTensors = ck.names.map((n) => ({ name: n, shape: ck.info(n).shape }));
  const linears = ck.names.filter((n) => /layers\.\d+\.(self_attn|mlp)\..*proj\.weight$/.test(n)).map((n) => n.slice(0, -7));
  ck.close();

  it('writes the block bytes an algorithm computed (Q/K permuted), byte-identical to exportGguf', async () => {
    const types = ggufLayerTypes({ config: cfg, sourceTensors, fileType: 'Q4_K_M', hasImatrix: false });
    const out = join(tmp, 'alg');
    mkdirSync(out, { recursive: true });
    const ctx = exportContext(llamaDir, out, 'gguf:q4_k_m');
    const s = ggufExporter.open(ctx);
    for (const n of ctx.checkpoint.names) if (!linears.some((l) => n === `${l}.weight`)) s.writeTensor(n, ctx.checkpoint.read(n));
    for (const l of linears) {
      const w = weights.get(`${l}.weight`)!;
      const [o, i] = ctx.checkpoint.info(`${l}.weight`).shape as [number, number];
      s.writeQuantized(l, ggufQuantizedWeight(presetScheme('GGUF:Q4_K_M'), w, o, i, types.get(l)!));
    }
    await s.finish();
    ctx.checkpoint.close();
    expect(ctx.log.lines.some((l) => /14 layers written as the algorithm quantized them, 0 quantized from float weights/.test(l))).toBe(true);
    const ref = join(tmp, 'ref.gguf');
    await exportGguf({ modelDir: llamaDir, outFile: ref, fileType: 'Q4_K_M', modelName: 'llama3' });
    expect(readFileSync(join(out, 'llama3-Q4_K_M.gguf')).equals(readFileSync(ref))).toBe(true);
  });

  it('uses the importance vector attached to a layer; a layer of another type is quantized again from floats', async () => {
    const types = ggufLayerTypes({ config: cfg, sourceTensors, fileType: 'Q3_K_M', hasImatrix: true });
    const out = join(tmp, 'alg-im');
    mkdirSync(out, { recursive: true });
    const ctx = exportContext(llamaDir, out, 'gguf:q3_k_m', { iters: 0, nsamples: 8 });
    const s = ggufExporter.open(ctx);
    const im = new Map<string, Float32Array>();
    for (const l of linears) {
      const w = weights.get(`${l}.weight`)!;
      const [o, i] = ctx.checkpoint.info(`${l}.weight`).shape as [number, number];
      const v = new Float32Array(i).map((_, k) => 0.1 + ((k * 7 + o) % 11));
      im.set(l, v);
      // one layer comes quantized to a type the file does not store for it
      const type = l === 'model.layers.1.mlp.up_proj' ? GGMLType.Q8_0 : types.get(l)!;
      s.writeQuantized(l, ggufQuantizedWeight(presetScheme('GGUF:Q3_K_M'), w, o, i, type, v));
    }
    await s.finish();
    ctx.checkpoint.close();
    expect(ctx.log.lines.some((l) => /model\.layers\.1\.mlp\.up_proj was quantized to Q8_0, the Q3_K_M file stores Q3_K: quantizing it again/.test(l))).toBe(true);
    const ref = join(tmp, 'ref-im.gguf');
    await exportGguf({ modelDir: llamaDir, outFile: ref, fileType: 'Q3_K_M', modelName: 'llama3', imatrix: im });
    expect(readFileSync(join(out, 'llama3-Q3_K_M.gguf')).equals(readFileSync(ref))).toBe(true);
  });

  it('reads a written folder back as HF float weights: detect, read, Q/K order and shapes', async () => {
    const out = join(tmp, 'f32');
    mkdirSync(out, { recursive: true });
    const ctx = exportContext(llamaDir, out, 'gguf:f32');
    const s = ggufExporter.open(ctx);
    await s.finish();
    ctx.checkpoint.close();
    const config = readConfig(out);
    expect(ggufExporter.detect!(config)).toBe(true);
    expect(ggufExporter.detect!(cfg)).toBe(false);
    const ws = ggufExporter.read!(out, config);
    const src = Checkpoint.open(llamaDir);
    for (const [name, w] of weights) {
      if (name.endsWith('inv_freq')) {
        expect(ws.has(name)).toBe(false); // the converter drops it
        continue;
      }
      expect(ws.has(name), name).toBe(true);
      const t = ws.readFloat32(name);
      expect(t.shape).toEqual(src.info(name).shape);
      expect(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(w.buffer, w.byteOffset, w.byteLength)), name).toBe(true);
    }
    src.close();
    expect(ws.has('rope_freqs.weight')).toBe(false);
    // the same through the file alone, quantized: close to the float weights
    const q8 = join(tmp, 'q8.gguf');
    await exportGguf({ modelDir: llamaDir, outFile: q8, fileType: 'Q8_0' });
    const r = readGgufWeights(q8);
    const a = r.readFloat32('model.layers.1.self_attn.q_proj.weight').data;
    const b = weights.get('model.layers.1.self_attn.q_proj.weight')!;
    let err = 0;
    let ref = 0;
    for (let i = 0; i < a.length; i++) {
      err += (a[i]! - b[i]!) ** 2;
      ref += b[i]! ** 2;
    }
    expect(err / ref).toBeLessThan(1e-4);
  });
});
