// Reading folders whose layers are in the floating-point layouts (fp.ts) back as QDQ weights with their
// activation quantization: compressed-tensors folders (config_groups' weights and input_activations args) and
// auto_round folders (the scheme fields of quantization_config and extra_config). docs/formats/fp-formats.md#reading.

import { Checkpoint, Tensor } from '@autoround/core-tensor';
import { type ActivationQdq, AutoRoundError, completeScheme, configLayerScheme, type QuantScheme, type WeightSource } from '@autoround/core';
import { activationsOf, fpDataTypeOf, type StoredActivation } from '@autoround/quant-types';
import { type FpLayerArgs, hasFpLayer, readFpLayer, storedActivation } from './fp.js';

/** compressed-tensors QuantizationArgs as a config holds them (the fields the readers use). */
export interface CtArgsJson {
  num_bits: number;
  type?: string;
  symmetric?: boolean;
  group_size?: number | null;
  strategy?: string;
  dynamic?: boolean | string;
}

export interface CtGroupJson {
  targets: string[];
  weights?: CtArgsJson | null;
  input_activations?: CtArgsJson | null;
}

/** A layer's group size from args: tensor 0, channel/token −1, group/tensor_group the group size. */
function ctGroupSize(a: CtArgsJson): number {
  if (a.strategy === 'tensor') return 0;
  if (a.strategy === 'channel' || a.strategy === 'token' || a.group_size == null) return -1;
  return a.group_size;
}

/**
 * The scheme a compressed-tensors config group describes (docs/formats/fp-formats.md#compressed-tensors): the
 * weights' data type from the format and args, the activations' from input_activations.
 */
export function ctSchemeOf(format: string, g: CtGroupJson, key: string): QuantScheme {
  const w = g.weights;
  if (!w || typeof w.num_bits !== 'number') throw new AutoRoundError('E_FORMAT', `compressed-tensors config: quantization_config.config_groups.${key}.weights has no num_bits`, { subject: `quantization_config.config_groups.${key}` });
  const float = w.type === 'float';
  const dataType = !float ? 'int' : format === 'nvfp4-e5m3-pack-quantized' ? 'nvfp4_v2' : format.startsWith('nvfp4') ? 'nv_fp' : format.startsWith('mxfp') ? 'mx_fp' : 'fp';
  const a = g.input_activations;
  let act: Partial<QuantScheme> = { act_bits: 16 };
  if (a) {
    const aFloat = a.type === 'float';
    const actType = !aFloat ? 'int' : dataType === 'nv_fp' ? (a.dynamic === 'local' ? 'nv_fp4_with_static_gs' : 'nv_fp') : dataType === 'nvfp4_v2' ? 'nvfp4_v2' : dataType === 'mx_fp' ? 'mx_fp' : 'fp';
    act = { act_bits: a.num_bits, act_data_type: actType, act_group_size: ctGroupSize(a), act_sym: a.symmetric ?? true, act_dynamic: a.dynamic !== false };
  }
  return completeScheme({ bits: w.num_bits, group_size: ctGroupSize(w), sym: w.symmetric ?? true, data_type: dataType, ...act });
}

/** The element type of a scheme's weights, or null for int schemes. */
function elementArgs(s: QuantScheme, field: string): FpLayerArgs | null {
  if (s.bits >= 16) return null;
  const t = fpDataTypeOf(s.data_type, s.bits);
  if (!t) return null;
  return { element: t.format.element, field, ...(t.format.scaleFormat === 'ue5m3' ? { ue5m3: true } : {}) };
}

/**
 * A folder seen as float32 weights: layers in the floating-point layouts decoded by readFpLayer, int8
 * `weight`s of W8A8 layers as scale · level, every other tensor from `rest` (the int layouts' readers, or the
 * checkpoint); `activations` re-applies each layer's activation quantization.
 */
