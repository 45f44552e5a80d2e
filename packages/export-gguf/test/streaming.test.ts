// The exporter widens and quantizes a tensor a piece of rows at a time (docs/perf/whole-model.md#gguf-peak): the
// bytes must be those of the whole float32 tensor, for every source dtype and across piece boundaries, and the
// memory must not hold a float32 copy of a big tensor again.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint, type DType, ShardedSafetensorsWriter, fromFloat32, toFloat32 } from '@autoround/core-tensor';
import { quantizeRows } from '@autoround/quant-types';
import { exportGguf, ggufExporter, ggufTensorName, readGguf, reversePermuteRows } from '../src/index.js';
import { PIECE_ELEMENTS } from '../src/export.js';
import { exportContext, writeSynthModel } from './fixtures.js';

const tmp = mkdtempSync(join(tmpdir(), 'gguf-streaming-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const SIDE_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];

/** Writes `tensors` into `dir` as one safetensors file of `dtype`, with the side files of `from`. */
function writeAs(from: string, dir: string, dtype: DType, tensors: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>): void {
  mkdirSync(dir, { recursive: true });
  for (const f of SIDE_FILES) copyFileSync(join(from, f), join(dir, f));
  const w = new ShardedSafetensorsWriter(dir);
  for (const [n, t] of tensors) w.add(n, dtype, t.shape, fromFloat32(dtype, t.data));
  w.close();
}

describe('row-chunked GGUF export', () => {
  it('bf16 and f16 sources give the bytes of their float32 widening, across piece boundaries and the Q/K permutation', async () => {
    // llama: Q/K rows permuted; an untied embedding and lm_head of 4500 × 256 = 1.15 M elements: two pieces each
    const src = join(tmp, 'llama-f32');
    const m = writeSynthModel(src, { kind: 'llama3', hidden: 256, heads: 2, kvHeads: 1, headDim: 128, inter: 512, layers: 1, vocab: 4500, tied: false }, 7);
    const ck = Checkpoint.open(src);
    const shapes = new Map(ck.names.map((n) => [n, ck.info(n).shape] as const));
    ck.close();
    expect(4500 * 256).toBeGreaterThan(PIECE_ELEMENTS);
    for (const dtype of ['BF16', 'F16'] as const) {
      // the same values stored as `dtype` and as float32 (their exact widening)
      const widened = new Map([...m].map(([n, d]) => [n, { shape: shapes.get(n)!, data: toFloat32(dtype, fromFloat32(dtype, d)) }] as const));
      const asF32 = join(tmp, `llama-${dtype}-as-f32`);
      const asLow = join(tmp, `llama-${dtype}`);
      writeAs(src, asF32, 'F32', widened);
      writeAs(src, asLow, dtype, widened);
      const ref = join(tmp, `ref-${dtype}.gguf`);
      const got = join(tmp, `got-${dtype}.gguf`);
      // general.name as the plugin names it (the folder's name)
      const name = `llama-${dtype}`;
      await exportGguf({ modelDir: asF32, outFile: ref, fileType: 'Q4_K_M', modelName: name });
      await exportGguf({ modelDir: asLow, outFile: got, fileType: 'Q4_K_M', modelName: name });
      // the reference itself: every tensor is the whole float32 tensor (Q/K rows permuted whole) quantized at once
      const file = readGguf(ref);
      const bytes = readFileSync(ref);
      let checked = 0;
      for (const [n, t] of widened) {
        const g = ggufTensorName(n, 'llama');
        const info = g ? file.tensors.find((x) => x.name === g) : undefined;
        if (!info) continue;
        const heads = /q_proj/.test(n) ? 2 : /k_proj/.test(n) ? 1 : 0;
        const x = heads ? reversePermuteRows(t.data, t.shape[0]!, t.shape[1]!, heads) : t.data;
        const want = quantizeRows(info.type, x, info.ne[0]!);
        expect(bytes.subarray(file.dataOffset + info.offset, file.dataOffset + info.offset + info.nbytes).equals(want), `${g} from ${dtype}`).toBe(true);
        checked++;
      }
      expect(checked).toBe(widened.size - 1); // all but rotary_emb.inv_freq, which GGUF does not store
      expect(readFileSync(got).equals(readFileSync(ref)), `exportGguf from ${dtype}`).toBe(true);
      // the plugin path: the host hands each tensor as it is stored (bf16/f16), in its own order
      const out = join(tmp, `session-${dtype}`);
      mkdirSync(out, { recursive: true });
      const ctx = exportContext(asLow, out, 'gguf:q4_k_m');
      const session = ggufExporter.open(ctx);
      for (const n of ctx.checkpoint.names.reverse()) session.writeTensor(n, ctx.checkpoint.read(n));
      await session.finish();
      ctx.checkpoint.close();
      expect(readFileSync(join(out, `${name}-Q4_K_M.gguf`)).equals(readFileSync(ref)), `the gguf session fed ${dtype} tensors`).toBe(true);
    }
  });
});

/**
 * A child process (its own RSS) exports a bf16 checkpoint whose embedding is 65,536 × 1024 (128 MiB in bf16, 256
 * MiB in float32) and reports how far its peak RSS rose above the RSS before the export. `mode` 'export':
 * exportGguf; 'session': the plugin fed one tensor at a time as the host does (the host holds the bf16 tensor).
 */
function peakGrowthMiB(modelDir: string, mode: 'export' | 'session'): number {
  const script = `
    import { mkdirSync, readFileSync } from 'node:fs';
    import { join } from 'node:path';
    import { Checkpoint } from '@autoround/core-tensor';
    import { memoryLogger, presetScheme, readConfig } from '@autoround/core';
    import { exportGguf, ggufExporter } from '@autoround/export-gguf';
    const [dir, mode] = [${JSON.stringify(modelDir)}, ${JSON.stringify(mode)}];
    const out = join(dir, 'out-' + mode);
    mkdirSync(out, { recursive: true });
    globalThis.gc?.();
    const rss0 = process.memoryUsage().rss;
    if (mode === 'export') await exportGguf({ modelDir: dir, outFile: join(out, 'm.gguf'), fileType: 'Q8_0', threads: 1 });
    else {
      const config = readConfig(dir);
      const checkpoint = Checkpoint.open(dir);
      const s = ggufExporter.open({ format: 'gguf:q8_0', dir: out, sourceDir: dir, spec: { architecture: config.architectures[0] }, config, checkpoint, scheme: presetScheme('GGUF:Q8_0'), layerSchemes: new Map(), quantArgs: {}, maxShardBytes: 5e9, log: memoryLogger() });
      for (const n of checkpoint.names) s.writeTensor(n, checkpoint.read(n));
      await s.finish();
    }
    // VmHWM, the peak of this process image: getrusage's maxRSS keeps the parent's peak across fork and exec
    const hwm = Number(/VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
    console.log('GROWTH ' + (hwm - rss0) / 1048576);
  `;
  const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: join(import.meta.dirname, '..'), encoding: 'utf8', timeout: 120_000 });
  const m = /GROWTH (\S+)/.exec(r.stdout);
  if (!m) throw new Error(`the ${mode} child failed (status ${r.status}):\n${r.stdout}\n${r.stderr}`);
  return Number(m[1]);
}

