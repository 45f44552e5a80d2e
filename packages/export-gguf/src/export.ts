// Planning (names, types, metadata) and writing a GGUF file from Hugging Face float weights.

import { renameSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { AutoRoundError, Checkpoint, DTYPE_BYTES, type Tensor, bytesOf, numelOf, toFloat32Into, viewBytes } from '@autoround/core-tensor';
import type { HFConfig, Logger } from '@autoround/core';
import { readConfig, silentLogger } from '@autoround/core';
import { GGMLType, type PendingRows, QuantPool, ggmlTypeName, rowBytes } from '@autoround/quant-types';
import { fallback, fileTypeByName, fileTypeNames, isQuantizable, TensorTypeSelector, type FileType } from './ftype.js';
import { GgufMetadata } from './gguf/metadata.js';
import { GgufWriter } from './gguf/writer.js';
import { checkMoeConfig, GGML_QNT_VERSION, llama3RopeFactors, longRopeFactors, modelDims, nExpertOf, writeArchMetadata } from './hparams.js';
import { compareGgufOrder, ggufArchOf, ggufExpertOf, ggufTensorName, ggufTextConfig, ggufValueOffset, permuteHeadsFor, reversePermuteRowBytes, reversePermuteRows, reversePermuteSourceRows, type GgufArch } from './tensor-map.js';
import { writeTokenizerMetadata } from './tokenizer.js';

/**
 * Importance vectors: one non-negative weight per input column, keyed by GGUF or HF tensor name; a merged expert
 * tensor's by each expert's HF name, or by its GGUF name with n_expert vectors one after the other (llama.cpp's).
 */
export type Imatrix = ReadonlyMap<string, Float32Array>;

export interface PlannedTensor {
  /** GGUF name. */
  readonly name: string;
  /** Source tensor in the checkpoint, or null for tensors the exporter generates. */
  readonly hfName: string | null;
  /** Source shape (outermost first) and GGUF dims (innermost first). */
  readonly shape: readonly number[];
  readonly ne: readonly number[];
  readonly type: GGMLType;
  /** Head count for the LLaMA Q/K reverse permutation, or null. */
  readonly permuteHeads: number | null;
  /** Added to every value before it is stored (Gemma's norms: w + 1), absent for none. */
  readonly valueOffset?: number;
  readonly fallback?: string;
  /** Set when the type comes from `overrides` (the layer selection) rather than the mix. */
  readonly overridden?: true;
  /** Data of generated tensors (rope_freqs.weight). */
  readonly data?: Float32Array;
  /**
   * A merged expert tensor (blk.N.ffn_*_exps.weight, hfName null): the HF names of the experts it stacks, in
   * expert order; each is one [out, in] slice of `shape` = [n_expert, out, in].
   */
  readonly parts?: readonly string[];
}

export interface GgufPlan {
  readonly arch: GgufArch;
  readonly fileType: FileType;
  readonly modelName: string;
  readonly metadata: GgufMetadata;
  /** In file order (llama-quantize's order). */
  readonly tensors: readonly PlannedTensor[];
}

export interface PlanOptions {
  readonly config: HFConfig;
  /** The folder with tokenizer.json / tokenizer_config.json. */
  readonly modelDir: string;
  /** Every source tensor: HF name and shape. */
  readonly sourceTensors: readonly { name: string; shape: readonly number[] }[];
  readonly fileType: FileType | string;
  readonly hasImatrix?: boolean;
  /** Types that replace the mix's choice, by HF tensor name (see ggufLayerOverrides). */
  readonly overrides?: ReadonlyMap<string, GGMLType>;
  readonly modelName?: string;
  readonly log?: Logger;
}

/** Resolves a file type name, or throws an error listing the known ones. */
export function resolveFileType(ft: FileType | string, subject = '--format'): FileType {
  if (typeof ft !== 'string') return ft;
  const t = fileTypeByName(ft);
  if (!t) throw new AutoRoundError('E_FORMAT', `unknown GGUF file type "${ft}" (known: ${fileTypeNames().join(', ')})`, { subject });
  return t;
}

/** The model's name for general.name and the output file name. */
export function modelNameOf(config: HFConfig, modelDir: string): string {
  const n = typeof config._name_or_path === 'string' && config._name_or_path ? basename(config._name_or_path) : basename(resolve(modelDir));
  return n.replace(/[^A-Za-z0-9._-]+/g, '-') || 'model';
}

export interface TensorPlanOptions {
  readonly config: HFConfig;
  /** Every source tensor: HF name and shape. */
  readonly sourceTensors: readonly { name: string; shape: readonly number[] }[];
  readonly fileType: FileType | string;
  readonly hasImatrix?: boolean;
  /**
   * Types that replace the mix's choice, by HF tensor name (see ggufLayerOverrides); quantized ones
   * still take the row-size fallback. The mix's attn_v / ffn_down counters advance over overridden
   * tensors too, as in llama-quantize with --tensor-type, so the other layers keep their types.
   */
  readonly overrides?: ReadonlyMap<string, GGMLType>;
  /** The config.json path, for error messages. */
  readonly source?: string;
  readonly log?: Logger;
}

/**
 * Every tensor's GGUF name, dims and type (llama-quantize's mix and fallbacks), in file order.
 * planGguf and the algorithms that quantize layers to GGUF types both use this, so they agree.
 */
export function planTensors(o: TensorPlanOptions): { arch: GgufArch; tensors: PlannedTensor[] } {
  const log = o.log ?? silentLogger;
  const fileType = resolveFileType(o.fileType);
  const config = ggufTextConfig(o.config);
  const source = o.source ?? 'config.json';
  const arch = ggufArchOf(config, source);
  const dims = modelDims(config, source);

  interface Pending {
    name: string;
    hfName: string | null;
    shape: readonly number[];
    permuteHeads: number | null;
    data?: Float32Array;
    parts?: readonly string[];
  }
  const pending: Pending[] = [];
  const seen = new Map<string, string>();
  const nExpert = nExpertOf(config);
  if (nExpert > 0) checkMoeConfig(arch, config, source);
  // experts: one merged tensor per layer and projection (docs/models/moe.md#gguf)
  const merged = new Map<string, { parts: (string | undefined)[]; shape: readonly number[] }>();
  for (const t of o.sourceTensors) {
    const ex = ggufExpertOf(t.name);
    if (ex) {
      if (ex.expert >= nExpert) throw new AutoRoundError('E_GGUF_TENSOR', `tensor "${t.name}": expert ${ex.expert}, the config has ${nExpert} experts`, { subject: t.name });
      let g = merged.get(ex.name);
      if (!g) merged.set(ex.name, (g = { parts: new Array<string | undefined>(nExpert), shape: t.shape }));
      if (g.parts[ex.expert]) throw new AutoRoundError('E_GGUF_TENSOR', `tensors "${g.parts[ex.expert]}" and "${t.name}" both map to expert ${ex.expert} of GGUF "${ex.name}"`, { subject: t.name });
      if (t.shape.length !== 2 || t.shape.some((d, i) => d !== g.shape[i])) {
        throw new AutoRoundError('E_SHAPE', `tensor "${t.name}": shape [${t.shape.join(', ')}], the other experts of "${ex.name}" have [${g.shape.join(', ')}]`, { subject: t.name });
      }
      g.parts[ex.expert] = t.name;
      continue;
    }
    const name = ggufTensorName(t.name, arch);
    if (name === null) continue;
    const prev = seen.get(name);
    if (prev) throw new AutoRoundError('E_GGUF_TENSOR', `tensors "${prev}" and "${t.name}" both map to GGUF "${name}"`, { subject: t.name });
    seen.set(name, t.name);
    pending.push({ name, hfName: t.name, shape: t.shape, permuteHeads: permuteHeadsFor(t.name, arch, config) });
  }
  for (const [name, g] of merged) {
    const miss = [...g.parts.keys()].filter((e) => !g.parts[e]);
    if (miss.length > 0) throw new AutoRoundError('E_GGUF_TENSOR', `${source}: GGUF "${name}" stacks ${nExpert} experts, the checkpoint lacks expert${miss.length > 1 ? 's' : ''} ${miss.join(', ')}`, { subject: name });
    pending.push({ name, hfName: null, shape: [nExpert, ...g.shape], permuteHeads: null, parts: g.parts as string[] });
  }
  const ropeFreqs = arch === 'llama' ? llama3RopeFactors(config) : null;
  if (ropeFreqs) pending.push({ name: 'rope_freqs.weight', hfName: null, shape: [ropeFreqs.length], permuteHeads: null, data: ropeFreqs });
  // Phi-3's LongRoPE: both factor sets as tensors (llama.cpp picks one by the context size)
  if (arch === 'phi3') for (const [name, data] of longRopeFactors(config, source)) pending.push({ name, hfName: null, shape: [data.length], permuteHeads: null, data });
  pending.sort((a, b) => compareGgufOrder(a.name, b.name));

  const hasOutput = pending.some((p) => p.name === 'output.weight');
  const selector = new TensorTypeSelector(fileType, { arch, nLayer: dims.nLayer, nHead: dims.nHead, nHeadKv: dims.nHeadKv, hasOutput, hasImatrix: o.hasImatrix ?? false, nExpert });
  const tensors: PlannedTensor[] = pending.map((p) => {
    // Qwen2-MoE's shared-expert gate [1, hidden] is llama.cpp's 1-D ffn_gate_inp_shexp {n_embd}
    const ne = p.name.endsWith('.ffn_gate_inp_shexp.weight') && p.shape.length === 2 && p.shape[0] === 1 ? [p.shape[1]!] : [...p.shape].reverse();
    let choice = selector.choose(p.name, ne);
    const forced = isQuantizable(p.name, ne) ? overrideOf(p, o.overrides) : undefined;
    if (forced !== undefined) choice = isQuantizedType(forced) ? fallback(forced, ne[0]!) : { type: forced };
    if (choice.fallback) log.warn(`${p.name}: ${choice.fallback}`);
    return {
      name: p.name,
      hfName: p.hfName,
      shape: p.shape,
      ne,
      type: choice.type,
      permuteHeads: p.permuteHeads,
      ...(p.hfName !== null && ggufValueOffset(p.hfName, arch) !== 0 ? { valueOffset: ggufValueOffset(p.hfName, arch) } : {}),
      fallback: choice.fallback,
      ...(forced !== undefined ? { overridden: true as const } : {}),
      data: p.data,
      ...(p.parts ? { parts: p.parts } : {}),
    };
  });
  return { arch, tensors };
}

/**
 * The layer selection's type of a tensor: a merged expert tensor has one type, so its experts must agree (all
 * overridden alike, or none).
 */
function overrideOf(p: { name: string; hfName: string | null; parts?: readonly string[] }, overrides: ReadonlyMap<string, GGMLType> | undefined): GGMLType | undefined {
  if (!overrides) return undefined;
  if (!p.parts) return p.hfName !== null ? overrides.get(p.hfName) : undefined;
  const ts = p.parts.map((n) => overrides.get(n));
  if (ts.every((t) => t === ts[0])) return ts[0];
  const i = ts.findIndex((t) => t !== ts[0]);
  throw new AutoRoundError('E_GGUF_TENSOR', `GGUF "${p.name}" stacks the experts in one tensor of one type, the layer selection types "${p.parts[0]}" ${ts[0] === undefined ? 'by the mix' : ggmlTypeName(ts[0])} and "${p.parts[i]}" ${ts[i] === undefined ? 'by the mix' : ggmlTypeName(ts[i]!)}`, { subject: p.parts[i]! });
}

/** Decides every tensor's GGUF name, dims and type, and the file's metadata. */
export function planGguf(o: PlanOptions): GgufPlan {
  const log = o.log ?? silentLogger;
  const fileType = resolveFileType(o.fileType);
  const config = ggufTextConfig(o.config);
  const { arch, tensors } = planTensors({
    config,
    sourceTensors: o.sourceTensors,
    fileType,
    hasImatrix: o.hasImatrix ?? false,
    ...(o.overrides ? { overrides: o.overrides } : {}),
    source: join(o.modelDir, 'config.json'),
    log,
  });
  const embd = tensors.find((p) => p.name === 'token_embd.weight');
  if (!embd) throw new AutoRoundError('E_GGUF_TENSOR', `${o.modelDir}: the checkpoint has no model.embed_tokens.weight`, { subject: o.modelDir });
  if (fileType.name === 'Q2_K_S' && !o.hasImatrix) {
    log.warn('Q2_K_S without an importance matrix: llama-quantize refuses this; the reference Q2_K quantizer is used');
  }

  const modelName = o.modelName ?? modelNameOf(config, o.modelDir);
  const md = new GgufMetadata();
  md.str('general.architecture', arch);
  md.str('general.name', modelName);
  md.u32('general.file_type', fileType.ftype);
  md.u32('general.quantization_version', GGML_QNT_VERSION);
  md.str('general.quantized_by', 'AutoRound (TypeScript)');
  const nVocab = embd.shape[0]!;
  writeArchMetadata(md, arch, config, nVocab, join(o.modelDir, 'config.json'));
  writeTokenizerMetadata(md, o.modelDir, arch, config, nVocab);
  return { arch, fileType, modelName, metadata: md, tensors };
}

function isQuantizedType(t: number): boolean {
  return t !== GGMLType.F32 && t !== GGMLType.F16 && t !== GGMLType.BF16;
}

function checkedImportance(t: PlannedTensor, v: Float32Array, key: string = t.hfName ?? t.name): Float32Array {
  if (v.length !== t.ne[0]) {
    throw new AutoRoundError('E_IMATRIX', `importance vector for "${key}" has ${v.length} entries, the tensor has ${t.ne[0]} columns`, { subject: key });
  }
  return v;
}

/**
 * Elements per piece a tensor is widened, quantized and written in (whole rows; one row where a row is longer).
 * A piece's float32 rows sit in one of two reused buffers of the sink (4 MiB each) and its quantized bytes are
 * written as soon as they are done, so no tensor, however big (a 151,936 × 896 embedding: 519 MiB in float32), is
 * ever held whole in float32 or quantized (docs/perf/whole-model.md#gguf-peak). 2^20 elements are 16 of the native
 * quantizers' 64 Ki-element tasks, enough to keep their threads busy; the per-piece start and join cost
 * microseconds.
 */
export const PIECE_ELEMENTS = 1 << 20;

/**
 * Fills `out` ((r1 − r0) rows, float32) with the source rows [r0, r1) of a tensor in the Hugging Face order, a row
 * being its innermost dimension (GGML's rows; a 1-D tensor is one row): a source that widens rows piece by piece
 * (from memory or from the file) so that the sink never needs the tensor whole in float32.
 */
export type RowReader = (r0: number, r1: number, out: Float32Array) => void;

/** A RowReader over a tensor in memory (any float dtype): each piece's rows widened into the sink's buffer. */
export function tensorRows(t: Tensor): RowReader {
  const per = t.shape.length > 0 ? t.shape[t.shape.length - 1]! : 1;
  return (r0, r1, out) => {
    toFloat32Into(t.dtype, t.data.subarray(r0 * per, r1 * per), out);
  };
}

/** Two buffers used in turn, each grown to the largest request and never freed (the sink's pieces in flight). */
class BufferPair<T extends Float32Array | Uint8Array> {
  private readonly buffers: T[];
  private turn = 0;
  constructor(private readonly make: (n: number) => T) {
    this.buffers = [make(0), make(0)];
  }

  /** The next buffer, its first `n` elements (the other one may still be in use). */
  next(n: number): T {
    const k = this.turn++ & 1;
    if (this.buffers[k]!.length < n) this.buffers[k] = this.make(n);
    return this.buffers[k]!.subarray(0, n) as T;
  }
}

/**
 * Receives source tensors in any order and writes each one's GGUF data at its place in the file.
 * Memory: two float32 pieces of PIECE_ELEMENTS and two pieces' quantized bytes (plus what the caller holds: the
 * tensor it put, or nothing where it hands a RowReader over the file); an expert being converted, and the merged
 * expert tensor being filled.
 */
export class GgufTensorSink {
  readonly writer: GgufWriter;
  private readonly byHf = new Map<string, PlannedTensor>();
  private readonly done = new Set<string>();
  /** An expert's index in its merged tensor, by HF name. */
  private readonly expertOf = new Map<string, number>();
  /** Merged expert tensors being filled: their bytes and which experts arrived. */
  private readonly filling = new Map<string, { bytes: Uint8Array; got: boolean[]; left: number }>();
  private readonly pool: QuantPool;
  /**
   * The piece being quantized (on native threads) while the caller goes on: it is written by the next
   * put/putQuantized/finish, which first starts their own quantization. So the file is written in the
   * same order as before, tensor i's bytes go out while tensor i+1 is quantized, and the caller reads
   * tensor i+1 while tensor i is (docs/perf/gguf-export.md#overlap).
   */
  private pending: { name: string; whole: boolean; rows: PendingRows } | null = null;
  /**
   * The float32 piece buffers: the piece in flight is quantized from one while the next is widened into the other
   * (the one before it has been written by then).
   */
  private readonly pieces = new BufferPair((n) => new Float32Array(n));
  /**
   * The buffers the native quantizers write a piece's bytes into (the piece in flight fills one while the other's
   * bytes are written out): a fresh buffer per piece would only be freed at the garbage collector's leisure, and a
   * big tensor's pieces would pile up to its whole quantized size in RSS first.
   */
  private readonly outputs = new BufferPair((n) => new Uint8Array(n));

  constructor(
    readonly plan: GgufPlan,
    readonly path: string,
    private readonly imatrix: Imatrix | undefined,
    private readonly log: Logger = silentLogger,
    /** Threads for quantization (the calling one included); default AUTOROUND_THREADS or all cores. */
    threads?: number,
    /**
     * Let put() of a float32 array return while its last piece is still being quantized from that array (written by
     * the next call): only for callers that never change an array after handing it to put(). Pieces widened into
     * the sink's own buffers (putTensor of bf16/f16, putRows, Q/K rows, offset norms) always overlap.
     */
    private readonly overlap = false,
  ) {
    this.writer = new GgufWriter(path, plan.metadata, plan.tensors);
    for (const t of plan.tensors) {
      if (t.hfName) this.byHf.set(t.hfName, t);
      t.parts?.forEach((n, e) => {
        this.byHf.set(n, t);
        this.expertOf.set(n, e);
      });
    }
    this.pool = new QuantPool(threads);
  }

  /** Whether `hfName` is a tensor this file still needs. */
  wants(hfName: string): boolean {
    const t = this.byHf.get(hfName);
    return t !== undefined && !this.done.has(t.name) && !(this.filling.get(t.name)?.got[this.expertOf.get(hfName) ?? -1] ?? false);
  }

  /** Source tensors not delivered yet. */
  missing(): PlannedTensor[] {
    return this.plan.tensors.filter((t) => !this.done.has(t.name));
  }

  /** The planned tensor of a HF name, or undefined when the file does not hold it. */
  planned(hfName: string): PlannedTensor | undefined {
    return this.byHf.get(hfName);
  }

  private plannedOrThrow(hfName: string, shape: readonly number[]): PlannedTensor {
    const t = this.byHf.get(hfName);
    if (!t) throw new AutoRoundError('E_GGUF_TENSOR', `${this.path}: tensor "${hfName}" is not part of this GGUF file`, { subject: hfName });
    const want = t.parts ? t.shape.slice(1) : t.shape;
    if (shape.length !== want.length || shape.some((d, i) => d !== want[i])) {
      throw new AutoRoundError('E_SHAPE', `tensor "${hfName}": got shape [${shape.join(', ')}], the checkpoint says [${want.join(', ')}]`, { subject: hfName });
    }
    return t;
  }

  /**
   * Places one expert's bytes (`rows` rows of its type) in its merged tensor; the tensor is written once every
   * expert arrived. Each expert's rows are quantized on their own, so the merged bytes are the experts' bytes stacked.
   */
  private putExpert(t: PlannedTensor, hfName: string, bytes: Uint8Array): void {
    const e = this.expertOf.get(hfName)!;
    const n = t.parts!.length;
    const each = rowBytes(t.type, t.ne[0]!) * t.shape[1]!;
    let f = this.filling.get(t.name);
    if (!f) this.filling.set(t.name, (f = { bytes: new Uint8Array(each * n), got: new Array<boolean>(n).fill(false), left: n }));
    if (f.got[e]) throw new AutoRoundError('E_DUPLICATE', `${this.path}: expert "${hfName}" of tensor "${t.name}" written twice`, { subject: hfName });
    if (bytes.length !== each) throw new AutoRoundError('E_GGUF_TENSOR', `tensor "${hfName}": ${bytes.length} bytes of ${ggmlTypeName(t.type)}, expected ${each}`, { subject: hfName });
    f.bytes.set(bytes, e * each);
    f.got[e] = true;
    if (--f.left === 0) {
      this.flush();
      this.writer.writeTensor(t.name, f.bytes);
      this.filling.delete(t.name);
      this.done.add(t.name);
      this.log.debug(`${t.name}: ${ggmlTypeName(t.type)} [${t.ne.join(', ')}] ${f.bytes.length} bytes (${n} experts)`);
    }
  }

  /**
   * Converts and writes one source tensor (float32, HF layout). `imatrix` (one weight per input
   * column) overrides the sink's importance map for this tensor.
   */
  put(hfName: string, data: Float32Array, shape: readonly number[], imatrix?: Float32Array | null): void {
    const t = this.plannedOrThrow(hfName, shape);
    if (data.length !== numelOf(shape)) throw new AutoRoundError('E_SHAPE', `tensor "${hfName}": ${data.length} values for shape [${shape.join(', ')}]`, { subject: hfName });
    if (!t.parts) {
      this.putPlanned(t, { f32: data }, imatrix);
      return;
    }
    if (this.done.has(t.name)) throw new AutoRoundError('E_DUPLICATE', `${this.path}: tensor "${t.name}" written twice`, { subject: t.name });
    const ne0 = t.ne[0]!;
    const qw = imatrix !== undefined && imatrix !== null && isQuantizedType(t.type) ? checkedImportance(t, imatrix, hfName) : this.importance(t, hfName);
    // the piece in flight first: its source may be the read buffer the caller fills next (exportGguf's two
    // buffers), and an expert is quantized here, synchronously, on the same native threads
    this.flush();
    this.putExpert(t, hfName, this.pool.quantizeRows(t.type, data, ne0, qw));
  }

  /**
   * put() for a tensor of any float dtype (bf16, f16, f32 …): its rows are widened to float32 a piece at a time
   * into the sink's buffers, never as a whole float32 copy. `t` may change once putTensor returns (a float32 `t`
   * is put() as it is: with `overlap`, not before the next call).
   */
  putTensor(hfName: string, t: Tensor, imatrix?: Float32Array | null): void {
    if (t.dtype === 'F32') {
      this.put(hfName, t.data as Float32Array, t.shape, imatrix);
      return;
    }
    const p = this.plannedOrThrow(hfName, t.shape);
    // an expert is one [out, in] slice of its merged tensor, quantized whole (it is layer-sized)
    if (p.parts) this.put(hfName, t.toFloat32().data, t.shape, imatrix);
    else this.putPlanned(p, { read: tensorRows(t) }, imatrix);
  }

  /**
   * put() from a RowReader (e.g. rows read from the checkpoint file as they are needed, exportGguf): only one
   * piece of the tensor exists in float32 at a time. Not for the experts of a merged tensor (put or putTensor).
   */
  putRows(hfName: string, shape: readonly number[], read: RowReader, imatrix?: Float32Array | null): void {
    const t = this.plannedOrThrow(hfName, shape);
    if (t.parts) throw new AutoRoundError('E_GGUF_TENSOR', `tensor "${hfName}" is an expert of the merged "${t.name}": hand it whole (put or putTensor)`, { subject: hfName });
    this.putPlanned(t, { read }, imatrix);
  }

  /**
   * Writes a tensor an algorithm already quantized to the planned type: `bytes` are its rows in
   * the Hugging Face order (the Q/K permutation is applied here, to whole rows).
   */
  putQuantized(hfName: string, type: number, bytes: Uint8Array, shape: readonly number[]): void {
    const t = this.plannedOrThrow(hfName, shape);
    if (this.done.has(t.name)) throw new AutoRoundError('E_DUPLICATE', `${this.path}: tensor "${t.name}" written twice`, { subject: t.name });
    if (type !== t.type) {
      throw new AutoRoundError('E_GGUF_TENSOR', `tensor "${hfName}" was quantized to ${ggmlTypeName(type)}, the file stores it as ${ggmlTypeName(t.type)}`, { subject: hfName });
    }
    const ne0 = t.ne[0]!;
    if (t.parts) {
      this.putExpert(t, hfName, bytes);
      return;
    }
    const rows = t.shape.length > 1 ? t.shape[0]! : 1;
    const rb = rowBytes(t.type, ne0);
    if (bytes.length !== rb * rows) {
      throw new AutoRoundError('E_GGUF_TENSOR', `tensor "${hfName}": ${bytes.length} bytes of ${ggmlTypeName(type)}, expected ${rb * rows}`, { subject: hfName });
    }
    if (t.valueOffset !== undefined) throw new AutoRoundError('E_GGUF_TENSOR', `tensor "${hfName}" is stored as w + ${t.valueOffset} and cannot take quantized bytes`, { subject: hfName });
    const data = t.permuteHeads !== null ? reversePermuteRowBytes(bytes, rows, rb, t.permuteHeads, hfName) : bytes;
    this.flush();
    this.writer.writeTensor(t.name, data);
    this.done.add(t.name);
    this.log.debug(`${t.name}: ${ggmlTypeName(t.type)} [${t.ne.join(', ')}] ${data.length} bytes (from the algorithm)`);
  }

  /**
   * Quantizes and writes a tensor piece by piece: each piece's rows are widened (Q/K rows gathered in the GGUF
   * order, Gemma's norms offset) into one of the two piece buffers, or, for float32 rows in memory that need
   * neither, quantized where they are. Piece i+1 is started before piece i is written.
   */
  private putPlanned(t: PlannedTensor, src: { f32: Float32Array } | { read: RowReader }, imatrix?: Float32Array | null): void {
    if (this.done.has(t.name)) throw new AutoRoundError('E_DUPLICATE', `${this.path}: tensor "${t.name}" written twice`, { subject: t.name });
    const ne0 = t.ne[0]!;
    const rows = numelOf(t.shape) / ne0;
    const subject = t.hfName ?? t.name;
    const heads = t.permuteHeads;
    // the Q/K permutation moves whole rows of a weight (gathered per piece), the elements of a bias (one row)
    const perm = heads !== null && t.shape.length === 2 ? reversePermuteSourceRows(rows, heads, subject) : null;
    const off = t.valueOffset;
    const direct = 'f32' in src && heads === null && off === undefined ? src.f32 : null;
    const read: RowReader = 'read' in src ? src.read : (r0, r1, out) => out.set(src.f32.subarray(r0 * ne0, r1 * ne0));
    const qw = imatrix !== undefined && imatrix !== null && isQuantizedType(t.type) ? checkedImportance(t, imatrix) : this.importance(t);
    const piece = Math.max(1, Math.floor(PIECE_ELEMENTS / ne0));
    const whole = rows <= piece;
    const rb = rowBytes(t.type, ne0);
    for (let r = 0; r < rows; r += piece) {
      const r1 = Math.min(rows, r + piece);
      let x: Float32Array;
      if (direct) x = whole ? direct : direct.subarray(r * ne0, r1 * ne0);
      else {
        x = this.pieces.next((r1 - r) * ne0);
        if (perm === null) read(r, r1, x);
        else {
          // gather: runs of consecutive source rows read at once (the permutation interleaves two halves of each head)
          for (let o = r; o < r1; ) {
            const s0 = perm(o);
            let n = 1;
            while (o + n < r1 && perm(o + n) === s0 + n) n++;
            read(s0, s0 + n, x.subarray((o - r) * ne0, (o - r + n) * ne0));
            o += n;
          }
        }
        if (heads !== null && perm === null) x.set(reversePermuteRows(x, x.length, 1, heads, subject));
        if (off !== undefined) for (let i = 0; i < x.length; i++) x[i] = x[i]! + off;
      }
      const job = this.pool.startRows(t.type, x, ne0, qw, this.outputs.next((r1 - r) * rb));
      this.flush();
      this.pending = { name: t.name, whole, rows: job };
    }
    // a piece quantized from the caller's array must be done before put returns, unless the caller allowed otherwise
    if (direct && !this.overlap) this.flush();
    this.done.add(t.name);
    this.log.debug(`${t.name}: ${ggmlTypeName(t.type)} [${t.ne.join(', ')}] ${rb * rows} bytes`);
  }

  /** Writes the piece still being quantized, if any (waiting for it). */
  private flush(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    let bytes: Uint8Array;
    try {
      bytes = p.rows.wait();
    } catch (e) {
      throw new AutoRoundError('E_GGUF_TENSOR', `tensor "${p.name}": quantization failed: ${(e as Error).message}`, { subject: p.name, cause: e });
    }
    if (p.whole) this.writer.writeTensor(p.name, bytes);
    else this.writer.writeTensorPart(p.name, bytes);
  }

  /** The importance vector of a tensor (of one expert of a merged tensor: by the expert's HF name, `hf`). */
  private importance(t: PlannedTensor, hf: string | null = t.hfName): Float32Array | null {
    if (!this.imatrix || !isQuantizedType(t.type)) return null;
    if (t.parts && hf) {
      for (const k of [hf, hf.replace(/\.weight$/, '')]) {
        const v = this.imatrix.get(k);
        if (v) return checkedImportance(t, v, k);
      }
      // by the merged tensor's GGUF name, as llama.cpp's imatrix stores it: n_expert vectors one after the other
      const v = this.imatrix.get(t.name);
      if (!v) return null;
      const ne0 = t.ne[0]!;
      if (v.length !== ne0 * t.parts.length) throw new AutoRoundError('E_IMATRIX', `importance vector for "${t.name}" has ${v.length} entries, its ${t.parts.length} experts × ${ne0} columns need ${ne0 * t.parts.length}`, { subject: t.name });
      const e = this.expertOf.get(hf)!;
      return v.subarray(e * ne0, (e + 1) * ne0);
    }
    const keys = [t.name, hf, hf?.replace(/\.weight$/, '')].filter((k): k is string => !!k);
    for (const k of keys) {
      const v = this.imatrix.get(k);
      if (v) return checkedImportance(t, v, k);
    }
    return null;
  }

  /**
   * Writes the generated tensors (rope_freqs) and the ones `read` supplies (any float dtype, widened a piece at a
   * time), then closes the file.
   */
  finish(read: (hfName: string) => Tensor): void {
    try {
      for (const t of this.missing()) {
        if (t.data) this.putPlanned(t, { f32: t.data });
        else if (t.parts) {
          for (const n of t.parts) if (this.wants(n)) this.putTensor(n, read(n));
        } else this.putTensor(t.hfName!, read(t.hfName!));
      }
      this.flush();
      this.writer.close();
    } catch (e) {
      this.abort();
      throw e;
    } finally {
      this.pool.close();
    }
  }

  abort(): void {
    // let a running native quantization finish before the file goes (its error, if any, is moot now)
    try {
      this.pending?.rows.wait();
    } catch {
      // the abort's cause is reported by the caller
    }
    this.pending = null;
    this.pool.close();
    this.writer.abort();
  }
}

export interface ExportGgufOptions {
  /** A Hugging Face model folder (config.json, safetensors, tokenizer.json). */
  readonly modelDir: string;
  readonly outFile: string;
  /** "Q4_K_M", "q8_0", "F16", … */
  readonly fileType: string;
  readonly imatrix?: Imatrix;
  readonly modelName?: string;
  readonly log?: Logger;
  /** Quantization threads, the calling one included (default AUTOROUND_THREADS or all cores). */
  readonly threads?: number;
}

export interface ExportGgufResult {
  readonly outFile: string;
  readonly fileType: string;
  readonly bytes: number;
  readonly tensors: readonly { name: string; type: string; ne: readonly number[]; fallback?: string }[];
  readonly seconds: number;
}

/**
 * Converts a Hugging Face checkpoint to one GGUF file without the host: reads the tensors one at a
 * time, quantizes them with llama.cpp's reference quantizers, writes `outFile` (via a .partial
 * file renamed at the end).
 */
export async function exportGguf(o: ExportGgufOptions): Promise<ExportGgufResult> {
  const t0 = performance.now();
  const log = o.log ?? silentLogger;
  const config = readConfig(o.modelDir);
  const ck = Checkpoint.open(o.modelDir);
  try {
    const plan = planGguf({
      config,
      modelDir: o.modelDir,
      sourceTensors: ck.names.map((n) => ({ name: n, shape: ck.info(n).shape })),
      fileType: o.fileType,
      hasImatrix: !!o.imatrix,
      modelName: o.modelName,
      log,
    });
    const partial = `${o.outFile}.partial`;
    const sink = new GgufTensorSink(plan, partial, o.imatrix, log, o.threads, true);
    // stream in file order, releasing each shard once its last tensor is read
    const lastUse = new Map<string, string>();
    const sources = plan.tensors.flatMap((t) => (t.hfName ? [t.hfName] : (t.parts ?? [])));
    for (const n of sources) lastUse.set(ck.shardOf(n), n);
    // each tensor is read from the file a piece of rows at a time, straight into the sink's piece buffer (float32)
    // or into one reused byte buffer widened from there (bf16, f16): no tensor is ever in memory whole, and
    // reading piece i+1 overlaps quantizing piece i (docs/perf/whole-model.md#gguf-peak). An expert is read whole
    // (one [out, in] slice of its merged tensor).
    let raw = new Uint8Array(0);
    const fileRows = (n: string): RowReader => {
      const dtype = ck.info(n).dtype;
      return (r0, r1, out) => {
        if (dtype === 'F32') {
          ck.readRowBytes(n, r0, r1, bytesOf(out));
          return;
        }
        const need = out.length * DTYPE_BYTES[dtype];
        if (raw.byteLength < need) raw = new Uint8Array(need);
        toFloat32Into(dtype, viewBytes(dtype, ck.readRowBytes(n, r0, r1, raw)), out);
      };
    };
    try {
      for (const n of sources) {
        if (sink.planned(n)?.parts) sink.putTensor(n, ck.read(n));
        else sink.putRows(n, ck.info(n).shape, fileRows(n));
        const shard = ck.shardOf(n);
        if (lastUse.get(shard) === n) ck.release(shard);
      }
      sink.finish((n) => ck.read(n));
    } catch (e) {
      sink.abort();
      throw e;
    }
    rmSync(o.outFile, { force: true });
    renameSync(partial, o.outFile);
    log.info(`wrote ${o.outFile} (${plan.fileType.name}, ${plan.tensors.length} tensors, ${(sink.writer.fileSize / 1e6).toFixed(1)} MB)`);
    return {
      outFile: o.outFile,
      fileType: plan.fileType.name,
      bytes: sink.writer.fileSize,
      tensors: plan.tensors.map((t) => ({ name: t.name, type: ggmlTypeName(t.type), ne: t.ne, fallback: t.fallback })),
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    ck.close();
  }
}
