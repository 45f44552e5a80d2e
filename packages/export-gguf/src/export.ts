// Planning (names, types, metadata) and writing a GGUF file from Hugging Face float weights.

import { renameSync, rmSync } from 'node:fs';
import { endianness } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { AutoRoundError, Checkpoint } from '@autoround/core-tensor';
import type { HFConfig, Logger } from '@autoround/core';
import { readConfig, silentLogger } from '@autoround/core';
import { GGMLType, type PendingRows, QuantPool, ggmlTypeName, rowBytes } from '@autoround/quant-types';
import { fallback, fileTypeByName, fileTypeNames, isQuantizable, TensorTypeSelector, type FileType } from './ftype.js';
import { GgufMetadata } from './gguf/metadata.js';
import { GgufWriter } from './gguf/writer.js';
import { checkMoeConfig, GGML_QNT_VERSION, llama3RopeFactors, longRopeFactors, modelDims, nExpertOf, writeArchMetadata } from './hparams.js';
import { compareGgufOrder, ggufArchOf, ggufExpertOf, ggufTensorName, ggufTextConfig, ggufValueOffset, permuteHeadsFor, reversePermuteRowBytes, reversePermuteRows, type GgufArch } from './tensor-map.js';
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

/** Rows quantized per piece written, so a big tensor's quantized copy never sits in memory whole. */
const TARGET_PIECE_ELEMENTS = 1 << 22;

/**
 * Receives source tensors in any order and writes each one's GGUF data at its place in the file.
 * Memory: the tensor being converted.
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

  constructor(
    readonly plan: GgufPlan,
    readonly path: string,
    private readonly imatrix: Imatrix | undefined,
    private readonly log: Logger = silentLogger,
    /** Threads for quantization (the calling one included); default AUTOROUND_THREADS or all cores. */
    threads?: number,
    /**
     * Let put() return while its tensor is still being quantized (written by the next call): only for
     * callers that never change an array after handing it to put() (exportGguf reads each tensor afresh).
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
    if (!t.parts) {
      this.putPlanned(t, data, imatrix);
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

  private putPlanned(t: PlannedTensor, data: Float32Array, imatrix?: Float32Array | null): void {
    if (this.done.has(t.name)) throw new AutoRoundError('E_DUPLICATE', `${this.path}: tensor "${t.name}" written twice`, { subject: t.name });
    let x = data;
    const ne0 = t.ne[0]!;
    if (t.permuteHeads !== null) x = reversePermuteRows(x, t.shape[0]!, t.shape.length > 1 ? t.shape[1]! : 1, t.permuteHeads, t.hfName ?? t.name);
    if (t.valueOffset !== undefined) {
      const off = t.valueOffset;
      x = Float32Array.from(x, (v) => v + off);
    }
    const qw = imatrix !== undefined && imatrix !== null && isQuantizedType(t.type) ? checkedImportance(t, imatrix) : this.importance(t);
    const rows = x.length / ne0;
    const piece = Math.max(1, Math.floor(TARGET_PIECE_ELEMENTS / ne0));
    for (let r = 0; r < rows; r += piece) {
      const job = this.pool.startRows(t.type, rows <= piece ? x : x.subarray(r * ne0, Math.min(rows, r + piece) * ne0), ne0, qw);
      this.flush();
      this.pending = { name: t.name, whole: rows <= piece, rows: job };
      if (!this.overlap) this.flush();
    }
    this.done.add(t.name);
    this.log.debug(`${t.name}: ${ggmlTypeName(t.type)} [${t.ne.join(', ')}] ${rowBytes(t.type, ne0) * rows} bytes`);
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

  /** Writes the generated tensors (rope_freqs) and the ones `read` supplies, then closes the file. */
  finish(read: (hfName: string) => { data: Float32Array; shape: readonly number[] }): void {
    try {
      for (const t of this.missing()) {
        if (t.data) this.putPlanned(t, t.data);
        else if (t.parts) {
          for (const n of t.parts) {
            if (!this.wants(n)) continue;
            const s = read(n);
            this.put(n, s.data, s.shape);
          }
        } else {
          const s = read(t.hfName!);
          this.put(t.hfName!, s.data, s.shape);
        }
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
    // float32 tensors are read into two buffers used in turn, not a fresh one each: allocating and
    // faulting in a new buffer per tensor was most of the reading's CPU time (docs/perf/gguf-export.md).
    // Two, because the sink may still be quantizing the previous tensor from the other one; it has
    // finished with it once put() returns (the sink keeps one piece in flight).
    const f32 = (n: string) => ck.info(n).dtype === 'F32' && endianness() === 'LE';
    const arenaBytes = Math.max(0, ...sources.filter(f32).map((n) => ck.info(n).end - ck.info(n).begin));
    const arenas = arenaBytes > 0 ? [new Uint8Array(arenaBytes), new Uint8Array(arenaBytes)] : [];
    let turn = 0;
    const read = (n: string): { data: Float32Array; shape: readonly number[] } => {
      if (!f32(n)) return ck.readFloat32(n);
      const b = ck.readBytes(n, arenas[turn++ & 1]);
      return { data: new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4), shape: ck.info(n).shape };
    };
    try {
      for (const n of sources) {
        const tensor = read(n);
        sink.put(n, tensor.data, tensor.shape);
        const shard = ck.shardOf(n);
        if (lastUse.get(shard) === n) ck.release(shard);
      }
      sink.finish((n) => {
        const r = ck.readFloat32(n);
        return { data: r.data, shape: r.shape };
      });
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
