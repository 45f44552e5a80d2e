// The GGUF type of every layer of a run, as the file's mix (llama.cpp's per-tensor choice, the row
// fallbacks, the layer selection's overrides) decides it: the planning side of GGUF, which the
// exporter and the algorithms that quantize to GGUF types share.

import type { HFConfig, ModelSpec, QuantScheme } from '@autoround/core';
import { type GGMLType, ggmlTypeOfScheme } from '@autoround/quant-types';
import { planTensors, resolveFileType } from './export.js';
import type { FileType } from './ftype.js';
import { ggufLayerOverrides } from './overrides.js';

export interface GgufLayerTypeOptions {
  /** The model's config.json. */
  readonly config: HFConfig;
  /** Every checkpoint tensor: HF name and shape (decides output.weight, tied embeddings, rows). */
  readonly sourceTensors: readonly { name: string; shape: readonly number[] }[];
  /** The file type of the --format gguf:* output ("Q4_K_M"). */
  readonly fileType: FileType | string;
  /** Whether the run delivers importance vectors (changes Q4_0/Q5_0 files' ffn_down mix). */
  readonly hasImatrix: boolean;
  /** Types the layer selection decides, by HF tensor name (ggufLayerOverrides). */
  readonly overrides?: ReadonlyMap<string, GGMLType>;
}

/**
 * The GGUF type of every weight a file of `fileType` stores, keyed by the HF layer name without
 * ".weight" ("model.layers.0.self_attn.v_proj"): the same choice (mix and row fallbacks) the gguf
 * exporter makes, so an algorithm's QDQ is what the file holds.
 */
export function ggufLayerTypes(o: GgufLayerTypeOptions): Map<string, GGMLType> {
  const { tensors } = planTensors({ config: o.config, sourceTensors: o.sourceTensors, fileType: o.fileType, hasImatrix: o.hasImatrix, ...(o.overrides ? { overrides: o.overrides } : {}) });
  const out = new Map<string, GGMLType>();
  for (const t of tensors) {
    if (t.hfName?.endsWith('.weight') && t.shape.length === 2) out.set(t.hfName.slice(0, -'.weight'.length), t.type);
    // each expert of a merged tensor takes the merged tensor's type
    for (const n of t.parts ?? []) out.set(n.slice(0, -'.weight'.length), t.type);
  }
  return out;
}

/** What planning needs of a checkpoint: its tensor names, shapes and (optionally) dtypes. */
export interface CheckpointShapes {
  readonly names: readonly string[];
  info(name: string): { readonly shape: readonly number[]; readonly dtype?: string };
}

/** ggufLayerTypes from a model spec and its checkpoint. */
export function ggufLayerTypesOf(spec: ModelSpec, checkpoint: CheckpointShapes, fileType: FileType | string, hasImatrix: boolean, overrides?: ReadonlyMap<string, GGMLType>): Map<string, GGMLType> {
  return ggufLayerTypes({ config: spec.config, sourceTensors: checkpoint.names.map((n) => ({ name: n, shape: checkpoint.info(n).shape })), fileType, hasImatrix, ...(overrides ? { overrides } : {}) });
}

/**
 * The types the layer selection of a run decides (ggufLayerOverrides) for a file of `fileType`:
 * full-precision layers as F16/BF16, layers with their own scheme as the type it names.
 */
export function ggufSelectionOverrides(
  run: { checkpoint: CheckpointShapes; layerSchemes?: ReadonlyMap<string, QuantScheme | null>; scheme?: QuantScheme | undefined },
  fileType: FileType | string,
): Map<string, GGMLType> {
  if (!run.layerSchemes) return new Map();
  const has = new Set(run.checkpoint.names);
  return ggufLayerOverrides({
    layerSchemes: run.layerSchemes,
    scheme: run.scheme,
    fileType: resolveFileType(fileType),
    dtypeOf: (n) => (has.has(n) ? run.checkpoint.info(n).dtype : undefined),
  });
}
