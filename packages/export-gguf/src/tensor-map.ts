// Hugging Face → GGUF tensor names and the LLaMA Q/K reverse permutation (docs/formats/gguf.md#tensor-names).

import { AutoRoundError } from '@autoround/core-tensor';
import type { HFConfig } from '@autoround/core';

export type GgufArch = 'llama' | 'qwen2' | 'qwen3' | 'gemma2' | 'gemma3' | 'phi3' | 'qwen2vl' | 'qwen3moe' | 'qwen2moe';

const HF_ARCHS: Readonly<Record<string, GgufArch>> = {
  LlamaForCausalLM: 'llama',
  LLaMAForCausalLM: 'llama',
  MistralForCausalLM: 'llama',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
  // mixtures of experts (docs/models/moe.md#gguf): llama.cpp runs Mixtral as `llama` with expert tensors
  Qwen3MoeForCausalLM: 'qwen3moe',
  Qwen2MoeForCausalLM: 'qwen2moe',
  MixtralForCausalLM: 'llama',
  Gemma2ForCausalLM: 'gemma2',
  Gemma3ForCausalLM: 'gemma3',
  Phi3ForCausalLM: 'phi3',
  // the text model of a vision-language checkpoint; its vision tower belongs in a separate mmproj file (docs/vlm.md)
  Qwen2VLForConditionalGeneration: 'qwen2vl',
  Qwen2_5_VLForConditionalGeneration: 'qwen2vl',
};
const MODEL_TYPES: Readonly<Record<string, GgufArch>> = { llama: 'llama', mistral: 'llama', qwen2: 'qwen2', qwen3: 'qwen3', gemma2: 'gemma2', gemma3_text: 'gemma3', phi3: 'phi3', qwen2_vl: 'qwen2vl', qwen2_5_vl: 'qwen2vl', qwen3_moe: 'qwen3moe', qwen2_moe: 'qwen2moe', mixtral: 'llama' };

/**
 * The text model's config of a vision-language config.json: its top-level fields overlaid with `text_config` (where
 * newer transformers put them); any other config as it is.
 */
export function ggufTextConfig(config: HFConfig): HFConfig {
  const tc = config.text_config;
  if (!tc || typeof tc !== 'object' || Array.isArray(tc)) return config;
  const { text_config: _t, vision_config: _v, ...top } = config;
  return { ...top, ...(tc as HFConfig), architectures: config.architectures };
}

/** A vision-language checkpoint's vision tower and merger (Qwen2-VL: visual.*, newer transformers: model.visual.*). */
const VISION_RE = /^(model\.)?visual\./;

/** The GGUF architecture of a HF config (general.architecture). */
export function ggufArchOf(config: HFConfig, source = 'config.json'): GgufArch {
  const hf = config.architectures?.[0];
  const a = (hf && HF_ARCHS[hf]) || (config.model_type && MODEL_TYPES[config.model_type]);
  if (!a) {
    throw new AutoRoundError(
      'E_UNKNOWN_ARCH',
      `${source}: architecture ${JSON.stringify(hf ?? config.model_type)} cannot be exported to GGUF (supported: ${Object.keys(HF_ARCHS).join(', ')})`,
      { subject: source },
    );
  }
  return a;
}

