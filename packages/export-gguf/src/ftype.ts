// File types ("Q4_K_M" …) and the per-tensor type choice of llama-quantize
// (llama_tensor_get_type and its row-size fallback, docs/formats/gguf.md#file-type-mix), for LLaMA/Qwen (no MoE, no Falcon).

import { AutoRoundError } from '@autoround/core-tensor';
import { GGMLType, blockSizeOf, ggmlTypeName, rowFallbackOf } from '@autoround/quant-types';
import { LlamaFileType } from './llama-ftype.js';

export interface FileType {
  /** Canonical name as llama.cpp prints it ("Q4_K_M"). */
  readonly name: string;
  /** general.file_type. */
  readonly ftype: number;
  /** The type of every quantizable tensor before the mix rules. */
  readonly defaultType: GGMLType;
  /** Quantized file types apply the mix; F32/F16/BF16 files convert every matrix to defaultType. */
  readonly quantized: boolean;
}

function ft(name: string, ftype: number, defaultType: GGMLType, quantized = true): FileType {
  return { name, ftype, defaultType, quantized };
}

export const FILE_TYPES: readonly FileType[] = [
  ft('F32', LlamaFileType.ALL_F32, GGMLType.F32, false),
  ft('F16', LlamaFileType.MOSTLY_F16, GGMLType.F16, false),
  ft('BF16', LlamaFileType.MOSTLY_BF16, GGMLType.BF16, false),
  ft('Q8_0', LlamaFileType.MOSTLY_Q8_0, GGMLType.Q8_0),
  ft('Q4_0', LlamaFileType.MOSTLY_Q4_0, GGMLType.Q4_0),
  ft('Q4_1', LlamaFileType.MOSTLY_Q4_1, GGMLType.Q4_1),
  ft('Q5_0', LlamaFileType.MOSTLY_Q5_0, GGMLType.Q5_0),
  ft('Q5_1', LlamaFileType.MOSTLY_Q5_1, GGMLType.Q5_1),
  ft('Q2_K', LlamaFileType.MOSTLY_Q2_K, GGMLType.Q2_K),
  ft('Q2_K_S', LlamaFileType.MOSTLY_Q2_K_S, GGMLType.Q2_K),
  ft('Q3_K_S', LlamaFileType.MOSTLY_Q3_K_S, GGMLType.Q3_K),
  ft('Q3_K_M', LlamaFileType.MOSTLY_Q3_K_M, GGMLType.Q3_K),
  ft('Q3_K_L', LlamaFileType.MOSTLY_Q3_K_L, GGMLType.Q3_K),
  ft('Q4_K_S', LlamaFileType.MOSTLY_Q4_K_S, GGMLType.Q4_K),
  ft('Q4_K_M', LlamaFileType.MOSTLY_Q4_K_M, GGMLType.Q4_K),
  ft('Q5_K_S', LlamaFileType.MOSTLY_Q5_K_S, GGMLType.Q5_K),
  ft('Q5_K_M', LlamaFileType.MOSTLY_Q5_K_M, GGMLType.Q5_K),
  ft('Q6_K', LlamaFileType.MOSTLY_Q6_K, GGMLType.Q6_K),
  // llama.cpp's name; `gguf:mxfp4` names it too (docs/formats/gguf.md#mxfp4-files)
  ft('MXFP4_MOE', LlamaFileType.MOSTLY_MXFP4_MOE, GGMLType.MXFP4),
];

const ALIASES: Readonly<Record<string, string>> = { FP32: 'F32', FP16: 'F16', FLOAT16: 'F16', BFLOAT16: 'BF16', Q4_K: 'Q4_K_M', Q5_K: 'Q5_K_M', Q3_K: 'Q3_K_M', MXFP4: 'MXFP4_MOE' };

/** Looks a file type up by name, case-insensitively ("q4_k_m", "F16", "bf16"). */
export function fileTypeByName(name: string): FileType | undefined {
  let up = name.trim().toUpperCase();
  up = ALIASES[up] ?? up;
  return FILE_TYPES.find((t) => t.name === up);
}

export function fileTypeNames(): string[] {
  return FILE_TYPES.map((t) => t.name.toLowerCase());
}

/** Whether llama-quantize quantizes this tensor at all: ≥ 2-D, name ends in "weight", not a norm. */
export function isQuantizable(name: string, ne: readonly number[]): boolean {
  // a mixture of experts' router (ffn_gate_inp.weight) stays as it is, as in llama-quantize
  return ne.length >= 2 && name.endsWith('weight') && !name.includes('_norm.weight') && !name.includes('ffn_gate_inp.weight');
}

