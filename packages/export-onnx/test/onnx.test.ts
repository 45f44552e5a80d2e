import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { Checkpoint, f16BitsToF32, f32ToF16Bits, roundToF16, Tensor } from '@autoround/core-tensor';
import { completeScheme, type ExportContext, OverlayWeights, type QuantizedWeight, silentLogger } from '@autoround/core';
import { jsBackend } from '@autoround/kernels-cpu';
import { describeLlama, LlamaModel, readConfig } from '@autoround/models';
import { HAS_SHARED, needsShared, STORIES, tempDir, thrown } from '@autoround/testing';
import type { onnx } from 'onnx-proto';
import { buildDecoderGraph, decodeModel, onnxExporter, packMatMulNBits, parseOnnxFormat, toF16, unpackMatMulNBits, writeModelFile } from '@autoround/export-onnx';
import { asF32, decodeF16Scales, onnxFile, ortStep, quantizeTo, referenceLogits, referenceLogitsF16, relDiff, type SynthKind, writeSynthModel } from './helpers.js';

const work = tempDir();
afterAll(() => work.cleanup());

function layer(bits: number, out: number, inF: number, gs: number, code: (o: number, i: number) => number, zero: (o: number, g: number) => number, sym: boolean): QuantizedWeight {
  const ng = Math.ceil(inF / gs);
  const codes = new Uint8Array(out * inF);
  const zeros = new Int32Array(out * ng);
  const scales = new Float32Array(out * ng);
  const qdq = new Float32Array(out * inF);
  for (let o = 0; o < out; o++) for (let g = 0; g < ng; g++) {
    zeros[o * ng + g] = zero(o, g);
    scales[o * ng + g] = (o % 2 ? -0.25 : 0.5) * (g + 1);
  }
  for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) {
    codes[o * inF + i] = code(o, i);
    const g = Math.floor(i / gs);
    qdq[o * inF + i] = (codes[o * inF + i]! - zeros[o * ng + g]!) * scales[o * ng + g]!;
  }
  return { scheme: completeScheme({ bits, group_size: gs, sym, data_type: 'int' }), shape: [out, inF], groupSize: gs, qdq, codes, scales, zeros };
}

describe('MatMulNBits packing (docs/formats/onnx.md#matmulnbits), by hand', () => {
  it('4-bit: two codes a byte, the even element in the low nibble; symmetric zero 8 leaves zero_points out', () => {
    const q = layer(4, 2, 16, 16, (o, i) => (o * 3 + i) % 16, () => 8, true);
    const t = packMatMulNBits('l', q);
    expect([t.N, t.nBlocks, t.B.length]).toEqual([2, 1, 16]);
    expect(Array.from(t.B.slice(0, 8))).toEqual([0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe]);
    expect(t.B[8]).toBe(0x43); // row 1 starts at code 3
    expect(t.zeroPoints).toBeNull();
    expect(unpackMatMulNBits(t)).toEqual(q.qdq);
  });

  it('2-bit: four codes a byte, LSB first; asymmetric zero points packed four a byte along the blocks of a row', () => {
    const q = layer(2, 1, 80, 16, (_o, i) => i % 4, (_o, g) => g % 4, false);
    const t = packMatMulNBits('l', q);
    expect([t.nBlocks, t.B.length]).toEqual([5, 20]);
    expect(Array.from(t.B.slice(0, 4))).toEqual([0xe4, 0xe4, 0xe4, 0xe4]); // 3,2,1,0 from the top bits down
    expect(Array.from(t.zeroPoints!)).toEqual([0b11100100, 0b00]); // blocks 0..3 = 0,1,2,3; block 4 = 0
    expect(unpackMatMulNBits(t)).toEqual(q.qdq);
  });

  it('8-bit, and K not a multiple of the block: the last block is padded with zero codes', () => {
    const q = layer(8, 3, 40, 32, (o, i) => (o * 40 + i) & 255, (o) => 100 + o, false);
    const t = packMatMulNBits('l', q);
    expect([t.nBlocks, t.B.length]).toEqual([2, 3 * 64]);
    expect(t.B[32]).toBe(32); // block 1 of row 0 starts at input 32
    expect(Array.from(t.B.slice(40, 64))).toEqual(new Array(24).fill(0));
    expect(Array.from(t.zeroPoints!)).toEqual([100, 100, 101, 101, 102, 102]);
    expect(unpackMatMulNBits(t)).toEqual(q.qdq);
  });
});

