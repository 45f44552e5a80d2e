import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoRound, type AutoRoundOptions, PerplexityBench, folderPerplexity, memoryLogger, presetScheme, writeDemoModel } from '@autoround/autoround';
import { readConfig } from '@autoround/core';
import gguf, { exportGguf, fileTypeNames, ggufFileOf, readGgufWeights } from '@autoround/export-gguf';
import { Graph } from '@autoround/core-tensor';
import { type BlockwiseCausalLM, type WeightSource, isBlockTunable } from '@autoround/core';
import signround from '../src/index.js';
import { HAS_SHARED, LLAMA256, SHARED, loadNodeLlamaCpp, needsShared, tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

const C4 = join(SHARED, 'datasets/calibration/c4_sample_1480.text.jsonl');

// node-llama-cpp (a dev dependency of @autoround/export-gguf, hoisted) runs the tuned files when present
const { nlc } = await loadNodeLlamaCpp();
const WIKI = join(SHARED, 'datasets/wikitext-2-raw/wiki.test.raw');

describe('the scheme a --format gguf:<type> selects', () => {
  it('is the matching GGUF preset for every file type (16 bits for the float files); an explicit --scheme stays', async () => {
    const want: Record<string, string> = { q2_k: 'GGUF:Q2_K_S', q3_k: 'GGUF:Q3_K_M', q4_k: 'GGUF:Q4_K_M', q5_k: 'GGUF:Q5_K_M', f32: 'BF16', f16: 'BF16', bf16: 'BF16', mxfp4_moe: 'GGUF:MXFP4' };
    for (const t of [...fileTypeNames(), 'q2_k', 'q3_k', 'q4_k', 'q5_k']) {
      const s = await new AutoRound('unused', { plugins: [gguf], log: memoryLogger() }).scheme([`gguf:${t}`]);
      expect(s, t).toEqual(presetScheme(want[t] ?? `GGUF:${t}`));
    }
    expect((await new AutoRound('unused', { plugins: [gguf], log: memoryLogger() }).scheme(['fake'])).data_type).toBe('int');
    const log = memoryLogger();
    expect((await new AutoRound('unused', { scheme: 'W4A16', plugins: [gguf], log }).scheme(['gguf:q4_k_m'])).group_size).toBe(128);
    expect(log.lines.some((l) => /--scheme W4A16 with --format gguf:q4_k_m: the GGUF file type decides/.test(l))).toBe(true);
  });
});

describe('tuning variants with GGUF types', () => {
  /** A two-block demo model calibrated on `text`; each call quantizes it to a Q4_0 GGUF with 6 tuning iterations and `variant`. */
  const ggufDemoJob = (tag: string, text: string) => {
    const model = join(work.dir, `demo-${tag}`);
    writeDemoModel(model, { hidden: 64, intermediate: 128, layers: 2, heads: 2, kvHeads: 1 });
    const calib = join(work.dir, `calib-${tag}.txt`);
    writeFileSync(calib, `${text} `.repeat(200));
    return async (name: string, variant: Partial<AutoRoundOptions>) => {
      const out = join(work.dir, `gguf-${tag}-${name}`);
      const log = memoryLogger();
      const res = await new AutoRound(model, { iters: 6, dataset: `${calib}:concat`, nsamples: 8, seqlen: 32, batchSize: 4, log, discoverPlugins: false, plugins: [signround, gguf], ...variant }).quantizeAndSave(out, { format: 'gguf:q4_0', keepQdq: true });
      return { out, res, lines: log.lines };
    };
  };

  it('--enable_norm_bias_tuning tunes the norms with the GGUF offsets: the file holds exactly the tuned norms, and they moved', async () => {
    const run = ggufDemoJob('nbt', 'The miller ground the corn while the river turned the wheel.');
    const tuned = await run('tuned', { enableNormBiasTuning: true });
    const plain = await run('plain', {});
    expect(plain.res.tensors.size).toBe(0);
    const names = [...tuned.res.tensors.keys()].sort();
    expect(names).toEqual(['model.layers.0.input_layernorm.weight', 'model.layers.0.post_attention_layernorm.weight', 'model.layers.1.input_layernorm.weight', 'model.layers.1.post_attention_layernorm.weight']);
    const back = readGgufWeights(ggufFileOf(tuned.out, readConfig(tuned.out)));
    const source = readGgufWeights(ggufFileOf(plain.out, readConfig(plain.out)));
    let moved = 0;
    for (const n of names) {
      expect(back.readFloat32(n).data, n).toEqual(tuned.res.tensors.get(n));
      if (back.readFloat32(n).data.some((v, i) => v !== source.readFloat32(n).data[i])) moved++;
    }
    expect(moved).toBeGreaterThan(0);
    for (const [layer, q] of tuned.res.qdq) expect(q.qdq, layer).toEqual(back.readFloat32(`${layer}.weight`).data);
  });

  it('--nblocks 2 tunes two blocks as one against the second one\'s output; the file holds the tuned QDQ, and nblocks 1 is the per-block run', async () => {
    const run = ggufDemoJob('nb', 'Two owls argued all night about the shape of the moon.');
    const two = await run('2', { nblocks: 2 });
    const one = await run('1', { nblocks: 1 });
    // one tuning loop for both blocks, its loss on the last block's output
    expect(two.lines.filter((l) => /loss iter 0: /.test(l))).toEqual([expect.stringMatching(/^blocks 1-2\/2: loss iter 0: /)]);
    expect(two.lines.some((l) => /^blocks 1-2: loss on all calibration samples: /.test(l))).toBe(true);
    expect(one.lines.filter((l) => /loss iter 0: /.test(l)).map((l) => l.slice(0, 9))).toEqual(['block 1/2', 'block 2/2']);
    const config = readConfig(two.out);
    const back = readGgufWeights(ggufFileOf(two.out, config));
    const names = [...two.res.qdq.keys()].filter((k) => k.startsWith('model.layers.'));
    expect(names.length).toBe(14);
    for (const layer of names) expect(two.res.qdq.get(layer)!.qdq, layer).toEqual(back.readFloat32(`${layer}.weight`).data);
    // block 0's layers see another loss (block 1's output through block 1) and so move elsewhere than per block
    const block0 = names.filter((k) => k.startsWith('model.layers.0.'));
    expect(block0.filter((k) => two.res.qdq.get(k)!.qdq.some((v, i) => v !== one.res.qdq.get(k)!.qdq[i])).length).toBeGreaterThan(0);
  });

  it('--enable_lfq tunes the last GGUF block on the LM loss (log line and calibration pick both a cross-entropy); block 0 is unchanged', async () => {
    const job = ggufDemoJob('lfq', 'A small boat sailed past the harbour wall at dawn.');
    const run = async (enableLfq: boolean) => {
      const { res, lines } = await job(String(enableLfq), { enableLfq });
      const losses = (re: RegExp) => lines.filter((l) => re.test(l)).map((l) => Number(/: loss iter 0: ([\d.e+-]+)/.exec(l)?.[1] ?? /iteration 0 ([\d.e+-]+)/.exec(l)![1]));
      return { res, first: losses(/^block \d\/2: loss iter 0: /), picks: losses(/^block \d: loss on all calibration samples: /) };
    };
    const lfq = await run(true);
    const plain = await run(false);
    // block 1 (the first) tunes on its output MSE in both runs, from the same levels
    expect(lfq.first[0]).toBe(plain.first[0]);
    expect(lfq.picks[0]).toBe(plain.picks[0]);
    // the last block: a cross-entropy over the demo vocabulary (~350 tokens), far above a block MSE, in the tuning and in the pick
    for (const ce of [lfq.first[1]!, lfq.picks[1]!]) {
      expect(ce).toBeGreaterThan(3);
      expect(ce).toBeLessThan(8);
    }
    expect(plain.first[1]!).toBeLessThan(1);
    const block1 = [...lfq.res.qdq.keys()].filter((k) => k.startsWith('model.layers.1.'));
    const block0 = [...lfq.res.qdq.keys()].filter((k) => k.startsWith('model.layers.0.'));
    expect(block0.every((k) => lfq.res.qdq.get(k)!.qdq.every((v, i) => v === plain.res.qdq.get(k)!.qdq[i]))).toBe(true);
    expect(block1.some((k) => lfq.res.qdq.get(k)!.qdq.some((v, i) => v !== plain.res.qdq.get(k)!.qdq[i]))).toBe(true);
  });

  it('--enable_adam tunes GGUF layers with AdamW (lr 0.005): other levels than the sign step, and the file holds them', async () => {
    const run = ggufDemoJob('adam', 'The lighthouse keeper counted ships and wrote their names in a book.');
    const adam = await run('adam', { enableAdam: true });
    const sign = await run('sign', {});
    expect(adam.lines.some((l) => /with auto_round \(GGUF: V tuned, GGUF scales frozen\)/.test(l))).toBe(true);
    // the loss lines report the unscaled MSE in both runs: same first loss on block 0 (same levels before any step)
    const first = (lines: string[]) => lines.find((l) => /block 1\/2: loss iter 0: /.test(l))!;
    expect(/loss iter 0: ([\d.e-]+)/.exec(first(adam.lines))![1]).toBe(/loss iter 0: ([\d.e-]+)/.exec(first(sign.lines))![1]);
    const config = readConfig(adam.out);
    expect((config.quantization_config as Record<string, unknown>).lr).toBe(0.005);
    const back = readGgufWeights(ggufFileOf(adam.out, config));
    const names = [...adam.res.qdq.keys()];
    expect(names.length).toBeGreaterThan(0);
    for (const layer of names) expect(adam.res.qdq.get(layer)!.qdq, layer).toEqual(back.readFloat32(`${layer}.weight`).data);
    expect(names.filter((k) => adam.res.qdq.get(k)!.qdq.some((v, i) => v !== sign.res.qdq.get(k)!.qdq[i])).length).toBeGreaterThan(0);
  });
});

describe.skipIf(!HAS_SHARED)(needsShared('GGUF through the whole pipeline (llama-256)'), () => {
  const evalText = HAS_SHARED ? readFileSync(WIKI, 'utf8').slice(0, 12_000) : '';
  let bench: PerplexityBench | undefined;
  const run = async (format: string, o: { iters: number; disableOptRtn?: boolean }, name: string) => {
    const log = memoryLogger();
    const ar = new AutoRound(LLAMA256, { ...o, dataset: C4, nsamples: 8, seqlen: 128, log, discoverPlugins: false, plugins: [signround, gguf] });
    const out = join(work.dir, name);
    const res = await ar.quantizeAndSave(out, { format, keepQdq: true });
    bench ??= new PerplexityBench(await ar.registry(), await ar.load(), await ar.backend(), evalText, { seqlen: 128, maxTokens: 2500 });
    return { ar, log, res, out, file: ggufFileOf(out, readConfig(out)) };
  };

  it('--format gguf:q4_k_m alone selects GGUF:Q4_K_M; plain RTN writes exportGguf bytes and keeps the file QDQ in memory', async () => {
    const { ar, log, res, file } = await run('gguf:q4_k_m', { iters: 0, disableOptRtn: true }, 'rtn');
    expect((await ar.scheme()).data_type).toBe('int_asym_dq');
    expect(log.lines.some((l) => /with rtn, scheme int_asym_dq4 asym g32, format gguf:q4_k_m/.test(l))).toBe(true);
    const ref = join(work.dir, 'ref.gguf');
    await exportGguf({ modelDir: LLAMA256, outFile: ref, fileType: 'Q4_K_M' });
    expect(readFileSync(file).equals(readFileSync(ref))).toBe(true);
    // the in-memory QDQ is what the file holds (Q/K rows back in HF order), per-layer types follow the mix
    const back = readGgufWeights(file);
    for (const layer of ['model.layers.0.self_attn.q_proj', 'model.layers.3.self_attn.v_proj', 'model.layers.1.mlp.down_proj']) {
      expect(res.qdq.get(layer)!.qdq, layer).toEqual(back.readFloat32(`${layer}.weight`).data);
    }
    expect(res.qdq.get('model.layers.3.self_attn.v_proj')!.blocks!.type).toBe('Q6_K');
    expect(res.qdq.get('model.layers.1.self_attn.v_proj')!.blocks!.type).toBe('Q4_K');
  });

  it('optimized RTN (the --iters 0 default) quantizes with the importance matrix, and the Q2_K_S file is not worse than plain RTN', async () => {
    const plain = await run('gguf:q2_k_s', { iters: 0, disableOptRtn: true }, 'q2-rtn');
    const opt = await run('gguf:q2_k_s', { iters: 0 }, 'q2-im');
    expect(opt.log.lines.some((l) => /with opt-rtn/.test(l))).toBe(true);
    expect(opt.log.lines.some((l) => /28 layers written as the algorithm quantized them, 0 quantized from float weights; 28 with an importance matrix/.test(l))).toBe(true);
    expect([...opt.res.qdq.values()].every((q) => q.imatrix instanceof Float32Array)).toBe(true);
    expect(readFileSync(opt.file).equals(readFileSync(plain.file))).toBe(false);
    const pRtn = bench!.run(readGgufWeights(plain.file)).perplexity;
    const pIm = bench!.run(readGgufWeights(opt.file)).perplexity;
    expect(pIm).toBeLessThanOrEqual(pRtn);
    // the folder reads back through the exporter (detect + read), as `auto-round eval --model <folder>` does
    const viaFolder = folderPerplexity(await opt.ar.registry(), opt.out, await opt.ar.backend(), evalText, { seqlen: 128, maxTokens: 2500 });
    expect(viaFolder.perplexity).toBeCloseTo(pIm, 10);
  });

  // 8 x 64 calibration tokens (C4), 20 iterations; held out: wiki.test windows never seen in calibration
  const heldOut = HAS_SHARED ? readFileSync(WIKI, 'utf8').slice(20_000, 40_000) : '';
  let heldOutBench: PerplexityBench | undefined;
  let fpHidden: Float32Array[] | undefined;
  for (const [format, blockType] of [
    ['gguf:q4_k_s', 'Q4_K'],
    ['gguf:q2_k_s', 'Q2_K'],
  ] as const) {
    it(`tuned ${format} is not worse than plain RTN on held-out text (last block output MSE, perplexity); the file is the tuned QDQ and llama.cpp runs it`, async () => {
      const ppl: Record<string, number> = {};
      const mse: Record<string, number> = {};
      for (const [method, o] of [
        ['rtn', { iters: 0, disableOptRtn: true }],
        ['tuned', { iters: 20 }],
      ] as const) {
        const ar = new AutoRound(LLAMA256, { ...o, dataset: C4, nsamples: 8, seqlen: 64, batchSize: 4, log: memoryLogger(), discoverPlugins: false, plugins: [signround, gguf] });
        const out = join(work.dir, `${format.slice(5)}-${method}`);
        const res = await ar.quantizeAndSave(out, { format, keepQdq: true });
        const lm = await ar.load();
        const b = (heldOutBench ??= new PerplexityBench(await ar.registry(), lm, await ar.backend(), heldOut, { seqlen: 128, maxTokens: 3000 }));
        // the hidden states after the last block on 8 held-out windows of 64 tokens
        const hidden = async (w: WeightSource) => {
          const m = (await ar.registry()).architecture(lm.spec.architecture, lm.dir).load(lm.spec, w, await ar.backend()) as BlockwiseCausalLM;
          return Array.from({ length: 8 }, (_, k) => {
            const ids = b.ids.subarray(64 * k, 64 * (k + 1));
            let x = m.embedTokens(ids);
            for (let i = 0; i < m.numBlocks; i++) x = m.blockForward(i, x, ids.length);
            return x;
          });
        };
        fpHidden ??= await hidden(lm.checkpoint);
        const file = ggufFileOf(out, readConfig(out));
        const back = readGgufWeights(file);
        ppl[method] = b.run(back).perplexity;
        let se = 0;
        let n = 0;
        (await hidden(back)).forEach((x, k) => x.forEach((v, i) => ((se += (v - fpHidden![k]![i]!) ** 2), n++)));
        mse[method] = se / n;
        if (method !== 'tuned') continue;
        for (const [layer, q] of res.qdq) expect(q.qdq, layer).toEqual(back.readFloat32(`${layer}.weight`).data);
        expect(res.qdq.get('model.layers.1.mlp.up_proj')!.blocks!.type).toBe(blockType);
        if (nlc) {
          const llama = await nlc.getLlama({ gpu: false, build: 'never', logLevel: nlc.LlamaLogLevel.error });
          const model = await llama.loadModel({ modelPath: file });
          const ctx = await model.createContext({ contextSize: 64, threads: 1 });
          const got: number[] = [];
          for await (const tok of ctx.getSequence().evaluate([1, ...model.tokenize('The city council')] as never[], { temperature: 0 })) if (got.push(Number(tok)) >= 8) break;
          expect(got).toHaveLength(8);
          await ctx.dispose();
          await model.dispose();
        }
      }
      const what = `${format}: perplexity ${JSON.stringify(ppl)}, last block output MSE ${JSON.stringify(mse)}`;
      console.log(what);
      expect(mse.tuned, what).toBeLessThan(mse.rtn!);
      expect(ppl.tuned, what).toBeLessThanOrEqual(ppl.rtn!);
    }, 300_000);
  }

  it('--enable_alg_ext on a Q2_K file: the same frozen-scale tuning with the outlier-suppressed loss (below 4 bits), so other levels', async () => {
    const run = async (enableAlgExt: boolean) => {
      const log = memoryLogger();
      const ar = new AutoRound(LLAMA256, { iters: 8, dataset: C4, nsamples: 4, seqlen: 64, batchSize: 4, log, discoverPlugins: false, plugins: [signround, gguf], enableAlgExt });
      const res = await ar.quantizeAndSave(join(work.dir, `alg-ext-${enableAlgExt}`), { format: 'gguf:q2_k_s', keepQdq: true });
      return { res, lines: log.lines.filter((l) => /block \d\/4: loss iter 0: /.test(l)) };
    };
    const ext = await run(true);
    const plain = await run(false);
    expect(ext.lines).toHaveLength(4);
    // the first loss (iteration 0, before any step) leaves out the largest errors, so it is lower than the plain MSE
    const first = (l: string) => Number(/loss iter 0: ([\d.e-]+)/.exec(l)![1]);
    expect(first(ext.lines[0]!)).toBeLessThan(first(plain.lines[0]!));
    const moved = [...ext.res.qdq].filter(([k, q]) => q.qdq.some((v, i) => v !== plain.res.qdq.get(k)!.qdq[i]));
    expect(moved.length).toBeGreaterThan(0);
  });

  it('--iters > 0 tunes the rounding offsets of the GGUF layers under frozen GGUF scales; the file holds the tuned QDQ', async () => {
    const log = memoryLogger();
    const ar = new AutoRound(LLAMA256, { iters: 10, dataset: C4, nsamples: 4, seqlen: 64, batchSize: 4, log, discoverPlugins: false, plugins: [signround, gguf] });
    const out = join(work.dir, 'tuned');
    const res = await ar.quantizeAndSave(out, { format: 'gguf:q3_k_m', keepQdq: true });
    expect(log.lines.some((l) => /with auto_round \(GGUF: V tuned, GGUF scales frozen\)/.test(l))).toBe(true);
    expect(log.lines.filter((l) => /block \d\/4: loss iter 0: /.test(l))).toHaveLength(4);
    const config = readConfig(out);
    expect((config.quantization_config as Record<string, unknown>).enable_minmax_tuning).toBe(false);
    const back = readGgufWeights(ggufFileOf(out, config));
    for (const layer of ['model.layers.0.self_attn.k_proj', 'model.layers.0.self_attn.v_proj', 'model.layers.3.mlp.down_proj']) {
      const q = res.qdq.get(layer)!;
      expect(q.qdq, layer).toEqual(back.readFloat32(`${layer}.weight`).data);
      expect(q.imatrix).toBeInstanceOf(Float32Array);
    }
    expect(res.qdq.get('model.layers.0.self_attn.v_proj')!.blocks!.type).toBe('Q5_K');
    // block 0 sees the same inputs in optimized RTN: the tuned levels moved away from the iteration-0 search
    const opt = new AutoRound(LLAMA256, { iters: 0, dataset: C4, nsamples: 4, seqlen: 64, log: memoryLogger(), discoverPlugins: false, plugins: [signround, gguf] });
    const r0 = await opt.quantizeAndSave(join(work.dir, 'tuned-iter0'), { format: 'gguf:q3_k_m', keepQdq: true });
    const layers0 = [...res.qdq.keys()].filter((k) => k.startsWith('model.layers.0.'));
    expect(layers0.filter((k) => res.qdq.get(k)!.qdq.some((v, i) => v !== r0.qdq.get(k)!.qdq[i])).length).toBeGreaterThan(0);
    // the tuning graph is the model's block: same output as the inference forward
    const model = (await ar.registry()).architecture('LlamaForCausalLM', LLAMA256).load((await ar.load()).spec, (await ar.load()).checkpoint, await ar.backend());
    if (!isBlockTunable(model)) throw new Error('not a block-tunable model');
    const ids = Int32Array.from({ length: 16 }, (_, i) => 1 + ((i * 37) % 500));
    const x = model.embedTokens(ids);
    const g = new Graph(await ar.backend());
    const y = model.blockGraph(g, g.input(x, [16, model.spec.hiddenSize]), 1, { weight: (gr, _local, own, shape) => gr.leaf(own, shape) }, 1, 16);
    const ref = model.blockForward(1, x, 16);
    let err = 0;
    let norm = 0;
    for (let i = 0; i < ref.length; i++) {
      err += (y.data[i]! - ref[i]!) ** 2;
      norm += ref[i]! ** 2;
    }
    expect(Math.sqrt(err / norm)).toBeLessThan(1e-5);
  });
});
