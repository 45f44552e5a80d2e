import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Registry, presetScheme } from '@autoround/core';
import { readConfig } from '@autoround/core';
import plugin, { exportGguf, ggufExporter, readGguf } from '../src/index.js';
import { ggmlTypeName } from '@autoround/quant-types';
import { exportContext, writeSynthModel } from './fixtures.js';
import { HAS_SHARED, STORIES } from '@autoround/testing';

const stories = STORIES;
const haveStories = HAS_SHARED;
const tmp = mkdtempSync(join(tmpdir(), 'gguf-exporter-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('the gguf exporter plugin', () => {
  it('is the default export and registers under "gguf"', () => {
    expect(plugin.exporters).toContain(ggufExporter);
    const reg = new Registry().use(plugin);
    expect(reg.exporter('gguf:q4_k_m')).toBe(ggufExporter);
  });

  it('check() accepts every file type and rejects unknown or missing ones clearly', () => {
    const s = presetScheme('GGUF:Q4_K_M');
    for (const f of ['gguf:q4_k_m', 'gguf:Q2_K_S', 'gguf:q3_k_l', 'gguf:q8_0', 'gguf:bf16', 'gguf:f16', 'gguf:f32', 'gguf:q5_1']) expect(ggufExporter.check(s, f)).toBeNull();
    expect(ggufExporter.check(s, 'gguf:q4_k_x')).toMatch(/unknown GGUF type "q4_k_x".*gguf:q4_k_m/);
    expect(ggufExporter.check(s, 'gguf:iq2_xxs')).toMatch(/unknown GGUF type "iq2_xxs"/);
    expect(ggufExporter.check(s, 'gguf')).toMatch(/name the GGUF type, e\.g\. gguf:q4_k_m/);
  });

  it('a session fed by the host writes the same bytes as exportGguf; missing tensors come from the checkpoint', async () => {
    const dir = join(tmp, 'qwen3');
    writeSynthModel(dir, { kind: 'qwen3', hidden: 256, heads: 2, kvHeads: 1, headDim: 128, inter: 512, layers: 2, vocab: 320, tied: true });
    const out = join(tmp, 'out');
    const ctx = exportContext(dir, out, 'gguf:q4_k_m');
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    const session = ggufExporter.open(ctx);
    // the host hands some tensors as they are, an algorithm's result for one layer, in its own order
    const names = ctx.checkpoint.names.filter((n) => !n.includes('mlp.')).reverse();
    for (const n of names) session.writeTensor(n, ctx.checkpoint.read(n));
    session.writeQuantized('model.layers.0.mlp.up_proj', { qdq: new Float32Array(512 * 256), shape: [512, 256] } as never);
    await session.finish();
    expect(readdirSync(out).sort()).toEqual(['config.json', 'model.safetensors.index.json', 'qwen3-Q4_K_M.gguf', 'tokenizer.json', 'tokenizer_config.json']);
    const ref = join(tmp, 'ref.gguf');
    await exportGguf({ modelDir: dir, outFile: ref, fileType: 'Q4_K_M', modelName: 'qwen3' });
    expect(readFileSync(join(out, 'qwen3-Q4_K_M.gguf')).equals(readFileSync(ref))).toBe(true);
    ctx.checkpoint.close();
  });

  it('an importance matrix (by GGUF or HF name) changes the matching tensors only', async () => {
    const dir = join(tmp, 'qwen3');
    const base = join(tmp, 'base.gguf');
    const withIm = join(tmp, 'im.gguf');
    await exportGguf({ modelDir: dir, outFile: base, fileType: 'Q4_K_M' });
    const im = new Map([
      ['blk.0.attn_q.weight', new Float32Array(256).map((_, i) => 1 + (i % 7))],
      ['model.layers.1.mlp.down_proj', new Float32Array(512).map((_, i) => 1 + (i % 3))],
    ]);
    await exportGguf({ modelDir: dir, outFile: withIm, fileType: 'Q4_K_M', imatrix: im });
    const a = readGguf(base);
    const b = readGguf(withIm);
    const bytes = (f: string, t: { offset: number; nbytes: number }) => readFileSync(f).subarray(a.dataOffset + t.offset, a.dataOffset + t.offset + t.nbytes);
    for (const t of a.tensors) {
      const same = bytes(base, t).equals(bytes(withIm, b.tensors.find((x) => x.name === t.name)!));
      expect(same, t.name).toBe(!['blk.0.attn_q.weight', 'blk.1.ffn_down.weight'].includes(t.name));
    }
    await expect(exportGguf({ modelDir: dir, outFile: withIm, fileType: 'Q4_K_M', imatrix: new Map([['blk.0.attn_q.weight', new Float32Array(3)]]) })).rejects.toThrow(/3 entries, the tensor has 256 columns/);
  });

  it.skipIf(!haveStories)('stories260K Q4_K_M: the fallbacks are logged and the output name is <model>-<TYPE>.gguf', async () => {
    const out = join(tmp, 'stories-out');
    mkdirSync(out, { recursive: true });
    const ctx = exportContext(stories, out, 'gguf:q4_k_m');
    const s = ggufExporter.open(ctx);
    await s.finish();
    ctx.checkpoint.close();
    expect(readdirSync(out).filter((f) => f.endsWith('.gguf'))).toEqual(['stories260K-Q4_K_M.gguf']);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { quantization_config: Record<string, unknown> };
    expect(config.quantization_config).toEqual({ quant_method: 'gguf', gguf_file: 'stories260K-Q4_K_M.gguf', file_type: 'Q4_K_M' });
    expect(ggufExporter.detect!(config)).toBe(true);
    expect(ctx.log.lines.some((l) => /blk\.2\.ffn_down\.weight: 172 columns .*Q6_K -> F16/.test(l))).toBe(true);
    const g = readGguf(join(out, 'stories260K-Q4_K_M.gguf'));
    const types = Object.fromEntries(g.tensors.map((t) => [t.name, ggmlTypeName(t.type)]));
    expect([types['output.weight'], types['token_embd.weight'], types['blk.2.attn_v.weight'], types['blk.0.ffn_down.weight']]).toEqual(['Q8_0', 'Q5_0', 'Q8_0', 'F16']);
  });

  it('clear errors: unsupported architecture, missing tokenizer', async () => {
    const dir = join(tmp, 'qwen3');
    const bad = join(tmp, 'bad');
    cpSync(dir, bad, { recursive: true });
    writeFileSync(join(bad, 'config.json'), JSON.stringify({ ...readConfig(dir), architectures: ['GPT2LMHeadModel'], model_type: 'gpt2' }));
    await expect(exportGguf({ modelDir: bad, outFile: join(tmp, 'x.gguf'), fileType: 'Q8_0' })).rejects.toThrow(/config\.json: architecture "GPT2LMHeadModel" cannot be exported to GGUF/);
    writeFileSync(join(bad, 'config.json'), JSON.stringify(readConfig(dir)));
    rmSync(join(bad, 'tokenizer.json'));
    await expect(exportGguf({ modelDir: bad, outFile: join(tmp, 'x.gguf'), fileType: 'Q8_0' })).rejects.toThrow(/no tokenizer\.json/);
    await expect(exportGguf({ modelDir: dir, outFile: join(tmp, 'x.gguf'), fileType: 'Q7_K' })).rejects.toThrow(/unknown GGUF file type "Q7_K"/);
    expect(existsSync(join(tmp, 'x.gguf')) || existsSync(join(tmp, 'x.gguf.partial'))).toBe(false);
  });
});