describe('onnx format checks (before any work)', () => {
  const s = (bits: number, group_size: number, extra: Record<string, unknown> = {}) => completeScheme({ bits, group_size, sym: true, data_type: 'int', ...extra });
  it('names what MatMulNBits and the dtype cannot hold', () => {
    expect(onnxExporter.check(s(4, 32), 'onnx')).toBeNull();
    expect(onnxExporter.check(s(4, 128), 'onnx:q4:accuracy_level=4')).toBeNull();
    expect(onnxExporter.check(s(3, 32), 'onnx')).toBeNull(); // plain onnx: a 3-bit scheme goes to the fp32 file as QDQ
    expect(onnxExporter.check(s(3, 32), 'onnx:q4')).toMatch(/onnx:q4 holds 4-bit weights, the scheme has --bits 3/);
    expect(onnxExporter.check(s(4, 48), 'onnx:q4')).toMatch(/block sizes 16, 32, 64, 128, 256 \(--group_size\), the scheme has group_size 48/);
    expect(onnxExporter.check(s(4, -1), 'onnx:q4')).toMatch(/group_size -1/);
    expect(onnxExporter.check(s(2, 32), 'onnx:q2f16')).toBeNull();
    expect(onnxExporter.check(s(4, 32), 'onnx:q2f16')).toMatch(/onnx:q2f16 holds 2-bit weights, the scheme has --bits 4/);
    expect(onnxExporter.check(s(3, 32), 'onnx:fp16')).toBeNull(); // fp16: the QDQ weights, rounded to float16
    expect(onnxExporter.check(s(4, 32), 'onnx:q4:accuracy_level=7')).toMatch(/accuracy_level must be 0…4/);
    expect(onnxExporter.check(s(4, 32), 'onnx:int4')).toMatch(/unknown part "int4"/);
    expect(onnxExporter.check(completeScheme({ bits: 4, group_size: 32, data_type: 'mx_fp' }), 'onnx:q4')).toMatch(/integer weight-only/);
    expect(parseOnnxFormat('onnx:q2:external_data=on')).toEqual({ dtype: 'q2', accuracyLevel: 0, externalData: 'on' });
  });

  it.skipIf(!HAS_SHARED)(needsShared('refuses a model over 2 GiB with external_data=off when the session opens, before quantizing'), () => {
    const cfg = JSON.parse(readFileSync(join(STORIES, 'config.json'), 'utf8'));
    const huge = { names: ['model.embed_tokens.weight'], info: () => ({ dtype: 'F32', shape: [600_000, 1024] }), has: () => true };
    const ctx = { format: 'onnx:q4:external_data=off', scheme: s(4, 32), layerSchemes: new Map(), config: cfg, checkpoint: huge, log: silentLogger } as unknown as ExportContext;
    const e = thrown(() => onnxExporter.open(ctx));
    expect(e.message).toMatch(/--format onnx:q4:external_data=off: the model needs about \d+\.\d+ GiB of weights, over protobuf's 2 GiB limit/);
    expect((e as { code?: string }).code).toBe('E_TOO_LARGE');
    const bad = { ...ctx, format: 'onnx:q4', config: { ...cfg, architectures: ['GPT2LMHeadModel'] } } as ExportContext;
    expect(thrown(() => onnxExporter.open(bad)).message).toMatch(/architecture "GPT2LMHeadModel" has no onnx graph yet/);
  });
});

const PROMPT = Int32Array.from({ length: 64 }, (_, i) => (i === 0 ? 1 : (i * 37 + 11) % 512));
const DIMS = { kvHeads: 4, headDim: 8, layers: 5 };

/** Each quantized layer's MatMulNBits, run by onnxruntime on the identity: its output is the weight it decodes. */
async function ortDecodedWeights(file: string, float16 = false): Promise<Map<string, { ort: Float32Array; file: Float32Array; scaleBits: Uint16Array | null }>> {
  const m = decodeModel(readFileSync(file));
  // external data (onnx:*:external_data=on) read back into the tensors, so the one-node models stand alone
  const inline = (t: onnx.ITensorProto): onnx.ITensorProto => {
    if (!t.externalData?.length) return t;
    const kv = Object.fromEntries(t.externalData.map((e: onnx.IStringStringEntryProto) => [e.key!, e.value!]));
    const data = readFileSync(join(dirname(file), kv.location!));
    const off = Number(kv.offset);
    return { ...t, dataLocation: 0, externalData: [], rawData: data.subarray(off, off + Number(kv.length)) };
  };
  const inits = new Map(m.graph!.initializer!.map((t) => [t.name!, inline(t)]));
  const out = new Map<string, { ort: Float32Array; file: Float32Array; scaleBits: Uint16Array | null }>();
  const et = float16 ? 10 : 1;
  const bytes = (name: string) => {
    const r = inits.get(name)!.rawData!;
    return new Uint8Array(r.buffer, r.byteOffset, r.byteLength).slice();
  };
  for (const n of m.graph!.node!) {
    if (n.opType !== 'MatMulNBits') continue;
    const attr = Object.fromEntries(n.attribute!.map((a) => [a.name!, Number(a.i)]));
    const K = attr.K!;
    const N = attr.N!;
    const one = {
      irVersion: 8,
      opsetImport: [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }],
      graph: {
        name: 'g',
        node: [{ ...n, input: ['A', ...n.input!.slice(1)], output: ['Y'] }],
        initializer: n.input!.slice(1).map((i) => inits.get(i)!),
        input: [{ name: 'A', type: { tensorType: { elemType: et, shape: { dim: [{ dimValue: K }, { dimValue: K }] } } } }],
        output: [{ name: 'Y', type: { tensorType: { elemType: et, shape: { dim: [{ dimValue: K }, { dimValue: N }] } } } }],
      },
    };
    const { onnx } = (await import('onnx-proto')).default as unknown as typeof import('onnx-proto');
    const s = await ort.InferenceSession.create(onnx.ModelProto.encode(one).finish());
    const eye = new Float32Array(K * K);
    for (let i = 0; i < K; i++) eye[i * K + i] = 1;
    const A = float16 ? new ort.Tensor('float16', Uint16Array.from(eye, (v) => f32ToF16Bits(v)), [K, K]) : new ort.Tensor('float32', eye, [K, K]);
    const y = asF32((await s.run({ A })).Y!);
    // Y = I · Wᵀ: [K, N]; back to the [N, K] layout of our weights
    const w = new Float32Array(N * K);
    for (let k = 0; k < K; k++) for (let c = 0; c < N; c++) w[c * K + k] = y[k * N + c]!;
    // and the same tensors read by this package's own decoder, which keeps the sign of zero
    const sc = bytes(n.input![2]!);
    const scaleBits = float16 ? new Uint16Array(sc.buffer) : null;
    const fromFile = unpackMatMulNBits({
      K, N, bits: attr.bits!, blockSize: attr.block_size!, nBlocks: Math.ceil(K / attr.block_size!),
      B: bytes(n.input![1]!), scales: scaleBits ? Float32Array.from(scaleBits, f16BitsToF32) : new Float32Array(sc.buffer), zeroPoints: n.input![3] ? bytes(n.input![3]) : null,
    });
    out.set(n.input![1]!.replace(/\.MatMul\.weight_Q\d$/, ''), { ort: w, file: fromFile, scaleBits });
  }
  return out;
}