export class FpFolderWeights implements WeightSource {
  readonly activations?: ActivationQdq;
  constructor(
    private readonly ck: Checkpoint,
    private readonly schemeOf: (layer: string) => { scheme: QuantScheme; field: string } | null,
    private readonly rest: WeightSource,
    layers: readonly string[],
  ) {
    const stored = new Map<string, StoredActivation>();
    for (const l of layers) {
      const s = schemeOf(l);
      if (s && s.scheme.act_bits < 16) stored.set(l, storedActivation(ck, l, s.scheme));
    }
    const acts = activationsOf(stored);
    if (acts) this.activations = acts;
  }

  has(name: string): boolean {
    return this.rest.has(name) || this.ck.has(name) || (name.endsWith('.weight') && hasFpLayer(this.ck, name.slice(0, -7)));
  }

  readFloat32(name: string): Tensor<'F32'> {
    const layer = name.endsWith('.weight') ? name.slice(0, -7) : null;
    const s = layer ? this.schemeOf(layer) : null;
    if (layer && s) {
      const el = elementArgs(s.scheme, s.field);
      if (el && hasFpLayer(this.ck, layer)) return readFpLayer(this.ck, layer, el);
      if (!el && s.scheme.data_type === 'int' && s.scheme.act_bits < 16 && this.ck.has(name) && this.ck.info(name).dtype === 'I8') return this.intQuantized(layer);
    }
    return this.rest.readFloat32(name);
  }

  /** int-quantized: scale · level, the level the stored int8. */
  private intQuantized(layer: string): Tensor<'F32'> {
    const w = this.ck.read(`${layer}.weight`);
    const [out, inF] = w.shape as [number, number];
    const scale = this.ck.readFloat32(`${layer}.weight_scale`);
    const G = scale.shape[1] ?? 1;
    if (scale.shape[0] !== out || inF % G !== 0) throw new AutoRoundError('E_FORMAT', `${this.ck.dir}: ${layer}.weight_scale [${scale.shape}] does not fit ${layer}.weight [${out}, ${inF}]`, { subject: layer });
    const gs = inF / G;
    const q = w.data as Int8Array;
    const y = new Float32Array(out * inF);
    for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) y[o * inF + i] = Math.fround(scale.data[o * G + Math.floor(i / gs)]! * q[o * inF + i]!);
    return Tensor.f32([out, inF], y);
  }
}

/** The quantized layers of a folder: the names of its packed or scaled weights. */
function layersOf(ck: Checkpoint): string[] {
  const out = new Set<string>();
  for (const n of ck.names) {
    const m = /^(.*)\.(weight_packed|weight_scale)$/.exec(n);
    if (m) out.add(m[1]!);
  }
  return [...out];
}

/** A compressed-tensors folder: each layer's scheme from the config group that targets it. */
export function ctFolderWeights(dir: string, format: string, groupOf: (layer: string) => { group: CtGroupJson; key: string } | null, rest: (ck: Checkpoint) => WeightSource): WeightSource {
  const ck = Checkpoint.open(dir);
  const cache = new Map<string, { scheme: QuantScheme; field: string } | null>();
  const schemeOf = (layer: string) => {
    if (!cache.has(layer)) {
      const g = groupOf(layer);
      cache.set(layer, g && g.group.weights ? { scheme: ctSchemeOf(format, g.group, g.key), field: `quantization_config.config_groups.${g.key}.weights` } : null);
    }
    return cache.get(layer)!;
  };
  return new FpFolderWeights(ck, schemeOf, rest(ck), layersOf(ck));
}

/** An auto_round folder with floating-point layers (packing auto_round:llm_compressor, auto_round:fp8_static, FP8 auto_round). */
export function autoRoundFpWeights(dir: string, qc: Readonly<Record<string, unknown>>, rest: (ck: Checkpoint) => WeightSource): WeightSource {
  const ck = Checkpoint.open(dir);
  const schemeOf = (layer: string) => {
    const scheme = configLayerScheme(qc, layer);
    const e = (qc.extra_config as Record<string, unknown> | undefined)?.[layer];
    return scheme.bits < 16 ? { scheme, field: e ? `quantization_config.extra_config[${JSON.stringify(layer)}]` : 'quantization_config.data_type' } : null;
  };
  return new FpFolderWeights(ck, schemeOf, rest(ck), layersOf(ck));
}
