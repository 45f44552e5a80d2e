import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliProcess } from './run-cli.js';
import { HAS_SHARED, TINYSTORIES, needsShared, tempDir, writeMoeFixture } from '@autoround/testing';

// Every int format of a mixture-of-experts model (docs/models/moe.md#what-is-quantized): the experts are quantized
// linears, the router is copied in full precision, and each output is read back by the sanity probe (its perplexity
// against the source's); a mixed selection shows in auto_round's extra_config and auto_gptq's dynamic. GGUF stacks the
// experts in llama.cpp's merged tensors and `auto-round eval` reads them back (docs/models/moe.md#gguf).
const work = tempDir('moe-formats-');
const model = join(work.dir, 'qwen2-moe');
beforeAll(() => writeMoeFixture(model, { family: 'qwen2_moe', layers: 2, sharedIntermediate: 128 }));
afterAll(() => work.cleanup());

describe.skipIf(!HAS_SHARED)(needsShared('MoE exports'), () => {
  it('auto_round, auto_gptq, auto_awq, llm_compressor and fake, each read back', async () => {
    const out = join(work.dir, 'out');
    const r = await runCliProcess([
      '--model', model, '--scheme', 'W4A16', '--group_size', '128', '--iters', '0', '--disable_opt_rtn',
      '--fp_layers', 'mlp.experts.1.', '--layer_config', '{"mlp.experts.2.down_proj":{"bits":8}}',
      '--format', 'auto_round,auto_gptq', '--output_dir', out,
    ]);
    expect(r.code, r.err).toBe(0);
    // auto_awq stores 4-bit weights only: no 8-bit layer there
    const out4 = join(work.dir, 'out4');
    const r4 = await runCliProcess([
      '--model', model, '--scheme', 'W4A16', '--group_size', '128', '--iters', '0', '--disable_opt_rtn', '--fp_layers', 'mlp.experts.1.',
      '--format', 'auto_awq,llm_compressor,fake', '--output_dir', out4,
    ]);
    expect(r4.code, r4.err).toBe(0);
    // the sanity probe reads back each run's first format; `auto-round eval` reads the others
    expect(r.err).toMatch(/sanity probe: perplexity [\d.]+ → [\d.]+ \(×[\d.]+, limit ×1.5\) read back from .*auto_round/);
    expect(r4.err).toMatch(/sanity probe: perplexity [\d.]+ → [\d.]+ \(×[\d.]+, limit ×1.5\) read back from .*auto_awq/);
    const ppl: number[] = [];
    for (const dir of [join(out, 'auto_round'), join(out, 'auto_gptq'), join(out4, 'llm_compressor'), model]) {
      const e = await runCliProcess(['eval', '--model', dir, '--eval_ppl', TINYSTORIES, '--eval_seqlen', '128', '--eval_max_tokens', '1024']);
      expect(e.code, e.err).toBe(0);
      ppl.push((JSON.parse(e.out.trim().split('\n').pop()!) as { perplexity?: number; quantized?: number; original?: number }).perplexity ?? NaN);
    }
    // the same quantized weights in auto_round and auto_gptq; every output within 10% of the float model's
    expect(ppl.every((p) => Number.isFinite(p))).toBe(true);
    expect(ppl[0]).toBe(ppl[1]);
    for (const p of ppl.slice(0, 3)) expect(Math.abs(p / ppl[3]! - 1)).toBeLessThan(0.1);
    const q = (f: string) => (JSON.parse(readFileSync(join(out, f, 'config.json'), 'utf8')) as { quantization_config: Record<string, unknown> }).quantization_config;
    const extra = q('auto_round').extra_config as Record<string, { bits: number }>;
    expect(extra['model.layers.0.mlp.experts.1.up_proj']!.bits).toBe(16);
    expect(extra['model.layers.1.mlp.experts.2.down_proj']!.bits).toBe(8);
    const dynamic = q('auto_gptq').dynamic as Record<string, unknown>;
    expect(Object.keys(dynamic)).toContain('-:.*model\\.layers\\.0\\.mlp\\.experts\\.1\\.gate_proj.*');
    // the router and the shared expert's gate stay float tensors of the output
    const header = (file: string) => {
      const b = readFileSync(file);
      return JSON.parse(b.subarray(8, 8 + Number(b.readBigUInt64LE(0))).toString()) as Record<string, { dtype: string }>;
    };
    const h = header(join(out, 'auto_round', 'model.safetensors'));
    expect(h['model.layers.0.mlp.gate.weight']!.dtype).toBe('F32');
    expect(h['model.layers.0.mlp.shared_expert_gate.weight']!.dtype).toBe('F32');
    expect(h['model.layers.0.mlp.experts.0.up_proj.qweight']!.dtype).toBe('I32');
    expect(h['model.layers.0.mlp.shared_expert.down_proj.qweight']!.dtype).toBe('I32');
  }, 300_000);

  it('GGUF: q4_k_m with the merged expert tensors, read back by `auto-round eval`', async () => {
    const out = join(work.dir, 'g');
    const r = await runCliProcess(['--model', model, '--iters', '0', '--disable_opt_rtn', '--format', 'gguf:q4_k_m', '--output_dir', out]);
    expect(r.code, r.err).toBe(0);
    const dir = [out, join(out, 'gguf')].find((d) => existsSync(d) && readdirSync(d).some((f) => f.endsWith('.gguf')));
    expect(dir, `no .gguf under ${out}: ${readdirSync(out).join(', ')}`).toBeDefined();
    const file = readdirSync(dir!).find((f) => f.endsWith('.gguf'))!;
    const { readGguf } = await import('@autoround/export-gguf');
    const g = readGguf(join(dir!, file));
    const ne = new Map(g.tensors.map((t) => [t.name, t.ne]));
    expect(g.metadata.get('general.architecture')?.value).toBe('qwen2moe');
    expect(ne.get('blk.1.ffn_up_exps.weight')).toEqual([256, 128, 8]);
    expect(ne.get('blk.1.ffn_gate_inp_shexp.weight')).toEqual([256]);
    const ppl: number[] = [];
    for (const m of [dir!, model]) {
      const e = await runCliProcess(['eval', '--model', m, '--eval_ppl', TINYSTORIES, '--eval_seqlen', '128', '--eval_max_tokens', '1024']);
      expect(e.code, e.err).toBe(0);
      ppl.push((JSON.parse(e.out.trim().split('\n').pop()!) as { perplexity?: number }).perplexity ?? NaN);
    }
    expect(ppl.every((p) => Number.isFinite(p))).toBe(true);
    console.log(`qwen2-moe gguf:q4_k_m (RTN): eval perplexity ${ppl[0]} of the GGUF folder, ${ppl[1]} of the source`);
    expect(Math.abs(ppl[0]! / ppl[1]! - 1)).toBeLessThan(0.1);
  }, 300_000);
});
