import type { Checkpoint, Tensor } from '@autoround/core-tensor';
import type { KernelBackend, KernelBackendFactory } from '@autoround/core-tensor';
import type { Logger } from './log.js';
import type { HFConfig, ModelSpec } from './model-spec.js';
import type { QuantizedWeight } from './quantized.js';
import type { CheckpointValue } from './resume-file.js';
import type { QuantScheme } from './scheme.js';

/** Where a model's float32 weights come from: a checkpoint, or a checkpoint with some weights replaced. */
export interface WeightSource {
  has(name: string): boolean;
  readFloat32(name: string): Tensor<'F32'>;
  /**
   * When true, a present lm_head.weight is the output matrix even if the config ties the
   * embeddings: llama.cpp uses a GGUF file's output.weight whenever the file has one (a Hugging
   * Face model with tied embeddings uses embed_tokens, whatever else the checkpoint holds).
   */
  readonly separateOutput?: boolean;
}

/** A loaded causal LM that can run a float32 forward pass. */
export interface CausalLM {
  readonly spec: ModelSpec;
  /** Logits [ids.length, vocab] for one sequence (position 0 first). */
  forward(ids: Int32Array): Float32Array;
}

/** Called with the input of each linear layer during a block forward (for importance matrices). */
export type LinearInputHook = (linear: string, x: Float32Array, rows: number, inFeatures: number) => void;

export interface BlockForwardOptions {
  /** Replacement weights for this call, keyed by linear name within the block ("mlp.down_proj"). */
  weights?: ReadonlyMap<string, Float32Array>;
  onLinearInput?: LinearInputHook;
}

/** A causal LM that can also be run block by block, as block-wise quantization does. */
export interface BlockwiseCausalLM extends CausalLM {
  readonly numBlocks: number;
  /** Hidden states [T, hidden] for a sequence of token ids. */
  embedTokens(ids: Int32Array): Float32Array;
  /** One decoder block on x [T, hidden]; returns a new [T, hidden] array. */
  blockForward(index: number, x: Float32Array, T: number, options?: BlockForwardOptions): Float32Array;
}

export function isBlockwise(m: CausalLM): m is BlockwiseCausalLM {
  return typeof (m as Partial<BlockwiseCausalLM>).blockForward === 'function' && typeof (m as Partial<BlockwiseCausalLM>).embedTokens === 'function';
}

export interface ArchitecturePlugin {
  readonly name: string;
  /** The `architectures[0]` values of config.json this plugin understands. */
  readonly hfArchitectures: readonly string[];
  describe(config: HFConfig, source: string): ModelSpec;
  load(spec: ModelSpec, weights: WeightSource, backend: KernelBackend): CausalLM;
}

/**
 * AdamRound's (enable_adam) learning rate when none is given, the original AutoAdamRound's default:
 * here so that the tuning plugin and the host, which records it in quantization_config, share it.
 */
export const ADAM_DEFAULT_LR = 0.005;

/** Options every algorithm sees; algorithms read the fields they use. */
export interface QuantizeOptions {
  iters: number;
  disableOptRtn: boolean;
  nsamples: number;
  seqlen: number;
  batchSize: number;
  seed: number;
  lr?: number;
  minmaxLr?: number;
  /**
   * Set by the host when the output is a GGUF file (`--format gguf:q4_k_m` → "q4_k_m"): the file
   * type decides each layer's block type (llama.cpp's mix: Q6_K attn_v on some layers …), and
   * algorithms that quantize GGUF schemes use the type that file stores for each layer.
   */
  ggufFileType?: string;
  [key: string]: unknown;
}

/** What the host hands an algorithm: the model, the per-layer schemes, and a sink for results. */
export interface QuantizeSession {
  readonly spec: ModelSpec;
  readonly checkpoint: Checkpoint;
  /** Full layer name → scheme, or null where the layer stays in full precision. */
  readonly layerSchemes: ReadonlyMap<string, QuantScheme | null>;
  /** The global scheme (layers without a --layer_config entry have it); hosts may leave it out. */
  readonly scheme?: QuantScheme;
  readonly options: QuantizeOptions;
  readonly backend: KernelBackend;
  readonly log: Logger;
  /** Tokenized calibration samples, when the host has a dataset (algorithms that need one call this). */
  calibration?(): Promise<Int32Array[]>;
  /** Loads the runtime model (for algorithms that run forward passes). */
  loadModel?(weights?: WeightSource): CausalLM;
  /** Hands a finished layer to every exporter. Call once per quantized layer. */
  emit(layerName: string, q: QuantizedWeight): void;
  /**
   * Hands a full-precision tensor the algorithm changed (a tuned norm weight or bias, full name) to
   * every exporter in the source's dtype; only names the algorithm's `replacesTensors` listed.
   */
  emitTensor?(name: string, data: Float32Array): void;
  /** Reports progress over the model's blocks. */
  blockDone?(blockIndex: number, note?: string): void;
  /**
   * Resumable runs (docs/resume.md), offered by hosts that checkpoint: an algorithm whose
   * `resumable` says yes calls this once everything of the blocks up to and including `lastBlock`
   * has been emitted, with what its loop carries to the next block (block inputs, random state …).
   * The host stores it, with the layers and tensors emitted so far, atomically before it returns.
   */
  saveResumeState?(lastBlock: number, state: CheckpointValue): void;
  /**
   * Set when the host resumes an interrupted run: the layers and tensors of blocks ≤ `lastBlock`
   * have already been handed to the exporters again (do not emit them twice); the algorithm starts
   * at the next block from `state`, the value its own `saveResumeState` call stored.
   */
  readonly resumeState?: ResumeState;
}