describe('row-chunked GGUF export: memory', () => {
  it.skipIf(process.platform !== 'linux')('neither exportGguf nor the plugin holds a float32 copy of a big bf16 embedding', () => {
    const small = join(tmp, 'qwen2-small');
    const m = writeSynthModel(small, { kind: 'qwen2', hidden: 1024, heads: 8, kvHeads: 2, headDim: 128, inter: 256, layers: 1, vocab: 64, tied: true }, 3);
    const dir = join(tmp, 'qwen2-big-embd');
    const V = 65536;
    const H = 1024;
    const ck = Checkpoint.open(small);
    const tensors = new Map([...m].map(([n, d]) => [n, { shape: ck.info(n).shape, data: d }] as const));
    ck.close();
    // the big embedding as bf16 bits straight away (a float32 copy here would not matter, the child is measured)
    const embd = new Float32Array(V * H);
    let seed = 12345;
    for (let i = 0; i < embd.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) | 0;
      embd[i] = ((seed >>> 8) / 2 ** 24 - 0.5) * 0.04;
    }
    tensors.set('model.embed_tokens.weight', { shape: [V, H], data: embd });
    writeAs(small, dir, 'BF16', tensors);
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, vocab_size: V }));
    const bf16MiB = (V * H * 2) / 1048576;
    const f32MiB = (V * H * 4) / 1048576;
    // exportGguf reads pieces from the file: neither the bf16 tensor nor a float32 copy (before: both, 384 MiB)
    const exp = peakGrowthMiB(dir, 'export');
    expect(exp, `exportGguf: peak RSS growth ${exp.toFixed(0)} MiB`).toBeLessThan(bf16MiB / 2);
    // the session: the host's bf16 tensor, plus pieces (before: plus the float32 copy, 384 MiB in all)
    const ses = peakGrowthMiB(dir, 'session');
    expect(ses, `gguf session: peak RSS growth ${ses.toFixed(0)} MiB`).toBeLessThan(bf16MiB + f32MiB / 2);
    console.log(`peak RSS growth: exportGguf ${exp.toFixed(0)} MiB, gguf session ${ses.toFixed(0)} MiB (bf16 embedding ${bf16MiB} MiB, float32 ${f32MiB} MiB)`);
  }, 120_000);
});
