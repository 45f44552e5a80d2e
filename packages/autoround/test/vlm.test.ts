// Qwen2-VL-shaped checkpoints (docs/vlm.md): the text tower is quantized, the vision tower and merger are copied
// byte for byte under their names, the processor and chat-template files come along, and the folder decodes as an
// independent float64 reference of the text tower does.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '@autoround/core-tensor';
import gguf from '@autoround/export-gguf';
import { AutoRound, type KernelBackend, type Registry, generateFromFolder, openModel, silentLogger, weightsOf } from '../src/index.js';
import { HAS_SHARED, STORIES, ReferenceLlama, type ReferenceLlamaConfig, needsShared, referenceGreedy, tempDir, thrown, writeQwen2VlFixture } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());
const INT_FORMATS = ['auto_round', 'auto_gptq', 'auto_awq', 'llm_compressor', 'fake'];
const prompt = 'Once upon a time, there was a little girl named Lily.';

for (const layout of ['qwen2-vl', 'text-config'] as const) {
  describe.skipIf(!HAS_SHARED)(needsShared(`Qwen2-VL-shaped checkpoint, ${layout} layout`), () => {
    const src = join(work.dir, `vlm-${layout}`);
    const out = join(work.dir, `vlm-${layout}-int`);
    const textPrefix = layout === 'text-config' ? 'model.language_model.' : 'model.';
    let vision: string[] = [];
    let registry: Registry;
    let backend: KernelBackend;
    beforeAll(async () => {
      vision = writeQwen2VlFixture(STORIES, src, { layout }).visionTensors;
      const ar = new AutoRound(src, { scheme: 'W4A16', groupSize: 32, iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false, plugins: [gguf], skipSanityCheck: true });
      await ar.quantizeAndSave(out, { format: INT_FORMATS });
      registry = await ar.registry();
      backend = await ar.backend();
    }, 120_000);

    it('describes the text tower only, under its own prefix', () => {
      const m = openModel(registry, src);
      try {
        expect(m.spec.architecture).toBe('Qwen2VLForConditionalGeneration');
        expect(m.spec.blockListName).toBe(`${textPrefix}layers`);
        expect(m.spec.embedding).toBe(`${textPrefix}embed_tokens.weight`);
        expect(m.spec.blocks).toHaveLength(5);
        expect(m.spec.blocks[0]!.linears.filter((l) => l.bias).map((l) => l.name)).toEqual(['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj']);
        expect(m.spec.blocks.flatMap((b) => b.tensors).some((n) => n.includes('visual'))).toBe(false);
      } finally {
        m.checkpoint.close();
      }
    });

    it('every exported folder keeps the vision tensors byte for byte, and the processor and chat-template files', () => {
      const a = Checkpoint.open(src);
      try {
        for (const f of INT_FORMATS) {
          const dir = join(out, f);
          const b = Checkpoint.open(dir);
          try {
            for (const n of vision) {
              const x = a.read(n);
              const y = b.read(n);
              expect([y.dtype, ...y.shape], `${f} ${n}`).toEqual([x.dtype, ...x.shape]);
              expect(Buffer.from(y.bytes()).equals(Buffer.from(x.bytes())), `${f} ${n}`).toBe(true);
            }
            // the text tower's linears are quantized (auto_round, GPTQ, AWQ, llm-compressor pack them; fake stores QDQ)
            if (f !== 'fake') expect(b.has(`${textPrefix}layers.0.self_attn.q_proj.weight`), f).toBe(false);
            for (const side of ['preprocessor_config.json', 'chat_template.json']) expect(readFileSync(join(dir, side), 'utf8'), `${f} ${side}`).toBe(readFileSync(join(src, side), 'utf8'));
            const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
            expect(cfg.vision_config, f).toEqual(JSON.parse(readFileSync(join(src, 'config.json'), 'utf8')).vision_config);
          } finally {
            b.close();
          }
        }
      } finally {
        a.close();
      }
    });

    it('greedy generation from the source and each exported folder equals the float64 reference of the text tower', () => {
      for (const dir of [src, ...INT_FORMATS.map((f) => join(out, f))]) {
        const r = generateFromFolder(registry, dir, backend, prompt, { maxNewTokens: 32 });
        const m = openModel(registry, dir);
        try {
          const ws = weightsOf(registry, m);
          const read = (n: string) => (ws.has(n) ? ws.readFloat32(n).data : undefined);
          const ref = new ReferenceLlama(m.spec.config as unknown as ReferenceLlamaConfig, read, textPrefix);
          const want = referenceGreedy(ref, r.promptIds, 32, 2);
          expect(want.gaps.every((g) => g > 1e-4)).toBe(true);
          expect(r.ids, dir).toEqual(want.ids);
        } finally {
          m.checkpoint.close();
        }
      }
    });
  });
}

describe.skipIf(!HAS_SHARED)(needsShared('Qwen2-VL config checks'), () => {
  let registry: Registry;
  beforeAll(async () => {
    registry = await new AutoRound(STORIES, { log: silentLogger, discoverPlugins: false }).registry();
  });
  const variant = (name: string, edit: (c: Record<string, unknown>) => void): string => {
    const dir = join(work.dir, `bad-${name}`);
    writeQwen2VlFixture(STORIES, dir, { layout: 'qwen2-vl' });
    const file = join(dir, 'config.json');
    const c = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    edit(c);
    writeFileSync(file, JSON.stringify(c));
    return dir;
  };
  const message = (dir: string) => thrown(() => openModel(registry, dir)).message;

  it('a config field text-only decoding does not implement is an error naming it', () => {
    expect(message(variant('yarn', (c) => (c.rope_scaling = { type: 'yarn', factor: 4 })))).toMatch(/rope_scaling\.factor is not implemented/);
    expect(message(variant('type', (c) => (c.rope_scaling = { type: 'dynamic' })))).toMatch(/rope_scaling\.type "dynamic" is not implemented/);
    expect(message(variant('section', (c) => (c.rope_scaling = { type: 'mrope', mrope_section: [2, 2, 2] })))).toMatch(/mrope_section \[2,2,2\] must be .* summing to head_dim \/ 2 = 4/);
    expect(message(variant('swa', (c) => (c.use_sliding_window = true)))).toMatch(/use_sliding_window true is not implemented/);
  });

  it('an architecture no plugin implements names itself and the supported list', () => {
    const m = message(variant('arch', (c) => (c.architectures = ['Qwen3VLForConditionalGeneration'])));
    expect(m).toMatch(/architecture "Qwen3VLForConditionalGeneration" is not supported; supported: .*Qwen2VLForConditionalGeneration/);
    expect(m).toMatch(/LlamaForCausalLM/);
  });
});