describe('every architecture of the models package, through onnxruntime-node (small random models)', () => {
  for (const kind of ['qwen2', 'qwen3', 'llama3', 'mistral'] as SynthKind[]) {
    it(`${kind}: q4 logits equal our forward over the QDQ weights, with and without the cache`, async () => {
      const src = join(work.dir, `synth-${kind}`);
      writeSynthModel(src, kind);
      const q = await quantizeTo(src, join(work.dir, `synth-${kind}-out`), 'onnx:q4', { scheme: 'W4A16', groupSize: 32, sym: kind !== 'qwen2', disableOptRtn: true });
      expect(q.qdq.size).toBe(14);
      const s = await ort.InferenceSession.create(onnxFile(q.dir, '_q4'));
      const ids = Int32Array.from({ length: 40 }, (_, i) => (i * 13 + 5) % 96);
      const dims = { kvHeads: 2, headDim: kind === 'qwen3' ? 32 : 16, layers: 2 };
      const ref = referenceLogits(src, q.qdq, ids);
      expect(relDiff((await ortStep(s, dims, ids, null)).logits, ref)).toBeLessThan(1e-4);
      let st = await ortStep(s, dims, ids.subarray(0, 37), null);
      for (let t = 37; t < 40; t++) st = await ortStep(s, dims, ids.subarray(t, t + 1), st.present);
      expect(relDiff(st.logits, ref.subarray(39 * 96))).toBeLessThan(1e-4);
    }, 30_000);
  }
});