/** The block index of "blk.N.…" (llama-quantize's layer_info for models with experts). */
function blockOf(name: string, nLayer: number): number {
  const m = /^blk\.(\d+)\./.exec(name);
  const i = m ? Number(m[1]) : -1;
  if (i < 0 || i >= nLayer) throw new AutoRoundError('E_GGUF_TENSOR', `tensor "${name}": no layer in [0, ${nLayer}) in its name`, { subject: name });
  return i;
}

/** use_more_bits(i, n): the first and last eighth of the layers and every third one between. */
export function useMoreBits(i: number, n: number): boolean {
  const e = Math.floor(n / 8);
  return i < e || i >= Math.floor((7 * n) / 8) || (i - e) % 3 === 2;
}

export interface ModelShape {
  readonly arch: string;
  readonly nLayer: number;
  readonly nHead: number;
  readonly nHeadKv: number;
  /** Whether the file holds output.weight (else token_embd doubles as the output matrix). */
  readonly hasOutput: boolean;
  readonly hasImatrix: boolean;
  /** Experts of a mixture-of-experts model (0 or absent: dense). */
  readonly nExpert?: number;
}

export interface TypeChoice {
  readonly type: GGMLType;
  /** Set when the row length forced a fallback, as llama-quantize logs it. */
  readonly fallback?: string;
}

/**
 * Chooses each tensor's type. Call `choose` for every tensor in llama-quantize order
 * (compareGgufOrder): the attn_v / ffn_down counters advance as it goes.
 */
export class TensorTypeSelector {
  private iAttnV = 0;
  private iFfnDown = 0;
  private readonly nAttnV: number;
  private readonly nFfnDown: number;
  private readonly nGqa: number;
  private readonly is70B: boolean;

  constructor(
    readonly fileType: FileType,
    readonly model: ModelShape,
  ) {
    this.nAttnV = model.nLayer;
    this.nFfnDown = model.nLayer;
    this.nGqa = model.nHeadKv > 0 ? Math.floor(model.nHead / model.nHeadKv) : 1;
    // llama.cpp's LLM_TYPE_70B: 80 layers (LLaMA with GQA; Qwen2)
    this.is70B = model.nLayer === 80 && ((model.arch === 'llama' && model.nHead !== model.nHeadKv) || model.arch === 'qwen2');
  }

  choose(name: string, ne: readonly number[]): TypeChoice {
    if (!isQuantizable(name, ne)) return { type: GGMLType.F32 };
    const ftype = this.fileType;
    if (!ftype.quantized) return { type: ftype.defaultType };
    const type = this.mix(name, ne, ftype.defaultType);
    return fallback(type, ne[0]!);
  }

