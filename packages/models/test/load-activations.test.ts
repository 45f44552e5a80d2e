import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint } from '@autoround/core-tensor';
import { Registry, type ActivationQdq } from '@autoround/core';
import { jsBackend } from '@autoround/kernels-cpu';
import { tempDir, writeDenseFixture } from '@autoround/testing';
import modelsPlugin, { readConfig } from '../src/index.js';

// Every architecture applies the load's activation quantization (LoadOptions.activations) to the input of
// each of its linears, by full module name, in the forward and when decoding: `auto-round eval` of a W4A4
// folder measures W4A4 whatever the model (the shared plumbing is DenseCausalLM, src/dense-model.ts).

const be = jsBackend.create({});
const registry = new Registry().use(modelsPlugin);

describe('the load\'s activation quantization reaches every linear', () => {
  const { dir: root, cleanup } = tempDir('load-acts-');
  afterAll(cleanup);
  for (const family of ['mistral', 'gemma2', 'gemma3', 'phi3'] as const) {
    it(family, () => {
      const dir = `${root}/${family}`;
      writeDenseFixture(dir, family);
      const config = readConfig(dir);
      const arch = registry.architecture(config.architectures![0]!, dir);
      const spec = arch.describe(config, dir);
      const ids = Int32Array.from([1, 5, 9, 3, 7, 2]);
      const plain = arch.load(spec, Checkpoint.open(dir), be).forward(ids);
      const seen = new Set<string>();
      // halves every activation: a visible change that keeps the forward finite
      const act: ActivationQdq = (name, x) => {
        seen.add(name);
        return x.map((v) => v / 2);
      };
      const model = arch.load(spec, Checkpoint.open(dir), be, { activations: act });
      const quantized = model.forward(ids);
      const linears = spec.blocks.flatMap((b) => b.linears.map((l) => `${b.prefix}.${l.name}`));
      expect([...seen].sort()).toEqual([...linears].sort());
      let diff = 0;
      for (let i = 0; i < plain.length; i++) diff = Math.max(diff, Math.abs(plain[i]! - quantized[i]!));
      expect(diff).toBeGreaterThan(1e-3);
      expect(quantized.every(Number.isFinite)).toBe(true);
    });
  }
});