describe.skipIf(!HAS_SHARED)(needsShared('stories260K through onnxruntime-node'), () => {
  const cases = [
    { format: 'onnx:fp32', suffix: '', opts: { scheme: 'W4A16', groupSize: 32, sym: false } },
    { format: 'onnx:q4', suffix: '_q4', opts: { scheme: 'W4A16', groupSize: 32, sym: true } },
    { format: 'onnx', suffix: '_q4', opts: { scheme: 'W4A16', groupSize: 32, sym: false } },
    { format: 'onnx:q2', suffix: '_q2', opts: { scheme: 'W2A16', groupSize: 16, sym: false } },
    { format: 'onnx:q8:external_data=on', suffix: '_quantized', opts: { scheme: 'W8A16', groupSize: 64, sym: true } },
  ];
  for (const c of cases) {
    it(`${c.format} ${c.opts.scheme} G${c.opts.groupSize} ${c.opts.sym ? 'sym' : 'asym'}: logits equal our forward over the QDQ weights, with and without the cache`, async () => {
      const q = await quantizeTo(STORIES, join(work.dir, c.format.replace(/[:=]/g, '-')), c.format, { ...c.opts, disableOptRtn: true });
      const file = onnxFile(q.dir, c.suffix);
      const s = await ort.InferenceSession.create(file);
      const ref = referenceLogits(STORIES, q.qdq, PROMPT);
      const whole = await ortStep(s, DIMS, PROMPT, null);
      expect(relDiff(whole.logits, ref)).toBeLessThan(1e-4);
      // 60 tokens, then 4 one at a time through the cache: the last logits are the forward's last row
      let st = await ortStep(s, DIMS, PROMPT.subarray(0, 60), null);
      for (let t = 60; t < 64; t++) st = await ortStep(s, DIMS, PROMPT.subarray(t, t + 1), st.present);
      expect(relDiff(st.logits, ref.subarray(63 * 512))).toBeLessThan(1e-4);
      const config = JSON.parse(readFileSync(join(q.dir, 'config.json'), 'utf8'));
      expect(config['transformers.js_config'].dtype).toBe(c.format === 'onnx' ? 'q4' : c.format.split(':')[1]);
      expect(config['transformers.js_config'].use_external_data_format === true).toBe(c.format.includes('external_data=on'));
      if (c.suffix === '') return;
      // the codes in the file decode, in onnxruntime itself, to the QDQ weights bit for bit
      const decoded = await ortDecodedWeights(file);
      expect(decoded.size).toBe(q.qdq.size);
      for (const [name, w] of q.qdq) {
        const d = decoded.get(name);
        expect(d, name).toBeDefined();
        // every value equal, and every nonzero one equal in its bits; a zero level's sign (the QDQ's s·q with q = −0 from
        // rounding a small negative weight) is not something a code can carry, and is the same value in any product
        const bits: string[] = [];
        for (let i = 0; i < w.qdq.length && bits.length < 5; i++) if (d!.file[i] !== w.qdq[i]) bits.push(`${i}: ${d!.file[i]} vs ${w.qdq[i]}`);
        expect(bits, name).toEqual([]);
        const got = d!.ort;
        const diff: string[] = [];
        for (let i = 0; i < got!.length && diff.length < 5; i++) if (got![i] !== w.qdq[i]) diff.push(`${i}: ${got![i]} vs ${w.qdq[i]} code ${w.codes![i]}`);
        expect(diff, name).toEqual([]);
      }
    }, 60_000);
  }

  it('external data "auto" moves the weights out above the limit, and onnxruntime reads them from there', async () => {
    const ck = Checkpoint.open(STORIES);
    const g = buildDecoderGraph(readConfig(STORIES), { float: (n) => (ck.has(n) ? { data: ck.read(n).toFloat32().data as Float32Array, shape: ck.info(n).shape } : undefined), quantized: () => undefined }, { packed: false });
    const inside = join(work.dir, 'auto-small.onnx');
    const outside = join(work.dir, 'auto-big.onnx');
    expect(writeModelFile(inside, g, { externalData: 'auto' })).toEqual([inside]);
    expect(writeModelFile(outside, g, { externalData: 'auto', limitBytes: 100_000 })).toEqual([outside, `${outside}_data`]);
    expect(existsSync(`${outside}_data`)).toBe(true);
    expect(readFileSync(outside).length).toBeLessThan(100_000);
    const a = await ortStep(await ort.InferenceSession.create(inside), DIMS, PROMPT.subarray(0, 8), null);
    const b = await ortStep(await ort.InferenceSession.create(outside), DIMS, PROMPT.subarray(0, 8), null);
    expect(b.logits).toEqual(a.logits);
  });

  it('transformers.js loads the folder from disk and decodes greedily what our decoder does (64 new tokens)', async () => {
    const q = await quantizeTo(STORIES, join(work.dir, 'tjs'), 'onnx:q4', { scheme: 'W4A16', groupSize: 32, sym: false, disableOptRtn: true });
    const tjs = await import('@huggingface/transformers');
    tjs.env.allowRemoteModels = false;
    tjs.env.localModelPath = dirname(q.dir) + '/';
    const tok = await tjs.AutoTokenizer.from_pretrained(basename(q.dir));
    const model = await tjs.AutoModelForCausalLM.from_pretrained(basename(q.dir), { dtype: 'q4' });
    const inputs = tok('Once upon a time, there was a little') as { input_ids: { data: BigInt64Array } };
    const prompt = Array.from(inputs.input_ids.data, Number);
    const out = (await model.generate({ ...inputs, max_new_tokens: 64, do_sample: false })) as { data: BigInt64Array };
    const theirs = Array.from(out.data, Number).slice(prompt.length);
    // ours: models' LlamaDecoder over the same QDQ weights (auto-round generate is built elsewhere)
    const over = new Map<string, Tensor<'F32'>>();
    for (const [name, w] of q.qdq) over.set(`${name}.weight`, new Tensor('F32', [...w.shape], w.qdq));
    const lm = new LlamaModel(describeLlama(readConfig(STORIES), STORIES), new OverlayWeights(Checkpoint.open(STORIES), over), jsBackend.create({}));
    const dec = lm.decoder(prompt.length + 64, 1);
    let logits = dec.prefill(Int32Array.from(prompt)).subarray((prompt.length - 1) * 512);
    const ours: number[] = [];
    while (ours.length < 64) {
      let best = 0;
      for (let v = 1; v < 512; v++) if (logits[v]! > logits[best]!) best = v;
      ours.push(best);
      if (best === 2) break;
      logits = dec.step(best);
    }
    expect(theirs).toEqual(ours);
    expect(ours.length).toBe(64);
  }, 60_000);
});

