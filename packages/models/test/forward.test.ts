import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint, SafetensorsFile } from '@autoround/core-tensor';
import { jsBackend } from '@autoround/kernels-cpu';
import { HAS_SHARED, LLAMA256, STORIES, needsShared } from '@autoround/testing';
import { describeLlama, LlamaModel, loadTokenizer, readConfig, ropeInvFreq } from '../src/index.js';

const be = jsBackend.create({});

describe.skipIf(!HAS_SHARED)(needsShared('stories260K forward'), () => {
  // Loaded in beforeAll, not while vitest collects the suite: a skipped suite's body still runs (issue #13 item 16).
  let spec: ReturnType<typeof describeLlama>;
  let model: LlamaModel;
  beforeAll(() => {
    spec = describeLlama(readConfig(STORIES), STORIES);
    model = new LlamaModel(spec, Checkpoint.open(STORIES), be);
  });

  it('describes the architecture declaratively', () => {
    expect(spec.blocks.length).toBe(5);
    expect(spec.tiedEmbeddings).toBe(true);
    expect(spec.blocks[0]!.linears.map((l) => `${l.name}:${l.outFeatures}x${l.inFeatures}`)).toEqual([
      'self_attn.q_proj:64x64',
      'self_attn.k_proj:32x64',
      'self_attn.v_proj:32x64',
      'self_attn.o_proj:64x64',
      'mlp.gate_proj:172x64',
      'mlp.up_proj:172x64',
      'mlp.down_proj:64x172',
    ]);
  });

  it('matches the reference logits (computed from the original llama2.c weights) to 1e-4', () => {
    const ref = SafetensorsFile.open(join(STORIES, 'reference/reference_logits.safetensors'));
    const ids = Int32Array.from(ref.read('input_ids').data as Int32Array);
    const want = ref.readFloat32('logits').data;
    const got = model.forward(ids);
    let max = 0;
    for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(want[i]! - got[i]!));
    expect(max).toBeLessThan(1e-4);
  });

  it('tokenizes the reference prompt to the reference ids', () => {
    const gen = JSON.parse(readFileSync(join(STORIES, 'reference/reference_generation.json'), 'utf8')) as Record<string, unknown>;
    const tok = loadTokenizer(STORIES);
    const prompt = gen.prompt as string;
    const ids = (gen.prompt_ids ?? gen.input_ids) as number[] | undefined;
    if (ids) expect(tok.encode(prompt)).toEqual(ids);
    expect(tok.bosTokenId).toBe(1);
    expect(tok.eosTokenId).toBe(2);
  });
});

describe.skipIf(!HAS_SHARED)(needsShared('llama-256 forward'), () => {
  it('runs untied GQA with head_dim 32 and produces finite logits of the right size', () => {
    const spec = describeLlama(readConfig(LLAMA256), LLAMA256);
    expect(spec.tiedEmbeddings).toBe(false);
    const m = new LlamaModel(spec, Checkpoint.open(LLAMA256), be);
    const tok = loadTokenizer(LLAMA256);
    const ids = Int32Array.from(tok.encode('Once upon a time'));
    const logits = m.forward(ids);
    expect(logits.length).toBe(ids.length * 512);
    expect(logits.every(Number.isFinite)).toBe(true);
  });
});

describe('rope', () => {
  it('applies llama3 scaling to low frequencies only', () => {
    const base = ropeInvFreq({ rope_theta: 500000 }, 128, 'c');
    const scaled = ropeInvFreq({ rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }, 128, 'c');
    expect(scaled[0]).toBe(base[0]); // highest frequency untouched
    expect(scaled[63]).toBeCloseTo(base[63]! / 8, 12); // lowest frequency divided by factor
    expect(() => ropeInvFreq({ rope_scaling: { rope_type: 'yarn' } }, 64, 'cfg.json')).toThrow(/cfg.json.*yarn/);
  });
});

