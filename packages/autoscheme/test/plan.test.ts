// AutoScheme through the host: bad input refused before any work, the plan written beside the output and recorded
// in quantization_config, the budget met, the scores' cache reused.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AutoRound } from '@autoround/autoround';
import { isAutoRoundError, memoryLogger, readConfig } from '@autoround/core';
import { HAS_SHARED, LLAMA256, STORIES, TINYSTORIES, needsShared, tempDir } from '@autoround/testing';
import { ggufFileOf, readGguf } from '@autoround/export-gguf';
import autoSchemePlugin, { resolveOptions } from '../src/index.js';

async function caught(p: Promise<unknown>): Promise<{ code: string; message: string; subject?: string }> {
  try {
    await p;
  } catch (e) {
    if (isAutoRoundError(e)) return { code: e.code, message: e.message, ...(e.subject ? { subject: e.subject } : {}) };
    throw e;
  }
  throw new Error('no error');
}

describe('resolveOptions', () => {
  it('drops options that are the same scheme, refuses mixed presets and unknown names', () => {
    expect(resolveOptions(['gguf:q3_k_s,gguf:q3_k_m', 'W4A16 w4a16', 'gguf:Q3_K_L']).map((o) => o.name)).toEqual(['GGUF:Q3_K_S', 'W4A16']);
    expect(() => resolveOptions(['W2A16,W4A16_MIXED'])).toThrow(/"mixed" preset/);
    expect(() => resolveOptions(['W2A16,W5'])).toThrow(/--options W5: unknown scheme/);
    // options that quantize activations are scored with the activation term
    expect(resolveOptions(['MXFP4,NVFP4,FP8_STATIC']).map((o) => o.name)).toEqual(['MXFP4', 'NVFP4', 'FP8_STATIC']);
    expect(() => resolveOptions([' , '])).toThrow(/--options is empty/);
  });
});