/**
 * float16 files: relative tolerance of the logits against our float32 forward over the very weights the file holds
 * (every float rounded to fp16, MatMulNBits decoded with fp16(scale)). The only difference left is that activations
 * (hidden states, q/k/v, the cache, logits) are float16: each rounding is within 2^−11 ≈ 4.9e-4 relative, the
 * residual stream carries them through 5 blocks and the head sums 64 products, so a few 1e-3 of max |logit| is the
 * expected size; 1e-2 leaves room while still failing on any real mistake (a wrong scale, a missed layer, the fp32
 * file's weights: those are 1e-1 or more).
 */
const F16_TOL = 1e-2;

describe.skipIf(!HAS_SHARED)(needsShared('stories260K float16 files through onnxruntime-node'), () => {
  const cases = [
    { format: 'onnx:q4f16', suffix: '_q4f16', packed: true, opts: { scheme: 'W4A16', groupSize: 32, sym: false, scaleDtype: 'fp32' } },
    { format: 'onnx:q2f16', suffix: '_q2f16', packed: true, opts: { scheme: 'W2A16', groupSize: 16, sym: false } },
    { format: 'onnx:fp16', suffix: '_fp16', packed: false, opts: { scheme: 'W4A16', groupSize: 32, sym: true } },
  ];
  for (const c of cases) {
    it(`${c.format} ${c.opts.scheme} G${c.opts.groupSize}: float16 logits and cache, within ${F16_TOL} of our float32 forward over the fp16-rounded weights`, async () => {
      const q = await quantizeTo(STORIES, join(work.dir, c.format.replace(/[:=]/g, '-')), c.format, { ...c.opts, disableOptRtn: true } as never);
      const file = onnxFile(q.dir, c.suffix);
      const s = await ort.InferenceSession.create(file);
      const ref = referenceLogitsF16(STORIES, q.qdq, PROMPT, c.packed);
      const whole = await ortStep(s, DIMS, PROMPT, null, true);
      const dWhole = relDiff(whole.logits, ref);
      let st = await ortStep(s, DIMS, PROMPT.subarray(0, 60), null, true);
      for (let t = 60; t < 64; t++) st = await ortStep(s, DIMS, PROMPT.subarray(t, t + 1), st.present, true);
      const dCached = relDiff(st.logits, ref.subarray(63 * 512));
      console.log(`${c.format}: rel diff whole ${dWhole.toExponential(2)}, cached ${dCached.toExponential(2)}; vs float32 QDQ forward ${relDiff(whole.logits, referenceLogits(STORIES, q.qdq, PROMPT)).toExponential(2)}`);
      expect(dWhole).toBeLessThan(F16_TOL);
      expect(dCached).toBeLessThan(F16_TOL);
      expect(st.present.get('present.4.value')!.type).toBe('float16');
      expect(s.outputMetadata.find((m) => m.name === 'logits')).toMatchObject({ type: 'float16' });
      const config = JSON.parse(readFileSync(join(q.dir, 'config.json'), 'utf8'));
      expect(config['transformers.js_config'].dtype).toBe(c.format.split(':')[1]);
      // every float initializer is float16 (no float32 weight left behind)
      const m = decodeModel(readFileSync(file));
      expect(m.graph!.initializer!.filter((t) => t.dataType === 1).map((t) => t.name)).toEqual([]);
      if (!c.packed) return;
      const decoded = await ortDecodedWeights(file, true);
      expect(decoded.size).toBe(q.qdq.size);
      let rounded = 0;
      for (const [name, w] of q.qdq) {
        const d = decoded.get(name)!;
        // the scales in the file are fp16(our scale), bit for bit
        const want = Uint16Array.from(w.scales!, (v) => f32ToF16Bits(v));
        expect(d.scaleBits, name).toEqual(want);
        for (let i = 0; i < w.scales!.length; i++) if (roundToF16(w.scales![i]!) !== w.scales![i]) rounded++;
        // our reader decodes (q − zp)·fp16(scale); onnxruntime decodes the same, rounded to its float16 output
        const exact = decodeF16Scales(w);
        const bad: string[] = [];
        for (let i = 0; i < exact.length && bad.length < 5; i++) {
          if (d.file[i] !== exact[i]) bad.push(`file ${i}: ${d.file[i]} vs ${exact[i]}`);
          if (d.ort[i] !== roundToF16(exact[i]!)) bad.push(`ort ${i}: ${d.ort[i]} vs ${roundToF16(exact[i]!)}`);
        }
        expect(bad, name).toEqual([]);
      }
      // scale_dtype fp32 keeps float32 scales in the run: the fp16 file rounds them (the default fp16 scales pass through)
      if (c.opts.scaleDtype === 'fp32') expect(rounded).toBeGreaterThan(0);
    }, 60_000);
  }
});