  /**
   * llama_tensor_get_type for the file types of FILE_TYPES (non-Falcon). Mixtures of experts (llama-quant.cpp):
   * MXFP4_MOE files put the 3-D expert tensors in MXFP4 and every other matrix in Q8_0; ffn_down's layer is the
   * block index of its name (ffn_down_exps and ffn_down_shexp alike) out of n_layer; with exactly 8 experts attn_v
   * and attn_k are Q8_0 and attn_output Q5_K in Q2_K, Q3_K_S/M and Q4_K_S/M files.
   */
  private mix(name: string, ne: readonly number[], t: GGMLType): GGMLType {
    const F = LlamaFileType;
    const f = this.fileType.ftype;
    const m = this.model;
    const nExpert = m.nExpert ?? 0;
    if (name === 'output.weight' || (!m.hasOutput && name === 'token_embd.weight')) {
      if (f === F.MOSTLY_MXFP4_MOE) return GGMLType.Q8_0;
      if (ne[0]! % blockSizeOf(t) !== 0) return GGMLType.Q8_0;
      return t !== GGMLType.Q8_0 ? GGMLType.Q6_K : t;
    }
    if (f === F.MOSTLY_MXFP4_MOE && nExpert > 1) return ne.length > 2 && ne[2]! > 1 ? GGMLType.MXFP4 : GGMLType.Q8_0;
    // MXFP4 files: llama.cpp puts every matrix but the 3-D expert tensors in Q8_0; a dense model's
    // block linears are MXFP4 here, its embedding Q8_0 (docs/formats/gguf.md#mxfp4-files)
    if (name === 'token_embd.weight') return f === F.MOSTLY_MXFP4_MOE ? GGMLType.Q8_0 : t;
    if (name.includes('attn_v.weight')) {
      const i = this.iAttnV++;
      if (f === F.MOSTLY_Q2_K) t = this.nGqa >= 4 ? GGMLType.Q4_K : GGMLType.Q3_K;
      else if (f === F.MOSTLY_Q2_K_S && this.nGqa >= 4) t = GGMLType.Q4_K;
      else if (f === F.MOSTLY_Q3_K_M) t = i < 2 ? GGMLType.Q5_K : GGMLType.Q4_K;
      else if (f === F.MOSTLY_Q3_K_L) t = GGMLType.Q5_K;
      else if ((f === F.MOSTLY_Q4_K_M || f === F.MOSTLY_Q5_K_M) && useMoreBits(i, this.nAttnV)) t = GGMLType.Q6_K;
      else if (f === F.MOSTLY_Q4_K_S && i < 4) t = GGMLType.Q5_K;
      if (this.is70B && (t === GGMLType.Q3_K || t === GGMLType.Q4_K)) t = GGMLType.Q5_K;
      if (nExpert === 8) t = GGMLType.Q8_0;
      return t;
    }
    if (nExpert === 8 && name.includes('attn_k.weight')) return GGMLType.Q8_0;
    if (name.includes('ffn_down')) {
      const i0 = this.iFfnDown++;
      // llama.cpp's layer_info: with experts, the block index of the name (ffn_down_exps and ffn_down_shexp share it)
      const i = nExpert > 1 ? blockOf(name, this.nFfnDown) : i0;
      const n = this.nFfnDown;
      if (f === F.MOSTLY_Q2_K) t = GGMLType.Q3_K;
      else if (f === F.MOSTLY_Q2_K_S) {
        if (i < Math.floor(n / 8)) t = GGMLType.Q4_K;
      } else if (f === F.MOSTLY_Q3_K_M) t = i < Math.floor(n / 16) ? GGMLType.Q5_K : GGMLType.Q4_K;
      else if (f === F.MOSTLY_Q3_K_L) t = GGMLType.Q5_K;
      else if (f === F.MOSTLY_Q4_K_M) {
        if (useMoreBits(i, n)) t = GGMLType.Q6_K;
      } else if (f === F.MOSTLY_Q5_K_M && useMoreBits(i, n)) t = GGMLType.Q6_K;
      else if (f === F.MOSTLY_Q4_K_S && i < Math.floor(n / 8)) t = GGMLType.Q5_K;
      else if ((f === F.MOSTLY_Q4_0 || f === F.MOSTLY_Q5_0) && m.hasImatrix && i < Math.floor(n / 8)) {
        t = f === F.MOSTLY_Q4_0 ? GGMLType.Q4_1 : GGMLType.Q5_1;
      }
      return t;
    }
    if (name.includes('attn_qkv.weight')) {
      // fused q/k/v (Phi-3): llama-quantize's ATTENTION_QKV category
      if (f === F.MOSTLY_Q3_K_M || f === F.MOSTLY_Q3_K_L) t = GGMLType.Q4_K;
      else if (f === F.MOSTLY_Q4_K_M) t = GGMLType.Q5_K;
      else if (f === F.MOSTLY_Q5_K_M) t = GGMLType.Q6_K;
      return t;
    }
    if (name.includes('attn_output.weight')) {
      if (nExpert === 8) {
        return f === F.MOSTLY_Q2_K || f === F.MOSTLY_Q3_K_S || f === F.MOSTLY_Q3_K_M || f === F.MOSTLY_Q4_K_S || f === F.MOSTLY_Q4_K_M ? GGMLType.Q5_K : t;
      }
      if (f === F.MOSTLY_Q2_K) t = GGMLType.Q3_K;
      else if (f === F.MOSTLY_Q3_K_M) t = GGMLType.Q4_K;
      else if (f === F.MOSTLY_Q3_K_L) t = GGMLType.Q5_K;
      return t;
    }
    return t; // attn_q, attn_k, ffn_gate, ffn_up keep the default
  }
}

/**
 * The row-size fallback (docs/formats/gguf.md#row-fallback). llama-quantize aborts for types without a fallback
 * (Q4_0 … Q8_0 with rows that are not multiples of 32); we store such tensors as F16 instead.
 */
export function fallback(type: GGMLType, ne0: number): TypeChoice {
  // the fallback type is the row's (quant-types' table); this adds the line llama-quantize logs
  const fb = rowFallbackOf(type, ne0);
  if (fb === type) return { type };
  return { type: fb, fallback: `${ne0} columns are not a multiple of ${blockSizeOf(type)}: ${ggmlTypeName(type)} -> ${ggmlTypeName(fb)}` };
}