/** Tensors of one decoder layer: HF suffix → GGUF suffix. */
const LAYER_TENSORS: Readonly<Record<string, string>> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.q_proj.bias': 'attn_q.bias',
  'self_attn.k_proj.bias': 'attn_k.bias',
  'self_attn.v_proj.bias': 'attn_v.bias',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'self_attn.o_proj.bias': 'attn_output.bias',
  'self_attn.q_norm.weight': 'attn_q_norm.weight',
  'self_attn.k_norm.weight': 'attn_k_norm.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
  // a mixture of experts' router (Qwen-MoE: mlp.gate, Mixtral: block_sparse_moe.gate), which llama.cpp keeps in F32
  'mlp.gate.weight': 'ffn_gate_inp.weight',
  'block_sparse_moe.gate.weight': 'ffn_gate_inp.weight',
  // Qwen2-MoE's shared expert and its sigmoid gate
  'mlp.shared_expert.gate_proj.weight': 'ffn_gate_shexp.weight',
  'mlp.shared_expert.up_proj.weight': 'ffn_up_shexp.weight',
  'mlp.shared_expert.down_proj.weight': 'ffn_down_shexp.weight',
  'mlp.shared_expert_gate.weight': 'ffn_gate_inp_shexp.weight',
};
/** Gemma's four norms a layer (docs/models/gemma.md#gguf): its pre-feed-forward norm is llama.cpp's ffn_norm. */
const GEMMA_LAYER_TENSORS: Readonly<Record<string, string>> = {
  ...LAYER_TENSORS,
  'post_attention_layernorm.weight': 'post_attention_norm.weight',
  'pre_feedforward_layernorm.weight': 'ffn_norm.weight',
  'post_feedforward_layernorm.weight': 'post_ffw_norm.weight',
};

/** Phi-3's fused projections (docs/models/phi3.md#gguf): llama.cpp's attn_qkv, and ffn_up holding [gate | up]. */
const PHI3_LAYER_TENSORS: Readonly<Record<string, string>> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.qkv_proj.weight': 'attn_qkv.weight',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
};

function layerTensors(arch: GgufArch | undefined): Readonly<Record<string, string>> {
  return arch === 'gemma2' || arch === 'gemma3' ? GEMMA_LAYER_TENSORS : arch === 'phi3' ? PHI3_LAYER_TENSORS : LAYER_TENSORS;
}

/**
 * What llama.cpp's converter adds to a tensor's values: Gemma's RMSNorm multiplies by 1 + w, llama.cpp's by
 * its weight, so every Gemma norm weight is stored as w + 1 (convert_hf_to_gguf.py's `data_torch + 1`).
 */
export function ggufValueOffset(hfName: string, arch: GgufArch): number {
  return (arch === 'gemma2' || arch === 'gemma3') && hfName.endsWith('norm.weight') ? 1 : 0;
}

const GLOBAL_TENSORS: Readonly<Record<string, string>> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
};
const LAYER_RE = /^model\.layers\.(\d+)\.(.+)$/;

/** The GGUF name of a HF tensor; null for tensors the converter drops (rotary inv_freq). */
export function ggufTensorName(hfName: string, arch?: GgufArch): string | null {
  if (hfName.endsWith('rotary_emb.inv_freq')) return null;
  // llama.cpp keeps the vision tower in a separate mmproj file, which this exporter does not write
  if (VISION_RE.test(hfName)) return null;
  // the text tower of a vision-language checkpoint saved by newer transformers
  if (hfName.startsWith('model.language_model.')) hfName = `model.${hfName.slice('model.language_model.'.length)}`;
  const g = GLOBAL_TENSORS[hfName];
  if (g) return g;
  const m = LAYER_RE.exec(hfName);
  if (m) {
    const suffix = layerTensors(arch)[m[2]!];
    if (suffix) return `blk.${Number(m[1])}.${suffix}`;
    const ex = ggufExpertOf(hfName);
    if (ex) return ex.name;
  }
  throw new AutoRoundError('E_GGUF_TENSOR', `tensor "${hfName}" has no GGUF name (not a LLaMA/Mixtral/Qwen2/Qwen3/Qwen-MoE/Gemma 2/Gemma 3/Phi-3 tensor${arch ? ` of ${arch}` : ''})`, { subject: hfName });
}

const HF_OF_LAYER: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(LAYER_TENSORS).map(([hf, g]) => [g, hf]));
const HF_OF_GEMMA_LAYER: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(GEMMA_LAYER_TENSORS).map(([hf, g]) => [g, hf]));
const HF_OF_PHI3_LAYER: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(PHI3_LAYER_TENSORS).map(([hf, g]) => [g, hf]));
const HF_OF_GLOBAL: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(GLOBAL_TENSORS).map(([hf, g]) => [g, hf]));