describe('float16 range', () => {
  it.skipIf(!HAS_SHARED)(needsShared('refuses a weight beyond float16 (it would be infinite in the file), naming --format'), () => {
    const cfg = JSON.parse(readFileSync(join(STORIES, 'config.json'), 'utf8'));
    const ck = Checkpoint.open(STORIES);
    const float = (n: string) => {
      if (!ck.has(n)) return undefined;
      const data = Float32Array.from(ck.read(n).toFloat32().data as Float32Array);
      if (n === 'model.norm.weight') data[3] = 70000;
      return { data, shape: ck.info(n).shape };
    };
    expect(() => buildDecoderGraph(cfg, { float, quantized: () => undefined }, { packed: false })).not.toThrow();
    const e = thrown(() => buildDecoderGraph(cfg, { float, quantized: () => undefined }, { packed: false, float16: true }));
    expect(e.message).toMatch(/--format onnx float16 dtypes: model\.norm\.weight\[3\] = 70000 is beyond float16's range/);
    expect((e as { code?: string }).code).toBe('E_FORMAT');
    expect(Array.from(toF16('x', Float32Array.of(1, -2, 65504, 1e-8, 1 + 2 ** -11)))).toEqual([0x3c00, 0xc000, 0x7bff, 0, 0x3c00]);
  });
});

describe.skipIf(!HAS_SHARED)(needsShared('transformers.js and a q4f16 folder'), () => {
  it("pipeline('text-generation', folder, { dtype: 'q4f16' }) from disk decodes greedily what onnxruntime's own greedy over the file does", async () => {
    const q = await quantizeTo(STORIES, join(work.dir, 'tjs-f16'), 'onnx:q4f16', { scheme: 'W4A16', groupSize: 32, sym: false, disableOptRtn: true });
    const tjs = await import('@huggingface/transformers');
    tjs.env.allowRemoteModels = false;
    tjs.env.localModelPath = dirname(q.dir) + '/';
    const generate = await tjs.pipeline('text-generation', basename(q.dir), { dtype: 'q4f16' });
    const text = 'Once upon a time, there was a little';
    const out = (await generate(text, { max_new_tokens: 64, do_sample: false })) as { generated_text: string }[];
    const prompt = Array.from((generate.tokenizer(text) as { input_ids: { data: BigInt64Array } }).input_ids.data, Number);
    // onnxruntime's greedy over the same file, through the float16 cache
    const s = await ort.InferenceSession.create(onnxFile(q.dir, '_q4f16'));
    const argmax = (l: Float32Array) => {
      let b = 0;
      for (let v = 1; v < l.length; v++) if (l[v]! > l[b]!) b = v;
      return b;
    };
    let st = await ortStep(s, DIMS, Int32Array.from(prompt), null, true);
    const ids: number[] = [];
    while (ids.length < 64) {
      const next = argmax(st.logits.subarray(st.logits.length - 512));
      ids.push(next);
      if (next === 2) break;
      st = await ortStep(s, DIMS, Int32Array.of(next), st.present, true);
    }
    expect(ids.length).toBe(64);
    expect(out[0]!.generated_text).toBe(generate.tokenizer.decode([...prompt, ...ids], { skip_special_tokens: true }));
    // and beside our float32 greedy over the QDQ weights (a report: float16 activations may change a near tie)
    const over = new Map<string, Tensor<'F32'>>();
    for (const [name, w] of q.qdq) over.set(`${name}.weight`, new Tensor('F32', [...w.shape], w.qdq));
    const lm = new LlamaModel(describeLlama(readConfig(STORIES), STORIES), new OverlayWeights(Checkpoint.open(STORIES), over), jsBackend.create({}));
    const dec = lm.decoder(prompt.length + 64, 1);
    let logits = dec.prefill(Int32Array.from(prompt)).subarray((prompt.length - 1) * 512);
    const ours: number[] = [];
    while (ours.length < 64) {
      ours.push(argmax(logits));
      if (ours.at(-1) === 2) break;
      logits = dec.step(ours.at(-1)!);
    }
    let same = 0;
    while (same < 64 && ours[same] === ids[same]) same++;
    console.log(`q4f16 greedy: transformers.js = onnxruntime (64 tokens); the first ${same} of 64 equal our float32 greedy`);
  }, 60_000);
});
