// Per-layer types from the AutoRound layer selection: layers kept in full precision (--fp_layers,
// --ignore_layers, a layer_config with 16 bits) and layers given their own scheme (--layer_config)
// override the file type's mix for those tensors, the way llama-quantize's --tensor-type does.

import { AutoRoundError } from '@autoround/core-tensor';
import { schemeEquals, type QuantScheme } from '@autoround/core';
import { GGMLType, ggmlTypeName, ggmlTypeOfScheme } from '@autoround/quant-types';
import type { FileType } from './ftype.js';

/** The quantized types a scheme's bit width can name, by suffix (the original's `gguf:q{bits}_{k,0,1}`). */
const BY_BITS: Readonly<Record<number, Partial<Record<'K' | '0' | '1', GGMLType>>>> = {
  2: { K: GGMLType.Q2_K },
  3: { K: GGMLType.Q3_K },
  4: { K: GGMLType.Q4_K, 0: GGMLType.Q4_0, 1: GGMLType.Q4_1 },
  5: { K: GGMLType.Q5_K, 0: GGMLType.Q5_0, 1: GGMLType.Q5_1 },
  6: { K: GGMLType.Q6_K },
  8: { 0: GGMLType.Q8_0 },
};

function suffixOf(t: GGMLType): 'K' | '0' | '1' | null {
  const m = /^Q\d_(K|0|1)$/.exec(ggmlTypeName(t));
  return m ? (m[1] as 'K' | '0' | '1') : null;
}

/**
 * The block type a layer's own scheme gives it in a file of `fileType`. A GGUF preset scheme
 * (GGUF:Q8_0, GGUF:Q6_K …) names its type exactly. Any other scheme is read as the original reads a
 * layer_config entry: its bit width with the suffix of the file's type (Q4_K_M file + 6 bits → Q6_K,
 * Q4_0 file + 5 bits → Q5_0), else the first of _K, _0, _1 that exists at that width (8 bits → Q8_0;
 * without a file suffix, K for schemes with super-block fields, else _0 for symmetric, _1 for
 * asymmetric ones). Bits with no GGUF type (1, 7, 9 … 15) are an error naming the layer.
 */
export function ggufTypeOfLayerScheme(s: QuantScheme, fileType: FileType, layer = 'layer'): GGMLType {
  const exact = ggmlTypeOfScheme(s, true);
  if (exact !== null) return exact;
  const options = BY_BITS[s.bits];
  const fileSuffix = fileType.quantized ? suffixOf(fileType.defaultType) : null;
  const first = fileSuffix ?? (s.super_bits !== undefined || s.super_group_size !== undefined ? 'K' : s.sym ? '0' : '1');
  for (const suffix of [first, 'K', '0', '1'] as const) {
    const t = options?.[suffix];
    if (t !== undefined) return t;
  }
  throw new AutoRoundError('E_BAD_FLAG', `--layer_config ${layer}: no GGUF type stores ${s.bits}-bit weights (GGUF has 2, 3, 4, 5, 6 and 8 bits, or 16 to keep the layer in full precision)`, {
    subject: '--layer_config',
  });
}

export interface LayerOverrideOptions {
  /** Full layer name (without ".weight") → its scheme, or null where it stays in full precision. */
  readonly layerSchemes: ReadonlyMap<string, QuantScheme | null>;
  /**
   * The run's global scheme: layers with exactly this scheme follow the file type's mix. When the
   * host does not say, layers whose scheme names the file's default type do.
   */
  readonly scheme: QuantScheme | undefined;
  readonly fileType: FileType;
  /** Source tensor dtypes by HF name ("BF16" keeps a full-precision layer in BF16 rather than F16). */
  readonly dtypeOf?: (hfName: string) => string | undefined;
}

/**
 * The tensors whose type the layer selection decides, keyed by HF weight name
 * ("model.layers.0.mlp.down_proj.weight"). In a quantized file a layer kept in full precision is
 * stored as F16 (BF16 when the checkpoint holds it in BF16), the float type llama.cpp's converter
 * writes matrices in; a layer whose scheme differs from the global one gets the type that scheme
 * names (ggufTypeOfLayerScheme). Layers with the global scheme are not listed: the file type's mix
 * (attn_v / ffn_down upgrades, output rules) decides them. In a float file (F32/F16/BF16) only
 * layers given a quantized scheme are listed.
 */
export function ggufLayerOverrides(o: LayerOverrideOptions): Map<string, GGMLType> {
  const out = new Map<string, GGMLType>();
  for (const [layer, s] of o.layerSchemes) {
    const hf = `${layer}.weight`;
    if (s === null || s.bits >= 16) {
      if (o.fileType.quantized) out.set(hf, o.dtypeOf?.(hf)?.toUpperCase() === 'BF16' ? GGMLType.BF16 : GGMLType.F16);
      continue;
    }
    if (o.scheme && (s === o.scheme || schemeEquals(s, o.scheme))) continue;
    const t = ggufTypeOfLayerScheme(s, o.fileType, layer);
    // without the global scheme, a layer whose scheme names the file's own type follows the mix
    if (!o.scheme && t === o.fileType.defaultType) continue;
    out.set(hf, t);
  }
  return out;
}
