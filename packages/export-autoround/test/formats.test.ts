// Every packed format side by side: perplexity parity with the fake export on stories260K,
// sharding, the 32-multiple rule, and failures that must leave nothing half-written.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoRound, createRegistry, definePlugin, folderPerplexity, type ExporterPlugin, silentLogger, writeDemoModel } from '@autoround/autoround';
import { autoGptqExporter } from '@autoround/export-gptq';
import { dequantizeAwq, dequantizeLlmc, dequantizeLayer, comparePackedWithFake, type Decoder } from '@autoround/testing/formats';
import { HAS_SHARED, STORIES, TINYSTORIES, needsShared, tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

/** The packed formats of issue #4 (plus the auto_round default) and a decoder for each folder. */
function decoderFor(dir: string): Decoder {
  const qc = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).quantization_config;
  const bitsOf = (l: string) => qc.extra_config?.[l]?.bits ?? qc.bits;
  const gsOf = (l: string) => qc.extra_config?.[l]?.group_size ?? qc.group_size;
  if (qc.quant_method === 'compressed-tensors') {
    const w = qc.config_groups.group_0.weights;
    return (t, l) => (t.has(`${l}.weight_packed`) ? dequantizeLlmc(t, l, w.num_bits, w.group_size).w : undefined);
  }
  if (qc.quant_method === 'awq' || qc.packing_format === 'auto_round:auto_awq') return (t, l) => (t.has(`${l}.qweight`) ? dequantizeAwq(t, l, gsOf(l)) : undefined);
  if (qc.packing_format === 'auto_round:llm_compressor') return (t, l) => (t.has(`${l}.weight_packed`) ? dequantizeLlmc(t, l, bitsOf(l), gsOf(l)).w : undefined);
  const plusOne = qc.quant_method === 'gptq' ? qc.checkpoint_format !== 'gptq_v2' : qc.packing_format === 'auto_round:auto_gptq';
  return (t, l) => (t.has(`${l}.qweight`) ? dequantizeLayer(t, l, bitsOf(l), gsOf(l), plusOne).w : undefined);
}

const SYM_FORMATS = ['auto_gptq', 'auto_gptq:v2', 'auto_awq', 'llm_compressor', 'auto_round', 'auto_round:auto_awq', 'auto_round:llm_compressor'];

describe.skipIf(!HAS_SHARED)(needsShared('stories260K g32: every format read back as `auto-round eval` reads it has the fake export\'s perplexity'), () => {
  // a few thousand characters (~1200 tokens, 5 windows of 256) keep the eight evaluations fast
  const text = HAS_SHARED ? readFileSync(TINYSTORIES, 'utf8').slice(0, 2500) : '';
  for (const sym of [true, false]) {
    it(`W4A16 ${sym ? 'sym' : 'asym'}`, async () => {
      const out = join(work.dir, `stories-${sym}`);
      // asym: the formats that store it well (auto_gptq v1 is covered bit for bit in its own tests)
      const formats = sym ? SYM_FORMATS : ['auto_gptq:v2', 'auto_awq', 'llm_compressor', 'auto_round'];
      await new AutoRound(STORIES, { scheme: 'W4A16', groupSize: 32, sym, iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false }).quantizeAndSave(out, {
        format: [...formats, 'fake'],
      });
      const registry = await createRegistry({ discover: false });
      const backend = registry.kernelBackend();
      const ppl = (f: string) => folderPerplexity(registry, join(out, f.replace(/:/g, '-')), backend, text, { seqlen: 256 });
      const fake = ppl('fake');
      expect(fake.tokens).toBeGreaterThan(500);
      for (const f of formats) {
        const r = ppl(f);
        expect(r.tokens, f).toBe(fake.tokens);
        // the same weights give the same perplexity, to the last printed digit and beyond
        expect(r.perplexity.toFixed(4), f).toBe(fake.perplexity.toFixed(4));
        expect(r.nll, f).toBe(fake.nll);
        // 20 attention layers packed, the MLP (intermediate 172) kept in full precision
        expect(comparePackedWithFake(join(out, f.replace(/:/g, '-')), join(out, 'fake'), STORIES, decoderFor(join(out, f.replace(/:/g, '-')))), f).toBe(20);
      }
      expect(readFileSync(join(out, 'auto_awq', 'tokenizer.json'), 'utf8')).toBe(readFileSync(join(STORIES, 'tokenizer.json'), 'utf8'));
    });
  }
});

