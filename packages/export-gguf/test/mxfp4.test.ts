// --format gguf:mxfp4: llama.cpp's MXFP4 blocks for a dense model (docs/formats/gguf.md#mxfp4-files), the
// file read back by `auto-round eval`, and the schemes a GGUF file cannot hold refused before any work.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoRound, PerplexityBench, folderPerplexity, presetScheme, silentLogger } from '@autoround/autoround';
import { readConfig } from '@autoround/core';
import { GGMLType } from '@autoround/quant-types';
import gguf, { ggufExporter, ggufFileOf, readGgufWeights } from '../src/index.js';
import { HAS_SHARED, STORIES, TINYSTORIES, needsShared, tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

describe('schemes a GGUF file cannot hold', () => {
  it('check() names the scheme and points to a format that can hold it', () => {
    const nv = ggufExporter.check(presetScheme('NVFP4'), 'gguf:q4_k_m');
    expect(nv).toMatch(/--scheme with data_type "nv_fp".*act_bits 4.*GGUF file stores weights only/);
    expect(ggufExporter.check(presetScheme('MXFP4'), 'gguf:mxfp4')).toMatch(/gguf:mxfp4 without --scheme/);
    expect(ggufExporter.check(presetScheme('FPW8A16'), 'gguf:q8_0')).toMatch(/data_type "fp".*no GGUF block type/);
    expect(ggufExporter.check({ ...presetScheme('GGUF:MXFP4'), bits: 8 }, 'gguf:mxfp4')).toMatch(/only MX block type is MXFP4/);
    expect(ggufExporter.check(presetScheme('GGUF:MXFP4'), 'gguf:mxfp4')).toBeNull();
    expect(ggufExporter.check(presetScheme('W4A16'), 'gguf:mxfp4')).toBeNull();
    expect(ggufExporter.check(presetScheme('BF16'), 'gguf:f16')).toBeNull();
  });

  it.skipIf(!HAS_SHARED)('--scheme NVFP4 --format gguf:q4_k_m fails before anything is written', async () => {
    const out = join(work.dir, 'nv-gguf');
    const ar = new AutoRound(STORIES, { scheme: 'NVFP4', iters: 0, log: silentLogger, discoverPlugins: false, plugins: [gguf] });
    const e = await ar.quantizeAndSave(out, { format: 'gguf:q4_k_m' }).then(
      () => null,
      (err: unknown) => err as { code?: string; message: string },
    );
    expect(e?.code).toBe('E_FORMAT');
    expect(e?.message).toMatch(/^--format gguf:q4_k_m: --scheme with data_type "nv_fp"/);
    expect(() => readFileSync(join(out, 'config.json'))).toThrow();
  });
});

describe.skipIf(!HAS_SHARED)(needsShared('stories260K --format gguf:mxfp4 (RTN)'), () => {
  it('block linears MXFP4, embedding and output Q8_0, rows of 172 F16; the file holds the algorithm QDQ, eval reads it', async () => {
    const out = join(work.dir, 'mxfp4');
    const ar = new AutoRound(STORIES, { iters: 0, log: silentLogger, discoverPlugins: false, plugins: [gguf] });
    const res = await ar.quantizeAndSave(out, { format: 'gguf:mxfp4', keepQdq: true });
    expect((await ar.scheme(['gguf:mxfp4'])).data_type).toBe('mx_fp');
    const file = ggufFileOf(out, readConfig(out));
    expect(file).toMatch(/-MXFP4_MOE\.gguf$/);
    const weights = readGgufWeights(file);
    const types = new Map(weights.file.tensors.map((t) => [t.name, t.type]));
    expect(types.get('blk.0.attn_q.weight')).toBe(GGMLType.MXFP4);
    expect(types.get('blk.0.ffn_up.weight')).toBe(GGMLType.MXFP4);
    expect(types.get('blk.0.ffn_down.weight')).toBe(GGMLType.F16); // in 172: no MXFP4 row, kept in full precision
    expect(types.get('output.weight')).toBe(GGMLType.Q8_0);
    expect(types.get('token_embd.weight')).toBe(GGMLType.Q8_0);
    expect(weights.file.metadata.get('general.file_type')?.value).toBe(38);
    // every layer the algorithm quantized is in the file as its QDQ, bit for bit (the embedding and
    // output matrices are quantized by the exporter, to Q8_0, as for every GGUF type)
    expect(res.qdq.size).toBe(30); // 5 blocks: q, k, v, o, gate, up (down_proj, in 172, stays F16)
    for (const [layer, q] of res.qdq) {
      expect(q.blocks?.type, layer).toBe('MXFP4');
      expect(Buffer.from(weights.readFloat32(`${layer}.weight`).data.buffer).equals(Buffer.from(q.qdq.buffer)), layer).toBe(true);
    }
    const text = readFileSync(TINYSTORIES, 'utf8').slice(0, 2500);
    const registry = await ar.registry();
    const backend = await ar.backend();
    const folder = folderPerplexity(registry, out, backend, text, { seqlen: 256 });
    const fp = new PerplexityBench(registry, await ar.load(), backend, text, { seqlen: 256 }).run();
    expect(folder.tokens).toBe(fp.tokens);
    expect(folder.perplexity).toBeGreaterThan(fp.perplexity);
    expect(folder.perplexity).toBeLessThan(fp.perplexity * 1.5);
    console.log(`stories260K gguf:mxfp4 perplexity ${folder.perplexity.toFixed(4)} (fp32 ${fp.perplexity.toFixed(4)})`);
  });
});