describe.skipIf(!HAS_SHARED)('AutoScheme in a run', () => {
  const run = (dir: string, avgBits: number, options: string, extra: Record<string, unknown> = {}, log = memoryLogger()) =>
    new AutoRound(STORIES, {
      iters: 0,
      disableOptRtn: true,
      dataset: `${TINYSTORIES}:concat`,
      autoScheme: { avgBits, options: [options], nsamples: 4, seqlen: 64, cacheDir: join(dir, 'cache') },
      plugins: [autoSchemePlugin],
      skipSanityCheck: true,
      log,
      ...extra,
    });

  it(needsShared('an unreachable budget states the reachable range; an option the format cannot write is refused before scoring'), async () => {
    const { dir, cleanup } = tempDir();
    try {
      for (const bits of [1.5, 9]) {
        const log = memoryLogger();
        const e = await caught(run(dir, bits, 'W2A16,W4A16', {}, log).quantizeAndSave(join(dir, 'out'), { format: 'auto_round' }));
        expect(e.code).toBe('E_BAD_FLAG');
        expect(e.subject).toBe('--avg_bits');
        expect(e.message).toMatch(new RegExp(`--avg_bits ${bits} cannot be met with --options W2A16,W4A16: the reachable average is 2\\.\\d+ to 4\\.\\d+ bits`));
        expect(log.lines.some((l) => /scored|calibration/.test(l))).toBe(false);
      }
      const log = memoryLogger();
      const e = await caught(run(dir, 3, 'W2A16,gguf:q4_k_s', {}, log).quantizeAndSave(join(dir, 'out'), { format: 'auto_gptq' }));
      expect(e.code).toBe('E_FORMAT');
      expect(e.subject).toBe('--options');
      expect(e.message).toMatch(/^--options gguf:q4_k_s: --format auto_gptq: /);
      expect(log.lines.some((l) => /scored|calibration/.test(l))).toBe(false);
      expect(existsSync(join(dir, 'out'))).toBe(false);
    } finally {
      cleanup();
    }
  }, 120_000);

  it(needsShared('stories260K: the plan meets the budget, is written beside the output and in quantization_config, and its scores are cached'), async () => {
    const { dir, cleanup } = tempDir();
    try {
      const log = memoryLogger();
      await run(dir, 3, 'W2A16,W4A16,W8A16', {}, log).quantizeAndSave(join(dir, 'out'), { format: 'auto_round' });
      const qc = JSON.parse(readFileSync(join(dir, 'out', 'config.json'), 'utf8')).quantization_config as Record<string, unknown> & { autoscheme: { achieved_bits: number; avg_bits: number; total_bits: number; total_params: number } };
      expect(qc.autoscheme.avg_bits).toBe(3);
      expect(qc.autoscheme.achieved_bits).toBeLessThanOrEqual(3);
      expect(qc.autoscheme.total_bits).toBeLessThanOrEqual(Math.floor(3 * qc.autoscheme.total_params));
      const plan = JSON.parse(readFileSync(join(dir, 'out', 'autoscheme_plan.json'), 'utf8')) as { layers: { layers: string[]; option: string }[] };
      // only the options were used, more than one of them
      const bitsOf: Record<string, number> = { W2A16: 2, W4A16: 4, W8A16: 8 };
      for (const row of plan.layers) expect(bitsOf[row.option]).toBeDefined();
      expect(new Set(plan.layers.map((r) => r.option)).size).toBeGreaterThan(1);
      // the layers the plan gives a scheme other than the global one are in extra_config
      const extra = qc.extra_config as Record<string, { bits?: number }>;
      for (const row of plan.layers) for (const l of row.layers) if (row.option !== 'W4A16') expect(extra[l]?.bits).toBe(bitsOf[row.option]);
      expect(log.lines.some((l) => /^AutoScheme: scored W2A16/.test(l))).toBe(true);
      // the second run reads the scores from the cache
      const log2 = memoryLogger();
      await run(dir, 3, 'W2A16,W4A16,W8A16', { overwrite: true }, log2).quantizeAndSave(join(dir, 'out'), { format: 'auto_round' });
      expect(log2.lines.filter((l) => /from the cache/.test(l))).toHaveLength(3);
      expect(JSON.parse(readFileSync(join(dir, 'out', 'autoscheme_plan.json'), 'utf8'))).toEqual(plan);
    } finally {
      cleanup();
    }
  }, 300_000);

  it(needsShared('stories260K: options that quantize activations (MXFP4, MXFP8) are scored with the activation term and planned'), async () => {
    const { dir, cleanup } = tempDir();
    try {
      const log = memoryLogger();
      await run(dir, 6, 'MXFP4,MXFP8', {}, log).quantizeAndSave(join(dir, 'out'), { format: 'fake' });
      const plan = JSON.parse(readFileSync(join(dir, 'out', 'autoscheme_plan.json'), 'utf8')) as { layers: { option: string; score: number }[] };
      expect(new Set(plan.layers.map((r) => r.option))).toEqual(new Set(['MXFP4', 'MXFP8']));
      expect(log.lines.some((l) => /^AutoScheme: scored MXFP4 /.test(l))).toBe(true);
    } finally {
      cleanup();
    }
  }, 120_000);

  it(needsShared('llama-256: all-GGUF options are counted in the block types\' storage bits, which the written .gguf matches'), async () => {
    const { dir, cleanup } = tempDir();
    try {
      const out = join(dir, 'out');
      const ar = new AutoRound(LLAMA256, {
        iters: 0,
        disableOptRtn: true,
        dataset: `${TINYSTORIES}:concat`,
        autoScheme: { avgBits: 3.5, options: ['gguf:q2_k_s,gguf:q4_k_s'], nsamples: 2, seqlen: 64, cacheDir: false },
        // the MLP stays in float (F32 in the file) to keep the test short: 16 attention layers are planned
        ignoreLayers: 'mlp',
        plugins: [autoSchemePlugin],
        skipSanityCheck: true,
        log: memoryLogger(),
      });
      await ar.quantizeAndSave(out, { format: 'gguf:q5_k_m' });
      const plan = JSON.parse(readFileSync(join(out, 'autoscheme_plan.json'), 'utf8')) as { layers: { layers: string[]; option: string; bits: number }[]; achieved_bits?: number };
      const f = readGguf(ggufFileOf(out, readConfig(out)));
      const bytes = new Map(f.tensors.map((t) => [t.name, t.nbytes]));
      const GGUF_NAME: Record<string, string> = { 'self_attn.q_proj': 'attn_q', 'self_attn.k_proj': 'attn_k', 'self_attn.v_proj': 'attn_v', 'self_attn.o_proj': 'attn_output', 'mlp.gate_proj': 'ffn_gate', 'mlp.up_proj': 'ffn_up', 'mlp.down_proj': 'ffn_down' };
      // every planned layer's bits in the plan are its tensor's bits in the file
      const fileBits = (l: string) => {
        const m = /^model\.layers\.(\d+)\.(.+)$/.exec(l)!;
        return bytes.get(`blk.${m[1]}.${GGUF_NAME[m[2]!]}.weight`)! * 8;
      };
      let planned = 0;
      let layers = 0;
      for (const row of plan.layers) {
        const bits = row.layers.reduce((a, l) => a + fileBits(l), 0);
        expect(row.bits).toBe(bits);
        planned += bits;
        layers += row.layers.length;
      }
      expect(layers).toBe(16);
      const qc = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).quantization_config as { autoscheme: { bit_count: string; total_bits: number; total_params: number; achieved_bits: number } };
      expect(qc.autoscheme.bit_count).toBe('gguf');
      expect(qc.autoscheme.total_bits).toBe(planned);
      expect(qc.autoscheme.achieved_bits).toBeLessThanOrEqual(3.5);
      expect(new Set(plan.layers.map((r) => r.option)).size).toBe(2);
    } finally {
      cleanup();
    }
  }, 180_000);
});
