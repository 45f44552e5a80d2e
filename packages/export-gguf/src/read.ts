// Reading a GGUF file back as Hugging Face float32 weights (for evaluation): every tensor is
// dequantized, LLaMA's Q/K rows are put back in the HF order, and the shape is reversed.

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AutoRoundError, Tensor } from '@autoround/core-tensor';
import type { HFConfig, WeightSource } from '@autoround/core';
import { readGguf, readGgufTensorF32, ggufValue, type GgufFile, type GgufTensorInfo } from './gguf/reader.js';
import { ggufValueOffset, hfExpertNames, hfTensorName, permuteHeadsFor, permuteRows, type GgufArch } from './tensor-map.js';

/** The quant_method the gguf exporter writes into the config.json beside its file. */
export const GGUF_QUANT_METHOD = 'gguf';

/** A GGUF file as a WeightSource with Hugging Face tensor names. */
export class GgufWeights implements WeightSource {
  readonly file: GgufFile;
  readonly arch: GgufArch;
  /** llama.cpp's rule: output.weight, when the file has one, is the output matrix (tied or not). */
  readonly separateOutput = true;
  private readonly byHf = new Map<string, GgufTensorInfo>();

  /** `config` supplies the head counts for the Q/K permutation when the file's metadata lacks them. */
  constructor(
    readonly path: string,
    private readonly config: HFConfig = {},
  ) {
    this.file = readGguf(path);
    const arch = ggufValue(this.file, 'general.architecture');
    const known = ['llama', 'qwen2', 'qwen3', 'gemma2', 'gemma3', 'phi3', 'qwen2vl', 'qwen3moe', 'qwen2moe'];
    if (typeof arch !== 'string' || !known.includes(arch)) {
      throw new AutoRoundError('E_UNKNOWN_ARCH', `${path}: general.architecture ${JSON.stringify(arch)} cannot be read back (supported: ${known.join(', ')})`, { subject: path });
    }
    this.arch = arch as GgufArch;
    for (const t of this.file.tensors) {
      // a merged expert tensor [n_expert, out, in]: each expert is one HF tensor
      const experts = t.ne.length === 3 ? hfExpertNames(t.name, t.ne[2]!, this.arch) : null;
      if (experts) {
        experts.forEach((n, e) => {
          this.byHf.set(n, t);
          this.expertOf.set(n, e);
        });
        continue;
      }
      const hf = hfTensorName(t.name, this.arch);
      if (hf) this.byHf.set(hf, t);
    }
  }

  /** An expert's index in its merged tensor, by HF name. */
  private readonly expertOf = new Map<string, number>();
  /** The last merged expert tensor read (its experts are read one after the other). */
  private merged: { name: string; data: Float32Array } | null = null;

  /** Hugging Face names of the tensors the file holds. */
  get names(): string[] {
    return [...this.byHf.keys()];
  }

  /**
   * A qwen2vl file's text tower under the prefix newer transformers save it with (model.language_model.*) as well
   * as model.*: the folder's spec names the tensors as its source checkpoint did (docs/vlm.md).
   */
  private tensorOf(name: string): GgufTensorInfo | undefined {
    const alias = this.arch === 'qwen2vl' && name.startsWith('model.language_model.') ? `model.${name.slice('model.language_model.'.length)}` : name;
    return this.byHf.get(alias);
  }

  has(name: string): boolean {
    return this.tensorOf(name) !== undefined;
  }

  /** The head counts of the file (metadata first, then config.json). */
  private headConfig(): HFConfig {
    const a = this.arch;
    const heads = ggufValue(this.file, `${a}.attention.head_count`);
    const kv = ggufValue(this.file, `${a}.attention.head_count_kv`);
    return {
      ...this.config,
      ...(typeof heads === 'number' ? { num_attention_heads: heads } : {}),
      ...(typeof kv === 'number' ? { num_key_value_heads: kv } : typeof heads === 'number' ? { num_key_value_heads: heads } : {}),
    };
  }

  readFloat32(name: string): Tensor<'F32'> {
    const t = this.tensorOf(name);
    if (!t) throw new AutoRoundError('E_NO_TENSOR', `${this.path}: no tensor for "${name}"`, { subject: name });
    const e = this.expertOf.get(this.byHf.get(name) === t ? name : '');
    if (e !== undefined) {
      if (this.merged?.name !== t.name) this.merged = { name: t.name, data: readGgufTensorF32(this.file, t.name) };
      const [cols, rows] = [t.ne[0]!, t.ne[1]!];
      return Tensor.f32([rows, cols], this.merged.data.slice(e * rows * cols, (e + 1) * rows * cols));
    }
    let data = readGgufTensorF32(this.file, t.name);
    // Qwen2-MoE's shared-expert gate is llama.cpp's 1-D ffn_gate_inp_shexp; Hugging Face's is [1, hidden]
    const shape = t.ne.length === 1 && t.name.endsWith('.ffn_gate_inp_shexp.weight') ? [1, t.ne[0]!] : [...t.ne].reverse();
    const heads = permuteHeadsFor(name, this.arch, this.headConfig());
    if (heads !== null) data = permuteRows(data, shape[0]!, shape.length > 1 ? shape[1]! : 1, heads, `${this.path}: ${t.name}`);
    // Gemma's norms are stored as w + 1; (w + 1) − 1 is exact in float32 (Sterbenz) for stored values in [1/2, 2], so the forward's 1 + w is the file's value again
    const off = ggufValueOffset(name, this.arch);
    if (off !== 0) data = Float32Array.from(data, (v) => v - off);
    return Tensor.f32(shape, data);
  }
}

/** Reads a GGUF file as Hugging Face float32 weights. */
export function readGgufWeights(path: string, config?: HFConfig): GgufWeights {
  return new GgufWeights(path, config);
}

/**
 * The GGUF file of a folder the gguf exporter wrote: the one config.json's quantization_config
 * names, else the only .gguf file in it.
 */
export function ggufFileOf(dir: string, config?: HFConfig): string {
  const qc = config?.quantization_config as { gguf_file?: unknown } | undefined;
  if (typeof qc?.gguf_file === 'string') {
    const p = join(dir, qc.gguf_file);
    if (!existsSync(p)) throw new AutoRoundError('E_NOT_FOUND', `${dir}/config.json names GGUF file ${qc.gguf_file}, which is missing`, { subject: p });
    return p;
  }
  const found = readdirSync(dir).filter((f) => f.toLowerCase().endsWith('.gguf'));
  if (found.length !== 1) {
    throw new AutoRoundError('E_NOT_FOUND', `${dir}: expected one .gguf file, found ${found.length === 0 ? 'none' : found.join(', ')}`, { subject: dir });
  }
  return join(dir, found[0]!);
}
