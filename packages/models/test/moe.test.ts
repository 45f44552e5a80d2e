import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Graph, Checkpoint } from '@autoround/core-tensor';
import { Registry } from '@autoround/core';
import { jsBackend } from '@autoround/kernels-cpu';
import { argmax, HAS_SHARED, MoeReference, type MoeFamily, needsShared, tempDir, thrown, writeMoeFixture } from '@autoround/testing';
import { architectureOf, loadTokenizer, modelsPlugin, MoeModel, readConfig, routeTokens } from '../src/index.js';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const be = jsBackend.create({});

const CASES: readonly { family: MoeFamily; arch: string; options: Record<string, unknown> }[] = [
  // block 1 dense (mlp_only_layers) to cover Qwen's placement of the sparse blocks
  { family: 'qwen3_moe', arch: 'Qwen3MoeForCausalLM', options: { layers: 3, mlpOnlyLayers: [1] } },
  { family: 'mixtral', arch: 'MixtralForCausalLM', options: { layers: 2 } },
  { family: 'qwen2_moe', arch: 'Qwen2MoeForCausalLM', options: { layers: 2, sharedIntermediate: 128 } },
];

describe('routeTokens', () => {
  it('takes the top k of the softmax and renormalises only when asked', () => {
    const logits = Float32Array.of(0, 1, 2, 3, 3, 2, 1, 0);
    const r = routeTokens(logits, 2, 4, 2, false);
    expect([...r.experts]).toEqual([3, 2, 0, 1]);
    const z = 1 + Math.E + Math.E ** 2 + Math.E ** 3;
    expect(r.weights[0]).toBeCloseTo(Math.E ** 3 / z, 6);
    const n = routeTokens(logits, 2, 4, 2, true);
    expect(n.weights[0]! + n.weights[1]!).toBeCloseTo(1, 6);
    expect(n.weights[0]).toBeCloseTo(Math.E / (1 + Math.E), 6);
  });
});

for (const c of CASES) {
  describe.skipIf(!HAS_SHARED)(needsShared(`${c.family} forward against a float64 reference`), () => {
    const tmp = tempDir(`moe-${c.family}-`);
    let model: MoeModel;
    let ref: MoeReference;
    beforeAll(() => {
      writeMoeFixture(tmp.dir, { family: c.family, ...c.options });
      const registry = new Registry().use(modelsPlugin);
      const config = readConfig(tmp.dir);
      const arch = registry.architecture(architectureOf(config, tmp.dir), tmp.dir);
      const spec = arch.describe(config, tmp.dir);
      model = arch.load!(spec, Checkpoint.open(tmp.dir), be) as MoeModel;
      ref = new MoeReference(tmp.dir);
    });
    afterAll(() => tmp.cleanup());

    it('describes every expert linear and keeps the router out of the quantizable layers', () => {
      const spec = model.spec;
      expect(spec.architecture).toBe(c.arch);
      const b0 = spec.blocks[0]!;
      const experts = b0.linears.filter((l) => /\.experts\.\d+\./.test(l.name));
      expect(experts.length).toBe(8 * 3);
      expect(b0.linears.some((l) => l.name.endsWith('.gate'))).toBe(false);
      expect(b0.tensors.some((t) => /\.gate\.weight$/.test(t))).toBe(true);
      if (c.family === 'qwen3_moe') expect(spec.blocks[1]!.linears.map((l) => l.name)).toContain('mlp.gate_proj');
      if (c.family === 'qwen2_moe') expect(b0.linears.map((l) => l.name)).toContain('mlp.shared_expert.down_proj');
      if (c.family === 'mixtral') expect(b0.linears.map((l) => l.name)).toContain('block_sparse_moe.experts.7.w2');
    });

    it('float32 logits equal the float64 reference to 1e-5 relative', () => {
      const tok = loadTokenizer(tmp.dir);
      const ids = tok.encode('Once upon a time, there was a little girl named Lily.');
      const got = model.forward(Int32Array.from(ids));
      const want = ref.logits(ids);
      let maxDiff = 0;
      let maxRef = 0;
      for (let i = 0; i < want.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(got[i]! - want[i]!));
        maxRef = Math.max(maxRef, Math.abs(want[i]!));
      }
      expect(maxDiff / maxRef).toBeLessThan(1e-5);
      // routing matters: a forward with the routers' top-1 would differ by far more
      expect(maxRef).toBeGreaterThan(1);
    });

    it('greedy decoding with the key/value cache equals the reference greedy continuation', () => {
      const tok = loadTokenizer(tmp.dir);
      const ids = tok.encode('Once upon a time');
      const dec = model.decoder(64, 1);
      let logits: Float32Array = new Float32Array(0);
      for (const id of ids) logits = dec.step(id);
      const ours: number[] = [];
      for (let i = 0; i < 10; i++) {
        ours.push(argmax(logits));
        logits = dec.step(ours[i]!);
      }
      const seq = [...ids];
      const V = model.dims.vocab;
      for (let i = 0; i < 10; i++) {
        const l = ref.logits(seq);
        seq.push(argmax(l, (seq.length - 1) * V, V));
      }
      expect(ours).toEqual(seq.slice(ids.length));
    });

    it('the tuning graph computes the forward and routes gradients to the experts that got tokens', () => {
      const tok = loadTokenizer(tmp.dir);
      const ids = Int32Array.from(tok.encode('Tom and his dog played in the park.'));
      const x = model.embedTokens(ids);
      const T = ids.length;
      const want = model.blockForward(0, x, T);
      const g = new Graph(be);
      const leaves = new Map<string, ReturnType<Graph['leaf']>>();
      const y = model.blockGraph(g, g.input(x, [T, 256]), 0, { weight: (gr, local, own, shape) => { const v = gr.leaf(own, shape); leaves.set(local, v); return v; } }, 1, T);
      let max = 0;
      for (let i = 0; i < want.length; i++) max = Math.max(max, Math.abs(want[i]! - y.data[i]!));
      expect(max).toBeLessThan(1e-4);
      g.backward(g.mse(y, new Float32Array(want.length)));
      const mod = c.family === 'mixtral' ? 'block_sparse_moe' : 'mlp';
      const routed = new Set<number>();
      model.blockForward(0, x, T, { onLinearInput: (name) => { const m = /experts\.(\d+)\./.exec(name); if (m) routed.add(Number(m[1])); } });
      for (let e = 0; e < 8; e++) {
        const down = leaves.get(`${mod}.experts.${e}.${c.family === 'mixtral' ? 'w2' : 'down_proj'}`);
        if (routed.has(e)) expect(down?.grad?.some((v) => v !== 0)).toBe(true);
        else expect(down).toBeUndefined();
      }
      expect(routed.size).toBeGreaterThan(1);
    });
  });
}