/**
 * The Hugging Face name of a GGUF tensor (the inverse of ggufTensorName); null for tensors that
 * have none (rope_freqs.weight, which the converter generates) or that this mapping does not know.
 */
export function hfTensorName(ggufName: string, arch?: GgufArch): string | null {
  const g = HF_OF_GLOBAL[ggufName];
  if (g) return g;
  const m = /^blk\.(\d+)\.(.+)$/.exec(ggufName);
  if (m) {
    // the router: Mixtral's (arch llama) sits in block_sparse_moe, Qwen-MoE's in mlp
    const suffix = m[2] === 'ffn_gate_inp.weight' ? (arch === 'llama' ? 'block_sparse_moe.gate.weight' : 'mlp.gate.weight') : (arch === 'gemma2' || arch === 'gemma3' ? HF_OF_GEMMA_LAYER : arch === 'phi3' ? HF_OF_PHI3_LAYER : HF_OF_LAYER)[m[2]!];
    if (suffix) return `model.layers.${Number(m[1])}.${suffix}`;
  }
  return null;
}

/** One expert's projection: Qwen-MoE's mlp.experts.E.{gate,up,down}_proj, Mixtral's block_sparse_moe.experts.E.{w1,w3,w2}. */
const EXPERT_RE = /^model\.layers\.(\d+)\.(mlp|block_sparse_moe)\.experts\.(\d+)\.(gate_proj|up_proj|down_proj|w1|w3|w2)\.weight$/;
const EXPERT_KIND: Readonly<Record<string, 'gate' | 'up' | 'down'>> = { gate_proj: 'gate', w1: 'gate', up_proj: 'up', w3: 'up', down_proj: 'down', w2: 'down' };

/**
 * The merged 3-D GGUF tensor an expert's projection is one slice of (llama.cpp's blk.N.ffn_{gate,up,down}_exps.weight,
 * [n_expert, out, in] stacked in expert order) and its expert index; null for other tensors.
 */
export function ggufExpertOf(hfName: string): { name: string; layer: number; expert: number; module: string; proj: string } | null {
  const m = EXPERT_RE.exec(hfName);
  if (!m) return null;
  return { name: `blk.${Number(m[1])}.ffn_${EXPERT_KIND[m[4]!]!}_exps.weight`, layer: Number(m[1]), expert: Number(m[3]), module: m[2]!, proj: m[4]! };
}

/** The HF names of the experts a merged GGUF tensor stacks (the inverse of ggufExpertOf); null for other tensors. */
export function hfExpertNames(ggufName: string, nExpert: number, arch: GgufArch): string[] | null {
  const m = /^blk\.(\d+)\.ffn_(gate|up|down)_exps\.weight$/.exec(ggufName);
  if (!m) return null;
  const mix = arch === 'llama';
  const proj = mix ? { gate: 'w1', up: 'w3', down: 'w2' }[m[2] as 'gate'] : `${m[2]}_proj`;
  return Array.from({ length: nExpert }, (_, e) => `model.layers.${Number(m[1])}.${mix ? 'block_sparse_moe' : 'mlp'}.experts.${e}.${proj}.weight`);
}

/** The layer index of a GGUF name ("blk.N.…"), −1 for tensors outside layers. */
export function ggufLayerOf(name: string): number {
  const m = /^blk\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : -1;
}

/**
 * llama-quantize's tensor order: by layer (tensors outside layers first), then by name as a byte
 * string. Its per-tensor counters (attn_v, ffn_down) assume this order.
 */
export function compareGgufOrder(a: string, b: string): number {
  const la = ggufLayerOf(a);
  const lb = ggufLayerOf(b);
  if (la !== lb) return la - lb;
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  return Buffer.compare(ba, bb);
}

/**
 * For `llama`, HF q_proj/k_proj rows are stored for rotate_half; llama.cpp's NORM rope wants the
 * interleaved order. Returns the head count to permute with (q: num_attention_heads,
 * k: num_key_value_heads), or null where no permutation applies.
 */