describe.skipIf(!HAS_SHARED)(needsShared('KV-cache decoding'), () => {
  it('gives the same logits as the full forward at every position, and the reference greedy story', async () => {
    const { LlamaDecoder } = await import('../src/index.js');
    const spec = describeLlama(readConfig(STORIES), STORIES);
    const model = new LlamaModel(spec, Checkpoint.open(STORIES), be);
    const gen = JSON.parse(readFileSync(join(STORIES, 'reference/reference_generation.json'), 'utf8')) as { input_ids: number[]; greedy_ids: number[] };
    const full = model.forward(Int32Array.from(gen.input_ids));
    const dec = new LlamaDecoder(model);
    let last: Float32Array = new Float32Array(0);
    gen.input_ids.forEach((id, t) => {
      last = dec.step(id);
      for (let i = 0; i < 512; i++) expect(Math.abs(last[i]! - full[t * 512 + i]!)).toBeLessThan(1e-4);
    });
    // greedy_ids is the prompt followed by its 64-token greedy continuation
    expect(gen.greedy_ids.slice(0, gen.input_ids.length)).toEqual(gen.input_ids);
    const want = gen.greedy_ids.slice(gen.input_ids.length);
    const out: number[] = [];
    for (let s = 0; s < want.length; s++) {
      let best = 0;
      for (let i = 1; i < 512; i++) if (last[i]! > last[best]!) best = i;
      out.push(best);
      last = dec.step(best);
    }
    expect(out).toEqual(want);
  });
});

describe.skipIf(!HAS_SHARED)(needsShared('KV-cache prefill'), () => {
  it('prefill of several tokens per sequence gives the logits of stepping them one by one', async () => {
    const { LlamaDecoder } = await import('../src/index.js');
    const model = new LlamaModel(describeLlama(readConfig(STORIES), STORIES), Checkpoint.open(STORIES), be);
    const ids = Int32Array.of(1, 403, 407, 261, 378, 1, 29, 300);
    // two sequences of four tokens, prefilled, then one step each
    const pre = new LlamaDecoder(model, 5, 2);
    const a = pre.prefill(ids);
    const a2 = pre.stepBatch(Int32Array.of(5, 6));
    const steps = [0, 1].map((r) => {
      const d = new LlamaDecoder(model, 5, 1);
      const out = [0, 1, 2, 3].map((s) => d.step(ids[r * 4 + s]!));
      out.push(d.step(5 + r));
      return out;
    });
    for (let r = 0; r < 2; r++) {
      for (let s = 0; s < 4; s++) expect(Array.from(a.subarray((r * 4 + s) * 512, (r * 4 + s + 1) * 512))).toEqual(Array.from(steps[r]![s]!));
      expect(Array.from(a2.subarray(r * 512, (r + 1) * 512))).toEqual(Array.from(steps[r]![4]!));
    }
    expect(pre.position).toBe(5);
  });
});

describe.skipIf(!HAS_SHARED)(needsShared('packed sequences (shared prefixes)'), () => {
  it('a prefix with branches, two documents in one pass, gives each whole sequence\'s forward logits (js and native attention)', async () => {
    const { nativeBackend } = await import('@autoround/kernels-cpu');
    const backends = [be, ...(nativeBackend.available() ? [nativeBackend.create({ threads: 1 })] : [])];
    for (const backend of backends) {
      const model = new LlamaModel(describeLlama(readConfig(STORIES), STORIES), Checkpoint.open(STORIES), backend);
      // document 1: prefix [1, 403, 407] with branches [261, 378] and [29]; document 2: [1, 300] with branches [5] and [6, 7, 8]
      const tokens = Int32Array.of(1, 403, 407, 261, 378, 29, 1, 300, 5, 6, 7, 8);
      const parents = Int32Array.of(-1, 0, 1, 2, 3, 2, -1, 6, 7, 7, 9, 10);
      const seqs = [[1, 403, 407, 261, 378], [1, 403, 407, 29], [1, 300, 5], [1, 300, 6, 7, 8]];
      // the rows of each sequence among the packed ones
      const rowsOf = [[0, 1, 2, 3, 4], [0, 1, 2, 5], [6, 7, 8], [6, 7, 9, 10, 11]];
      const all = model.forwardPacked({ tokens, parents });
      const outputs = Int32Array.of(11, 2, 5);
      const some = model.forwardPacked({ tokens, parents, outputs });
      seqs.forEach((s, i) => {
        const want = model.forward(Int32Array.from(s));
        rowsOf[i]!.forEach((row, t) => {
          for (let v = 0; v < 512; v++) expect(Math.abs(all[row * 512 + v]! - want[t * 512 + v]!)).toBeLessThan(1e-4);
        });
      });
      outputs.forEach((row, i) => expect(Array.from(some.subarray(i * 512, (i + 1) * 512))).toEqual(Array.from(all.subarray(row * 512, (row + 1) * 512))));
      expect(() => model.forwardPacked({ tokens: Int32Array.of(1, 2), parents: Int32Array.of(-1, 1) })).toThrow(/row 1's parent 1 is not an earlier row/);
    }
  });
});