describe('layers whose dimensions are not multiples of 32 never reach a packed format', () => {
  it('keeps them as plain tensors and lists them in every config', async () => {
    const demo = join(work.dir, 'demo-100');
    writeDemoModel(demo, { hidden: 64, intermediate: 100, layers: 1, heads: 2, kvHeads: 1 });
    const out = join(work.dir, 'odd');
    await new AutoRound(demo, { scheme: 'W4A16', groupSize: 32, iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false }).quantizeAndSave(out, {
      format: [...SYM_FORMATS, 'fake'],
    });
    const cfg = (f: string) => JSON.parse(readFileSync(join(out, f, 'config.json'), 'utf8')).quantization_config;
    const mlp = ['model.layers.0.mlp.gate_proj', 'model.layers.0.mlp.up_proj', 'model.layers.0.mlp.down_proj'];
    expect(cfg('auto_gptq').modules_in_block_to_quantize).toEqual([['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj']]);
    expect(Object.keys(cfg('auto_gptq').dynamic).sort()).toEqual(mlp.map((n) => `-:.*${n.replace(/\./g, '\\.')}.*`).sort());
    expect(cfg('auto_awq').modules_to_not_convert).toEqual([...mlp, 'lm_head']);
    expect(cfg('llm_compressor').ignore).toEqual([...mlp, 'lm_head']);
    for (const f of ['auto_round', 'auto_round-auto_awq', 'auto_round-llm_compressor']) for (const n of mlp) expect(cfg(f).extra_config[n]).toEqual({ bits: 16, data_type: 'fp' });
    for (const f of SYM_FORMATS) {
      const dir = join(out, f.replace(/:/g, '-'));
      expect(comparePackedWithFake(dir, join(out, 'fake'), demo, decoderFor(dir)), f).toBe(4);
    }
  });
});

describe('sharded output', () => {
  it('cuts every format into shards with an index, each decoding bit for bit', async () => {
    const demo = join(work.dir, 'demo-shards');
    writeDemoModel(demo, { hidden: 128, intermediate: 256, layers: 2, heads: 4, kvHeads: 2 });
    const out = join(work.dir, 'shards');
    await new AutoRound(demo, { scheme: 'W4A16', groupSize: 64, iters: 0, disableOptRtn: true, maxShardSize: '100KB', log: silentLogger, discoverPlugins: false }).quantizeAndSave(out, {
      format: [...SYM_FORMATS, 'fake'],
    });
    for (const f of SYM_FORMATS) {
      const dir = join(out, f.replace(/:/g, '-'));
      const shards = readdirSync(dir).filter((n) => n.endsWith('.safetensors'));
      expect(shards.length, f).toBeGreaterThan(2);
      const index = JSON.parse(readFileSync(join(dir, 'model.safetensors.index.json'), 'utf8'));
      expect(new Set(Object.values(index.weight_map))).toEqual(new Set(shards));
      // a shard holds at most 100 kB of tensor data, unless one tensor alone is larger (the 180 kB embedding and lm_head)
      for (const s of shards) {
        const n = Object.values(index.weight_map).filter((v) => v === s).length;
        if (n > 1) expect(statSync(join(dir, s)).size, `${f}/${s}`).toBeLessThan(100_000 + 4096);
      }
      expect(comparePackedWithFake(dir, join(out, 'fake'), demo, decoderFor(dir)), f).toBe(14);
      expect(readdirSync(dir).filter((n) => n.includes('partial'))).toEqual([]);
    }
  });
});