/** What a resumed algorithm continues from (QuantizeSession.resumeState). */
export interface ResumeState {
  /** The last model block whose results were checkpointed. */
  readonly lastBlock: number;
  readonly state: CheckpointValue;
}

export interface AlgorithmPlugin {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly description: string;
  /** Whether, with these options, the algorithm needs calibration data and a forward pass. */
  needsCalibration(options: QuantizeOptions): boolean;
  /**
   * Full-precision tensors this run will change (enable_norm_bias_tuning): the host does not copy
   * them from the source and expects each through `emitTensor`.
   */
  replacesTensors?(options: QuantizeOptions, spec: ModelSpec): readonly string[];
  /**
   * Whether, with these options, `run` checkpoints through `session.saveResumeState` and continues from
   * `session.resumeState` (docs/resume.md). Absent or false: a --resume run starts from the beginning.
   */
  resumable?(options: QuantizeOptions): boolean;
  run(session: QuantizeSession): Promise<void>;
}

/** Everything an exporter knows when it opens. */
export interface ExportContext {
  /** The format as the user wrote it ("auto_round", "auto_round:auto_awq", "gguf:q4_k_m"). */
  readonly format: string;
  /** Where to write: a private staging folder the host renames when every exporter finished. */
  readonly dir: string;
  readonly sourceDir: string;
  readonly spec: ModelSpec;
  readonly config: HFConfig;
  readonly checkpoint: Checkpoint;
  /** The global scheme (the --scheme plus overrides). */
  readonly scheme: QuantScheme;
  readonly layerSchemes: ReadonlyMap<string, QuantScheme | null>;
  /** Tuning metadata recorded in quantization_config (iters, lr, nsamples…). */
  readonly quantArgs: Readonly<Record<string, unknown>>;
  readonly maxShardBytes: number;
  readonly log: Logger;
  /**
   * Importance vectors known before quantization starts (one non-negative weight per input
   * column, keyed by tensor name), for formats whose quantizers use them (GGUF). Algorithms that
   * compute one per layer attach it to the layer instead, as `QuantizedWeight.imatrix`.
   */
  readonly imatrix?: ReadonlyMap<string, Float32Array>;
}

export interface ExportSession {
  /**
   * A quantized linear layer (full name without ".weight"); `q.blocks` and `q.imatrix` carry the
   * block bytes and the importance vector when the algorithm quantized to a block type.
   */
  writeQuantized(layerName: string, q: QuantizedWeight): void;
  /** A tensor kept as it is in the source (embeddings, norms, FP layers, biases). */
  writeTensor(name: string, t: Tensor): void;
  /** Writes config, index and side files into the staging folder. */
  finish(): Promise<void> | void;
}

export interface ExporterPlugin {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly description: string;
  /** Why this exporter cannot write `scheme` (null when it can). Checked before any work starts. */
  check(scheme: QuantScheme, format: string): string | null;
  open(ctx: ExportContext): ExportSession;
  /** Does this folder's config.json say it was written in this exporter's format? */
  detect?(config: HFConfig): boolean;
  /** Reads a folder this exporter wrote back into dequantized float32 weights (for eval and tests). */
  read?(dir: string, config: HFConfig): WeightSource;
}

export interface DatasetRequest {
  /** The source as written (path or hub id). */
  readonly name: string;
  readonly split?: string;
  readonly options: Readonly<Record<string, string | boolean>>;
}

export interface DatasetSourcePlugin {
  readonly name: string;
  /** Can this source read `name`? (e.g. an existing local file, a hub id). */
  matches(name: string): boolean;
  /** Raw texts, in source order. */
  load(req: DatasetRequest, ctx: { log: Logger; seed: number }): Promise<string[]>;
}

/** A plugin is a plain object naming what it provides. */
export interface AutoRoundPlugin {
  readonly name: string;
  readonly algorithms?: readonly AlgorithmPlugin[];
  readonly exporters?: readonly ExporterPlugin[];
  readonly architectures?: readonly ArchitecturePlugin[];
  readonly datasets?: readonly DatasetSourcePlugin[];
  readonly kernels?: readonly KernelBackendFactory[];
}

export function definePlugin(p: AutoRoundPlugin): AutoRoundPlugin {
  return p;
}
