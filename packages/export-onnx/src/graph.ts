import { AutoRoundError, type HFConfig, type QuantizedWeight } from '@autoround/core';
import { LLAMA, type LlamaDims, llamaDims, type LlamaVariant, QWEN2, QWEN3, ropeInvFreq } from '@autoround/models';
import { f32ToF16Bits } from '@autoround/core-tensor';
import { packMatMulNBits } from './pack.js';
import { DT, type Dim, type ElemType, node, type NodeProto, tensor, type TensorProto, valueInfo, type ValueInfoProto } from './proto.js';

/** The architectures whose decoder this graph writes: the LLaMA family of @autoround/models (docs/formats/onnx.md#graph). */
const VARIANTS: readonly LlamaVariant[] = [LLAMA, QWEN2, QWEN3];

export function onnxVariant(config: HFConfig): LlamaVariant | undefined {
  const arch = config.architectures?.[0] ?? '';
  return VARIANTS.find((v) => v.hfArchitectures.includes(arch));
}

/** The architectures the onnx graph covers, by Hugging Face name. */
export const ONNX_ARCHITECTURES: readonly string[] = VARIANTS.flatMap((v) => v.hfArchitectures);

/** Where the graph's weights come from: float tensors by checkpoint name, quantized linears by layer name. */
export interface DecoderWeights {
  /** A tensor kept in full precision (embedding, norms, biases, linears left unquantized), as float32. */
  float(name: string): { readonly data: Float32Array; readonly shape: readonly number[] } | undefined;
  /** A quantized linear (name without ".weight"). */
  quantized(layer: string): QuantizedWeight | undefined;
}

export interface DecoderGraphOptions {
  /** Quantized linears as MatMulNBits (true) or as MatMul over their QDQ weights (false: the fp32 file). */
  readonly packed: boolean;
  /** MatMulNBits accuracy_level (0: unset, 1 fp32, 2 fp16, 3 bf16, 4 int8 compute of A). */
  readonly accuracyLevel?: number;
  /**
   * Compute in float16 (the fp16 / q4f16 / q2f16 files): every float initializer, the activations, the KV cache
   * (past/present) and the logits are float16; MatMulNBits scales are our scales rounded to float16.
   */
  readonly float16?: boolean;
}

export interface DecoderGraph {
  readonly nodes: NodeProto[];
  readonly initializers: TensorProto[];
  readonly inputs: ValueInfoProto[];
  readonly outputs: ValueInfoProto[];
  readonly dims: LlamaDims;
}

/**
 * The decoder of a LLaMA-family model with a KV cache, in the input and output names transformers.js and optimum
 * use (input_ids, attention_mask, position_ids, past_key_values.N.key/value → logits, present.N.key/value), built
 * with onnxruntime's contrib operators: SimplifiedLayerNormalization (RMSNorm), com.microsoft RotaryEmbedding and
 * GroupQueryAttention, MatMulNBits for the quantized linears (docs/formats/onnx.md#graph explains each choice).
 */
