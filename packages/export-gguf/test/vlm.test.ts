// GGUF of a Qwen2-VL-shaped checkpoint (docs/vlm.md): the text model as llama.cpp's qwen2vl architecture with its
// M-RoPE sections, no vision tensor in the file (llama.cpp keeps those in an mmproj file, not written here), read
// back for evaluation and generation, and run by llama.cpp itself (node-llama-cpp) to the same greedy continuation.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AutoRound, type KernelBackend, type Registry, generateFromFolder, openModel, silentLogger, weightsOf } from '@autoround/autoround';
import { readConfig } from '@autoround/core';
import gguf, { ggufFileOf, readGguf } from '../src/index.js';
import { ggufValue } from '../src/gguf/reader.js';
import { HAS_SHARED, STORIES, ReferenceLlama, type ReferenceLlamaConfig, loadNodeLlamaCpp, needsShared, referenceGreedy, tempDir, writeQwen2VlFixture } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());
const { nlc } = await loadNodeLlamaCpp();
const prompt = 'Once upon a time, there was a little girl named Lily.';

for (const layout of ['qwen2-vl', 'text-config'] as const) {
  describe.skipIf(!HAS_SHARED)(needsShared(`GGUF of a Qwen2-VL-shaped checkpoint (${layout} layout)`), () => {
    const src = join(work.dir, `vlm-${layout}`);
    const f32 = join(work.dir, `vlm-${layout}-f32`);
    const q4 = join(work.dir, `vlm-${layout}-q4km`);
    const textPrefix = layout === 'text-config' ? 'model.language_model.' : 'model.';
    let registry: Registry;
    let backend: KernelBackend;
    beforeAll(async () => {
      writeQwen2VlFixture(STORIES, src, { layout });
      const base = { iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false, plugins: [gguf], skipSanityCheck: true };
      const ar = new AutoRound(src, base);
      await ar.quantizeAndSave(f32, { format: 'gguf:f32' });
      await new AutoRound(src, base).quantizeAndSave(q4, { format: 'gguf:q4_k_m' });
      registry = await ar.registry();
      backend = await ar.backend();
    }, 120_000);

    it('writes arch qwen2vl with its rope sections and the text tensors only', () => {
      for (const dir of [f32, q4]) {
        const file = readGguf(ggufFileOf(dir, readConfig(dir)));
        expect(ggufValue(file, 'general.architecture')).toBe('qwen2vl');
        // an INT32 array, as convert_hf_to_gguf.py writes it and llama.cpp reads it (get_key_or_arr, 4 values)
        const sections = ggufValue(file, 'qwen2vl.rope.dimension_sections');
        expect(sections).toBeInstanceOf(Int32Array);
        expect([...(sections as Int32Array)]).toEqual([2, 1, 1, 0]);
        expect(ggufValue(file, 'qwen2vl.embedding_length')).toBe(64);
        const names = file.tensors.map((t) => t.name);
        expect(names.some((n) => n.includes('visual') || n.startsWith('v.'))).toBe(false);
        expect(names).toContain('blk.0.attn_q.bias');
        expect(names.filter((n) => n.startsWith('blk.'))).toHaveLength(5 * 12);
        expect(names.filter((n) => !n.startsWith('blk.')).sort()).toEqual(['output.weight', 'output_norm.weight', 'token_embd.weight']);
      }
    });

    it('read back: greedy generation equals the float64 reference on the file’s weights', () => {
      for (const dir of [f32, q4]) {
        const r = generateFromFolder(registry, dir, backend, prompt, { maxNewTokens: 32 });
        const m = openModel(registry, dir);
        try {
          const ws = weightsOf(registry, m);
          const ref = new ReferenceLlama(m.spec.config as unknown as ReferenceLlamaConfig, (n) => (ws.has(n) ? ws.readFloat32(n).data : undefined), textPrefix, 'lm_head.weight', true);
          const want = referenceGreedy(ref, r.promptIds, 32, 2);
          expect(want.gaps.every((g) => g > 1e-4)).toBe(true);
          expect(r.ids, dir).toEqual(want.ids);
        } finally {
          m.checkpoint.close();
        }
      }
      // F32 read back is the source's text model: the same continuation as the safetensors folder
      expect(generateFromFolder(registry, f32, backend, prompt, { maxNewTokens: 32 }).ids).toEqual(generateFromFolder(registry, src, backend, prompt, { maxNewTokens: 32 }).ids);
    });

    it.skipIf(!nlc)('llama.cpp loads the F32 file as qwen2vl and continues the prompt as our source folder does', async () => {
      const llama = await nlc!.getLlama({ gpu: false, build: 'never', logLevel: nlc!.LlamaLogLevel.error });
      const ours = generateFromFolder(registry, src, backend, prompt, { maxNewTokens: 32 });
      const model = await llama.loadModel({ modelPath: ggufFileOf(f32, readConfig(f32)) });
      try {
        const ctx = await model.createContext({ contextSize: 128, threads: 1 });
        try {
          const out: number[] = [];
          for await (const t of ctx.getSequence().evaluate(ours.promptIds as never[], { temperature: 0 })) {
            out.push(Number(t));
            if (out.length >= 32) break;
          }
          expect(out).toEqual(ours.ids.slice(0, out.length));
          expect(out.length).toBeGreaterThanOrEqual(16);
        } finally {
          await ctx.dispose();
        }
      } finally {
        await model.dispose();
      }
    }, 120_000);
  });
}
