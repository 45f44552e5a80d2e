// Issue #13 item 15: the GGUF exporter writes a model.safetensors.index.json mapping every tensor to
// the .gguf file (for hosts that list a folder's tensors). Nothing may then read that folder as a
// broken safetensors checkpoint: `eval` reads it through the GGUF reader, quantizing from it is
// refused as quantizing an already quantized model, and Checkpoint names the GGUF file.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoRound, DEMO_TEXT, folderPerplexity, silentLogger, writeDemoModel } from '@autoround/autoround';
import { Checkpoint } from '@autoround/core-tensor';
import gguf from '../src/index.js';
import { tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

describe('a GGUF output folder given back to the tool', () => {
  const demo = join(work.dir, 'demo');
  const out = join(work.dir, 'q4_0');
  const opts = { iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false, plugins: [gguf] };

  it('eval reads it through the GGUF reader; quantizing from it and Checkpoint reads name the GGUF file', async () => {
    writeDemoModel(demo, { hidden: 64, intermediate: 96, layers: 1, heads: 2, kvHeads: 1 });
    const ar = new AutoRound(demo, opts);
    await ar.quantizeAndSave(out, { format: 'gguf:q4_0' });
    const index = JSON.parse(readFileSync(join(out, 'model.safetensors.index.json'), 'utf8')) as { weight_map: Record<string, string> };
    expect(Object.values(index.weight_map)[0]).toMatch(/\.gguf$/);
    // eval: the GGUF reader, not the index's safetensors promise
    const r = folderPerplexity(await ar.registry(), out, await ar.backend(), DEMO_TEXT, { seqlen: 64 });
    expect(Number.isFinite(r.perplexity)).toBe(true);
    // quantizing from it: a clear refusal, not "malformed safetensors file: header length …"
    const again = new AutoRound(out, opts);
    const to = join(work.dir, 'again');
    await expect(again.quantizeAndSave(to, { format: 'auto_round' })).rejects.toThrow(/--model .*q4_0 is already quantized \(quantization_config\.quant_method "gguf" in config\.json\): quantize the full-precision model it was made from/);
    expect(existsSync(to)).toBe(false);
    // a host reading the folder as a checkpoint
    const ck = Checkpoint.open(out);
    expect(ck.has('model.norm.weight')).toBe(true);
    expect(() => ck.read('model.norm.weight')).toThrow(/q4_0 is a GGUF folder \(its tensors are in demo-Q4_0\.gguf\), not a safetensors checkpoint/);
    ck.close();
  });
});