export function buildDecoderGraph(config: HFConfig, w: DecoderWeights, opts: DecoderGraphOptions): DecoderGraph {
  const variant = onnxVariant(config);
  if (!variant) throw new AutoRoundError('E_UNKNOWN_ARCH', `onnx: architecture "${config.architectures?.[0] ?? ''}" has no onnx graph (supported: ${ONNX_ARCHITECTURES.join(', ')})`, { subject: 'config.json' });
  const d = llamaDims(config, 'config.json', variant);
  const f16 = opts.float16 === true;
  /** The element type of activations and float weights. */
  const F = f16 ? DT.FLOAT16 : DT.FLOAT;
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  const init = (name: string, t: ElemType, dims: readonly number[], data: ArrayBufferView): string => {
    inits.push(tensor(name, t, dims, data));
    return name;
  };
  /** A float initializer in the graph's float type (float16: each value rounded to nearest even, as torch's .half()). */
  const finit = (name: string, dims: readonly number[], data: Float32Array): string => init(name, F, dims, f16 ? toF16(name, data) : data);
  const need = (name: string): { data: Float32Array; shape: readonly number[] } => {
    const t = w.float(name);
    if (!t) throw new AutoRoundError('E_NO_TENSOR', `onnx: tensor ${name} was not handed to the exporter`, { subject: name });
    return t;
  };
  const add = (n: NodeProto): string => {
    nodes.push(n);
    return n.output![0]!;
  };

  // [B, S] → [B] int32 (GroupQueryAttention's seqlens_k: the last valid position of each row) and the total length
  const one64 = init('const_one_i64', DT.INT64, [], new BigInt64Array([1n]));
  const axis1 = init('const_axes_1', DT.INT64, [1], new BigInt64Array([1n]));
  const idx1 = init('const_idx_1', DT.INT64, [], new BigInt64Array([1n]));
  const maskSum = add(node('ReduceSum', ['attention_mask', axis1], ['/model/mask_sum'], { keepdims: 0 }));
  const maskLast = add(node('Sub', [maskSum, one64], ['/model/mask_last']));
  const seqlensK = add(node('Cast', [maskLast], ['/model/seqlens_k'], { to: DT.INT32 }));
  const maskShape = add(node('Shape', ['attention_mask'], ['/model/mask_shape']));
  const total64 = add(node('Gather', [maskShape, idx1], ['/model/total_len_i64'], { axis: 0 }));
  const totalLen = add(node('Cast', [total64], ['/model/total_seq_len'], { to: DT.INT32 }));

  // rotary tables [max_positions, head_dim/2]: cos and sin of position · inv_freq, as the float forward computes them
  const inv = ropeInvFreq(config, d.headDim, 'config.json');
  const half = inv.length;
  const P = d.maxPositions;
  const cos = new Float32Array(P * half);
  const sin = new Float32Array(P * half);
  for (let p = 0; p < P; p++) {
    for (let i = 0; i < half; i++) {
      const a = Math.fround(p * inv[i]!);
      cos[p * half + i] = Math.cos(a);
      sin[p * half + i] = Math.sin(a);
    }
  }
  const cosCache = finit('cos_cache', [P, half], cos);
  const sinCache = finit('sin_cache', [P, half], sin);
  if (2 * half !== d.headDim) throw new AutoRoundError('E_UNSUPPORTED', `onnx: partial rotary embeddings (${2 * half} of ${d.headDim} dims) are not written yet`, { subject: 'config.json' });

  const vec = (name: string): string => {
    const t = need(name);
    return finit(name, t.shape, t.data);
  };
  const norm = (x: string, weight: string, out: string): string =>
    add(node('SimplifiedLayerNormalization', [x, vec(weight)], [out], { axis: -1, epsilon: { f: d.eps }, stash_type: 1 }));

  const linear = (x: string, layer: string, out: string): string => {
    const q = w.quantized(layer);
    let y: string;
    if (q && opts.packed) {
      const t = packMatMulNBits(layer, q);
      const ins = [
        x,
        init(`${layer}.MatMul.weight_Q${t.bits}`, DT.UINT8, [t.N, t.nBlocks, (t.blockSize * t.bits) / 8], t.B),
        finit(`${layer}.MatMul.weight_scales`, [t.N, t.nBlocks], t.scales),
      ];
      if (t.zeroPoints) ins.push(init(`${layer}.MatMul.weight_zp`, DT.UINT8, [t.zeroPoints.length], t.zeroPoints));
      const attrs: Record<string, number> = { K: t.K, N: t.N, bits: t.bits, block_size: t.blockSize };
      if (opts.accuracyLevel) attrs.accuracy_level = opts.accuracyLevel;
      y = add(node('MatMulNBits', ins, [out], attrs, 'com.microsoft'));
    } else {
      // MatMul takes B as [in, out]: the weight transposed (the QDQ weight for a quantized layer in the fp32 file)
      const wt = q ? { data: q.qdq, shape: q.shape } : need(`${layer}.weight`);
      const [o, i] = wt.shape as [number, number];
      const tr = new Float32Array(o * i);
      for (let r = 0; r < o; r++) for (let c = 0; c < i; c++) tr[c * o + r] = wt.data[r * i + c]!;
      y = add(node('MatMul', [x, finit(`${layer}.MatMul.weight`, [i, o], tr)], [out]));
    }
    const bias = w.float(`${layer}.bias`);
    if (bias) y = add(node('Add', [y, finit(`${layer}.bias`, bias.shape, bias.data)], [`${out}_bias`]));
    return y;
  };

  const inputs: ValueInfoProto[] = [
    valueInfo('input_ids', DT.INT64, ['batch_size', 'sequence_length']),
    valueInfo('attention_mask', DT.INT64, ['batch_size', 'total_sequence_length']),
    valueInfo('position_ids', DT.INT64, ['batch_size', 'sequence_length']),
  ];
  const kvDims: Dim[] = ['batch_size', d.kvHeads, 'past_sequence_length', d.headDim];
  const presentDims: Dim[] = ['batch_size', d.kvHeads, 'total_sequence_length', d.headDim];
  const outputs: ValueInfoProto[] = [valueInfo('logits', F, ['batch_size', 'sequence_length', d.vocab])];

  const emb = need('model.embed_tokens.weight');
  let x = add(node('Gather', [finit('model.embed_tokens.weight', emb.shape, emb.data), 'input_ids'], ['/model/embed_tokens/output_0']));
  const headShape = (heads: number) => init(`const_shape_${heads}x${d.headDim}`, DT.INT64, [4], new BigInt64Array([0n, 0n, BigInt(heads), BigInt(d.headDim)]));
  const flatShape = (heads: number) => init(`const_shape_${heads * d.headDim}`, DT.INT64, [3], new BigInt64Array([0n, 0n, BigInt(heads * d.headDim)]));
  const shapes = new Map<string, string>();
  const once = (key: string, make: () => string) => shapes.get(key) ?? (shapes.set(key, make()), shapes.get(key)!);

  for (let l = 0; l < d.layers; l++) {
    const p = `model.layers.${l}`;
    const o = `/model/layers.${l}`;
    inputs.push(valueInfo(`past_key_values.${l}.key`, F, kvDims), valueInfo(`past_key_values.${l}.value`, F, kvDims));
    outputs.push(valueInfo(`present.${l}.key`, F, presentDims), valueInfo(`present.${l}.value`, F, presentDims));
    const h1 = norm(x, `${p}.input_layernorm.weight`, `${o}/input_layernorm/output_0`);
    let q = linear(h1, `${p}.self_attn.q_proj`, `${o}/attn/q_proj/output_0`);
    let k = linear(h1, `${p}.self_attn.k_proj`, `${o}/attn/k_proj/output_0`);
    const v = linear(h1, `${p}.self_attn.v_proj`, `${o}/attn/v_proj/output_0`);
    if (d.qkNorm) {
      // Qwen3: RMSNorm over each head's head_dim values, before the rotary embedding
      const perHead = (t: string, heads: number, which: 'q' | 'k') => {
        const r = add(node('Reshape', [t, once(`h${heads}`, () => headShape(heads))], [`${o}/attn/${which}_heads`]));
        const n = norm(r, `${p}.self_attn.${which}_norm.weight`, `${o}/attn/${which}_norm/output_0`);
        return add(node('Reshape', [n, once(`f${heads}`, () => flatShape(heads))], [`${o}/attn/${which}_normed`]));
      };
      q = perHead(q, d.heads, 'q');
      k = perHead(k, d.kvHeads, 'k');
    }
    q = add(node('RotaryEmbedding', [q, 'position_ids', cosCache, sinCache], [`${o}/attn/q_rotary/output_0`], { interleaved: 0 }, 'com.microsoft'));
    k = add(node('RotaryEmbedding', [k, 'position_ids', cosCache, sinCache], [`${o}/attn/k_rotary/output_0`], { interleaved: 0 }, 'com.microsoft'));
    nodes.push(
      node(
        'GroupQueryAttention',
        [q, k, v, `past_key_values.${l}.key`, `past_key_values.${l}.value`, seqlensK, totalLen],
        [`${o}/attn/output_0`, `present.${l}.key`, `present.${l}.value`],
        { num_heads: d.heads, kv_num_heads: d.kvHeads, scale: { f: 1 / Math.sqrt(d.headDim) } },
        'com.microsoft',
      ),
    );
    const a = linear(`${o}/attn/output_0`, `${p}.self_attn.o_proj`, `${o}/attn/o_proj/output_0`);
    const h = add(node('Add', [x, a], [`${o}/residual_attn/output_0`]));
    const n2 = norm(h, `${p}.post_attention_layernorm.weight`, `${o}/post_attention_layernorm/output_0`);
    const g = linear(n2, `${p}.mlp.gate_proj`, `${o}/mlp/gate_proj/output_0`);
    const u = linear(n2, `${p}.mlp.up_proj`, `${o}/mlp/up_proj/output_0`);
    const sg = add(node('Sigmoid', [g], [`${o}/mlp/act/sigmoid`]));
    const silu = add(node('Mul', [g, sg], [`${o}/mlp/act/output_0`]));
    const gu = add(node('Mul', [silu, u], [`${o}/mlp/gate_up/output_0`]));
    const down = linear(gu, `${p}.mlp.down_proj`, `${o}/mlp/down_proj/output_0`);
    x = add(node('Add', [h, down], [`${o}/residual_mlp/output_0`]));
  }
  const fin = norm(x, 'model.norm.weight', '/model/norm/output_0');
  // a tied head reads the embedding; MatMul needs it transposed, so the file holds it twice
  // a tied config uses the embedding even when the checkpoint also ships lm_head.weight, as transformers (and our
  // forward) do; a quantized lm_head is the layer the run chose to quantize
  const lmHead = w.quantized('lm_head') || (!d.tied && w.float('lm_head.weight')) ? 'lm_head' : null;
  if (lmHead) {
    const logits = linear(fin, lmHead, 'logits');
    if (logits !== 'logits') nodes.push(node('Identity', [logits], ['logits']));
  } else {
    const [V, H] = emb.shape as [number, number];
    const tr = new Float32Array(V * H);
    for (let r = 0; r < V; r++) for (let c = 0; c < H; c++) tr[c * V + r] = emb.data[r * H + c]!;
    nodes.push(node('MatMul', [fin, finit('lm_head.MatMul.weight', [H, V], tr)], ['logits']));
  }
  return { nodes, initializers: inits, inputs, outputs, dims: d };
}

/**
 * float32 values as float16 bit patterns, rounded to nearest even. A value beyond float16's range (65504) would become
 * infinite and poison every product it enters, so it is refused, naming the tensor; values below float16's smallest
 * subnormal (2^−24) become zero, which is the rounding, not an error.
 */
export function toF16(name: string, data: Float32Array): Uint16Array {
  const out = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const h = f32ToF16Bits(data[i]!);
    if ((h & 0x7c00) === 0x7c00 && Number.isFinite(data[i]!)) {
      throw new AutoRoundError('E_FORMAT', `--format onnx float16 dtypes: ${name}[${i}] = ${data[i]} is beyond float16's range (±65504); use onnx:fp32, onnx:q4, onnx:q2 or onnx:q8`, { subject: '--format' });
    }
    out[i] = h;
  }
  return out;
}