describe.skipIf(!HAS_SHARED)(needsShared('MoE bad input'), () => {
  const tmp = tempDir('moe-bad-');
  beforeAll(() => writeMoeFixture(tmp.dir, { family: 'qwen3_moe', layers: 1 }));
  afterAll(() => tmp.cleanup());
  const registry = () => new Registry().use(modelsPlugin);
  const withConfig = (patch: Record<string, unknown>) => {
    const cfg = JSON.parse(readFileSync(join(tmp.dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    const c = { ...cfg, ...patch };
    writeFileSync(join(tmp.dir, 'config.json'), JSON.stringify(c));
    try {
      const config = readConfig(tmp.dir);
      return registry().architecture(architectureOf(config, tmp.dir), tmp.dir).describe(config, tmp.dir);
    } finally {
      writeFileSync(join(tmp.dir, 'config.json'), JSON.stringify(cfg));
    }
  };

  it('an unsupported MoE architecture names itself and the supported list', () => {
    const e = thrown(() => withConfig({ architectures: ['DeepseekV3ForCausalLM'] }));
    expect((e as Error & { code?: string }).code).toBe('E_UNKNOWN_ARCH');
    expect(e.message).toContain('DeepseekV3ForCausalLM');
    expect(e.message).toContain('Qwen3MoeForCausalLM');
    expect(e.message).toContain('MixtralForCausalLM');
  });

  it('config fields we do not implement are errors naming the field', () => {
    expect(thrown(() => withConfig({ rope_scaling: { rope_type: 'yarn', factor: 4 } })).message).toMatch(/rope_scaling/);
    expect(thrown(() => withConfig({ scoring_func: 'sigmoid' })).message).toMatch(/"scoring_func"/);
    expect(thrown(() => withConfig({ use_sliding_window: true })).message).toMatch(/"use_sliding_window"/);
    expect(thrown(() => withConfig({ num_experts_per_tok: 9 })).message).toMatch(/"num_experts_per_tok" 9/);
    expect(thrown(() => withConfig({ mlp_only_layers: [5] })).message).toMatch(/"mlp_only_layers"/);
    expect(thrown(() => withConfig({ norm_topk_prob: 'yes' })).message).toMatch(/"norm_topk_prob"/);
  });
});