export function permuteHeadsFor(hfName: string, arch: GgufArch, config: HFConfig): number | null {
  if (arch !== 'llama') return null;
  const nHead = Number(config.num_attention_heads);
  const nKv = Number(config.num_key_value_heads ?? nHead);
  if (/self_attn\.q_proj\.(weight|bias)$/.test(hfName)) return nHead;
  if (/self_attn\.k_proj\.(weight|bias)$/.test(hfName)) return nKv;
  return null;
}

/**
 * The reverse permutation of docs/formats/gguf.md#qk-reverse-permutation: rows viewed as [nHead, 2, headDim/2] become
 * [nHead, headDim/2, 2]. New row h·hd + 2i ← old row h·hd + i; new row h·hd + 2i + 1 ←
 * old row h·hd + hd/2 + i. `cols` = 1 for a bias.
 */
export function reversePermuteRows(data: Float32Array, rows: number, cols: number, nHead: number, name = 'tensor'): Float32Array {
  return gatherRows(data, new Float32Array(data.length), rows, cols, reversePermuteSourceRows(rows, nHead, name));
}

function checkHeads(rows: number, nHead: number, name: string): number {
  if (rows % nHead !== 0 || (rows / nHead) % 2 !== 0) {
    throw new AutoRoundError('E_GGUF_TENSOR', `${name}: ${rows} rows cannot be split into ${nHead} heads of even size for the Q/K permutation`, { subject: name });
  }
  return rows / nHead;
}

/**
 * The Q/K reverse permutation as a row map: GGUF row o holds Hugging Face row src(o) (GGUF row h·hd + 2i ← HF row
 * h·hd + i, h·hd + 2i + 1 ← h·hd + hd/2 + i). The one definition of the permutation: reversePermuteRows,
 * reversePermuteRowBytes and the exporter's row-chunked reads (which gather a piece's rows from the source) use it.
 */
export function reversePermuteSourceRows(rows: number, nHead: number, name = 'tensor'): (o: number) => number {
  const hd = checkHeads(rows, nHead, name);
  const half = hd / 2;
  return (o) => {
    const j = o % hd;
    return o - j + (j & 1 ? half + (j >> 1) : j >> 1);
  };
}

/**
 * The reverse permutation applied to whole rows of raw bytes (`rowBytes` each): quantized rows are
 * independent, so a row-permuted tensor quantizes to the row-permuted bytes.
 */
export function reversePermuteRowBytes(data: Uint8Array, rows: number, rowBytes: number, nHead: number, name = 'tensor'): Uint8Array {
  return gatherRows(data, new Uint8Array(data.length), rows, rowBytes, reversePermuteSourceRows(rows, nHead, name));
}

/** out's row o (`width` values) = data's row src(o). */
function gatherRows<T extends Float32Array | Uint8Array>(data: T, out: T, rows: number, width: number, src: (o: number) => number): T {
  for (let o = 0; o < rows; o++) {
    const s = src(o);
    out.set(data.subarray(s * width, (s + 1) * width), o * width);
  }
  return out;
}

/**
 * The inverse of reversePermuteRows: GGUF's interleaved Q/K rows back to the Hugging Face order
 * (old row h·hd + i ← GGUF row h·hd + 2i, old row h·hd + hd/2 + i ← GGUF row h·hd + 2i + 1).
 */
export function permuteRows(data: Float32Array, rows: number, cols: number, nHead: number, name = 'tensor'): Float32Array {
  const hd = checkHeads(rows, nHead, name);
  const half = hd / 2;
  const out = new Float32Array(data.length);
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < half; i++) {
      const src0 = (h * hd + 2 * i) * cols;
      out.set(data.subarray(src0, src0 + cols), (h * hd + i) * cols);
      out.set(data.subarray(src0 + cols, src0 + 2 * cols), (h * hd + half + i) * cols);
    }
  }
  return out;
}