describe('failures leave nothing half-written', () => {
  const demo = join(work.dir, 'demo-fail');
  writeDemoModel(demo, { hidden: 64, intermediate: 96, layers: 2, heads: 2, kvHeads: 1 });
  const opts = { scheme: 'W4A16', groupSize: 32, iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false } as const;
  const leftovers = (parent: string) => readdirSync(parent).filter((n) => n.includes('.partial-'));

  it('refuses an existing non-empty output folder without --overwrite and leaves it alone', async () => {
    const out = join(work.dir, 'taken');
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'keep.txt'), 'mine');
    await expect(new AutoRound(demo, opts).quantizeAndSave(out, { format: 'auto_gptq,auto_awq,llm_compressor' })).rejects.toThrow(/exists and is not empty \(pass --overwrite/);
    expect(readdirSync(out)).toEqual(['keep.txt']);
    // keep.txt is not an earlier output: overwrite alone leaves it, overwrite with force replaces it
    await expect(new AutoRound(demo, { ...opts, overwrite: true }).quantizeAndSave(out, { format: 'auto_gptq,auto_awq,llm_compressor' })).rejects.toThrow(/does not look like an earlier output/);
    expect(readdirSync(out)).toEqual(['keep.txt']);
    await new AutoRound(demo, { ...opts, overwrite: true, force: true }).quantizeAndSave(out, { format: 'auto_gptq,auto_awq,llm_compressor' });
    expect(readdirSync(out).sort()).toEqual(['auto_awq', 'auto_gptq', 'llm_compressor']);
    // an earlier output of several formats is replaced with overwrite alone
    await new AutoRound(demo, { ...opts, overwrite: true }).quantizeAndSave(out, { format: 'auto_gptq,auto_awq' });
    expect(readdirSync(out).sort()).toEqual(['auto_awq', 'auto_gptq']);
  });

  it('a shard write failing in the middle (target folder gone) names the format and tensor; no output, no staging left', async () => {
    // wraps auto_gptq; after two packed layers it removes its own staging folder, so the next shard
    // (a 1 kB max shard size flushes on every tensor) cannot be opened
    const flaky: ExporterPlugin = {
      name: 'flaky_gptq',
      description: 'auto_gptq that loses its folder midway (test)',
      check: (s, f) => autoGptqExporter.check(s, 'auto_gptq') ?? (f ? null : null),
      open(ctx) {
        const inner = autoGptqExporter.open({ ...ctx, format: 'auto_gptq' });
        let n = 0;
        return {
          writeTensor: (name, t) => inner.writeTensor(name, t),
          writeQuantized(layer, q) {
            if (++n === 3) rmSync(ctx.dir, { recursive: true, force: true });
            inner.writeQuantized(layer, q);
          },
          finish: () => inner.finish(),
        };
      },
    };
    const out = join(work.dir, 'midway', 'out');
    const ar = new AutoRound(demo, { ...opts, maxShardSize: 1000, plugins: [definePlugin({ name: 'flaky', exporters: [flaky] })] });
    await expect(ar.quantizeAndSave(out, { format: 'auto_awq,flaky_gptq,fake' })).rejects.toThrow(/auto_gptq: writing model\.layers\.0\.self_attn\.v_proj\.qweight into .*flaky_gptq failed: ENOENT/);
    expect(existsSync(out)).toBe(false);
    expect(leftovers(dirname(out))).toEqual([]);
  });

  it('an error thrown by an exporter midway removes every format\'s staging folder', async () => {
    const boom: ExporterPlugin = {
      name: 'boom',
      description: 'fails on the fifth layer (test)',
      check: () => null,
      open: () => {
        let n = 0;
        return {
          writeTensor() {},
          writeQuantized(layer) {
            if (++n === 5) throw new Error(`disk full while writing ${layer}`);
          },
          finish() {},
        };
      },
    };
    const out = join(work.dir, 'boom', 'out');
    const ar = new AutoRound(demo, { ...opts, plugins: [definePlugin({ name: 'boom', exporters: [boom] })] });
    await expect(ar.quantizeAndSave(out, { format: 'auto_gptq,llm_compressor,boom' })).rejects.toThrow(/disk full while writing model\.layers\.0\.mlp\.gate_proj/);
    expect(existsSync(out)).toBe(false);
    expect(leftovers(dirname(out))).toEqual([]);
  });
});
