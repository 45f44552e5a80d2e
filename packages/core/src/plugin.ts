import type { Checkpoint, Graph, Tensor, Var } from '@autoround/core-tensor';
import type { KernelBackend, KernelBackendFactory } from '@autoround/core-tensor';
import type { Logger } from './log.js';
import type { HFConfig, ModelSpec } from './model-spec.js';
import type { QuantizedWeight } from './quantized.js';
import type { CheckpointValue } from './resume-file.js';
import type { QuantScheme } from './scheme.js';
import type { LayerSelectionOptions } from './layer-selection.js';
import type { AlgorithmRouting } from './algorithm-route.js';
import type { EvaluatorPlugin, TaskEvaluatorPlugin, TextTokenizer } from './evaluation.js';
import type { AlgorithmOption } from './options.js';
import type { SchemePlannerPlugin } from './scheme-planner.js';

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
  /**
   * The activation quantization the model computes with (a reader of a folder whose scheme quantizes
   * activations; an overlay of in-memory quantized layers): the QDQ of each quantized linear's input, by full
   * layer name. A model loaded on these weights applies it (LoadOptions.activations).
   */
  readonly activations?: ActivationQdq;
}

/** A loaded causal LM that can run a float32 forward pass. */
export interface CausalLM {
  readonly spec: ModelSpec;
  /** Logits [ids.length, vocab] for one sequence (position 0 first). */
  forward(ids: Int32Array): Float32Array;
}

/** Called with the input of each linear layer during a block forward (for importance matrices). */
export type LinearInputHook = (linear: string, x: Float32Array, rows: number, inFeatures: number) => void;

/**
 * Activation quantization of a linear's input (docs/algorithms/fp-qdq.md#activations): x [rows, inFeatures] of
 * linear `linear` in, its QDQ out (a new array, or x itself for a layer whose activations stay in full precision).
 */
export type ActivationQdq = (linear: string, x: Float32Array, rows: number, inFeatures: number) => Float32Array;

export interface BlockForwardOptions {
  /** Replacement weights for this call, keyed by linear name within the block ("mlp.down_proj"). */
  weights?: ReadonlyMap<string, Float32Array>;
  /** Sees each linear's input before any activation quantization (importance matrices, activation ranges). */
  onLinearInput?: LinearInputHook;
  /** QDQ of each linear's input (by name within the block) before its product: the scheme's activation quantization. */
  activations?: ActivationQdq;
}

/** Options of a model load: activation quantization of every quantized linear (keyed by full layer name). */
export interface LoadOptions {
  activations?: ActivationQdq;
  /**
   * Read each block's weights when it first runs, and drop them on `releaseBlock` (the embeddings likewise, on
   * `releaseEmbeddings`), instead of reading everything at load: a block-by-block algorithm then holds one block's weights, not the model's
   * (docs/perf/whole-model.md#peak-rss). The weight source must stay open while the model is used. An
   * architecture without lazy loading reads everything at load, as before.
   */
  lazyBlocks?: boolean;
}

/** A causal LM that can also be run block by block, as block-wise quantization does. */
export interface BlockwiseCausalLM extends CausalLM {
  readonly numBlocks: number;
  /** Hidden states [T, hidden] for a sequence of token ids. */
  embedTokens(ids: Int32Array): Float32Array;
  /** One decoder block on x [T, hidden]; returns a new [T, hidden] array. */
  blockForward(index: number, x: Float32Array, T: number, options?: BlockForwardOptions): Float32Array;
  /** Drops block `index`'s weights if the model was loaded with `lazyBlocks` (read again should it run later). */
  releaseBlock?(index: number): void;
  /** Drops the token embedding (and a separate lm_head) if the model was loaded with `lazyBlocks` (read again when next used). */
  releaseEmbeddings?(): void;
}

export function isBlockwise(m: CausalLM): m is BlockwiseCausalLM {
  return typeof (m as Partial<BlockwiseCausalLM>).blockForward === 'function' && typeof (m as Partial<BlockwiseCausalLM>).embedTokens === 'function';
}

/**
 * What an algorithm puts into a block's autograd graph (BlockTunableCausalLM.blockGraph): each answer
 * replaces the model's own tensor, which is passed in (`own`); undefined keeps it as a constant input.
 */
export interface BlockGraphInject {
  /** The weight [out, in] (`shape`) of linear `local` ("mlp.up_proj"): a QDQ of tuned parameters, a leaf, an input. */
  weight?(g: Graph, local: string, own: Float32Array, shape: readonly [number, number]): Var | undefined;
  /** The bias [out] of linear `local` (called only for linears that have one). */
  bias?(g: Graph, local: string, own: Float32Array): Var | undefined;
  /** The weight of norm `local` ("input_layernorm"). */
  norm?(g: Graph, local: string, own: Float32Array): Var | undefined;
  /**
   * The input x [rows, in] of linear `local` as its product sees it: the activation QDQ (straight-through
   * gradient); undefined keeps x.
   */
  input?(g: Graph, local: string, x: Var): Var | undefined;
}

/**
 * A block-wise model whose blocks also run on the autograd graph, as SignRound's tuning needs: the
 * architecture defines its block once (docs/adr/0018-one-block-per-architecture.md) and serves the float
 * forward, this graph and decoding from that one definition.
 */
export interface BlockTunableCausalLM extends BlockwiseCausalLM {
  /** Block `index` on x [batch·T, hidden] on the graph, with what `inject` replaces. */
  blockGraph(g: Graph, x: Var, index: number, inject: BlockGraphInject, batch: number, T: number): Var;
  /** Final norm and lm_head on h [rows, hidden]: logits [rows, vocab] (enable_lfq's loss). */
  headGraph(g: Graph, h: Var): Var;
  /**
   * A norm weight or linear bias of block `index` by its name within the block
   * ("input_layernorm.weight", "self_attn.q_proj.bias"), as the forward uses it.
   */
  blockVector(index: number, local: string): Float32Array;
}

export function isBlockTunable(m: CausalLM): m is BlockTunableCausalLM {
  const t = m as Partial<BlockTunableCausalLM>;
  return isBlockwise(m) && typeof t.blockGraph === 'function' && typeof t.headGraph === 'function' && typeof t.blockVector === 'function';
}

/** Token-by-token decoding with a key/value cache, `batch` sequences in lockstep. */
export interface CausalDecoder {
  readonly batch: number;
  /** Positions decoded so far. */
  readonly position: number;
  /** Feeds one token per sequence; returns the next-token logits [batch, vocab]. */
  stepBatch(tokens: Int32Array): Float32Array;
  /**
   * Forgets every position from `position` on (≤ the current one): the next tokens are decoded there, after
   * the cached prefix. Scoring several continuations of one prefix computes the prefix once this way.
   */
  rewind?(position: number): void;
  /** Feeds T tokens per sequence (tokens [batch, T] row-major) in one pass; returns the logits after each, [batch·T, vocab]. */
  prefill?(tokens: Int32Array): Float32Array;
}

/** A causal LM that decodes token by token (`--dataset self`, the sanity probe's sampled text). */
export interface DecodingCausalLM extends CausalLM {
  /** A decoder for sequences of at most `maxLen` positions. */
  decoder(maxLen: number, batch: number): CausalDecoder;
  /** Bytes of key/value cache one sequence of `positions` positions takes. */
  kvCacheBytes(positions: number): number;
}

/**
 * Several token sequences packed into one forward pass, sharing prefixes as a tree: each row is one token,
 * `parents[r]` the row holding the token before it in its sequence (−1 where a sequence starts, else < r).
 * A row sits at position (its number of ancestors) and attends to itself and its ancestors only, so a
 * document's context is one chain of rows and each choice a branch off it (task scoring, docs/eval/tasks.md).
 */
export interface PackedSequences {
  readonly tokens: Int32Array;
  readonly parents: Int32Array;
  /** Rows whose logits are wanted, in this order (every row when absent). */
  readonly outputs?: Int32Array;
}

/** A causal LM that runs packed sequences (PackedSequences) as one batch of rows through its linears. */
export interface PackingCausalLM extends CausalLM {
  /** Logits [outputs.length (else rows), vocab]: row r's are those after the sequence ending at r. */
  forwardPacked(p: PackedSequences): Float32Array;
}

export function isPacking(m: CausalLM): m is PackingCausalLM {
  return typeof (m as Partial<PackingCausalLM>).forwardPacked === 'function';
}

export function isDecoding(m: CausalLM): m is DecodingCausalLM {
  const d = m as Partial<DecodingCausalLM>;
  return typeof d.decoder === 'function' && typeof d.kvCacheBytes === 'function';
}

export interface ArchitecturePlugin {
  readonly name: string;
  /** The `architectures[0]` values of config.json this plugin understands. */
  readonly hfArchitectures: readonly string[];
  describe(config: HFConfig, source: string): ModelSpec;
  load(spec: ModelSpec, weights: WeightSource, backend: KernelBackend, options?: LoadOptions): CausalLM;
  /** The tokenizer of a model folder of this architecture (calibration text, evaluation, the sanity probe). */
  tokenizer?(dir: string): TextTokenizer;
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
  /**
   * The exact quantization type of each layer whose output format chooses it per layer (a
   * `--format gguf:*` file's mix: "Q6_K" for some attn_v …), keyed by full layer name; planned by
   * the exporter's `layerQuantTypes` once the algorithm is known. Layers absent from it (or a run
   * without such a format) follow their scheme.
   */
  readonly quantTypes?: ReadonlyMap<string, string>;
  readonly backend: KernelBackend;
  readonly log: Logger;
  /** Tokenized calibration samples, when the host has a dataset (algorithms that need one call this). */
  calibration?(): Promise<Int32Array[]>;
  /** Loads the runtime model (for algorithms that run forward passes). */
  loadModel?(weights?: WeightSource, options?: LoadOptions): CausalLM;
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

export interface AlgorithmPlugin extends AlgorithmRouting {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly description: string;
  /**
   * The options it reads from QuantizeOptions beyond the host's (core/src/options.ts): the CLI makes
   * them flags, listed under the algorithm in --help; the host and the CLI check their values.
   */
  readonly options?: readonly AlgorithmOption[];
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
  /**
   * The activation quantization of quantized layers, for evaluating them in memory (docs/algorithms/fp-qdq.md#activations):
   * each layer's scheme's act_* fields with its calibrated fields (QuantizedWeight.actMax); undefined when no
   * layer quantizes its activations. The host asks the first installed algorithm that has it.
   */
  activations?(layers: ReadonlyMap<string, QuantizedWeight>): ActivationQdq | undefined;
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

/** What a format decides about the run's scheme (ExporterPlugin.defaultScheme). */
export interface FormatScheme {
  /** The scheme preset the format selects when no --scheme is given ("GGUF:Q4_K_M"); absent: the usual default. */
  readonly preset?: string;
  /** The format as messages name it ("gguf:q4_k_m"). */
  readonly label: string;
  /** What decides each layer's quantization instead of --scheme / --bits …, completing "with --format X: …". */
  readonly decides: string;
}

/** What an exporter's `planLayers` plans the layer selection from. */
export interface LayerPlanContext {
  /** This exporter's format ("gguf:q4_k_m") and every format of the run. */
  readonly format: string;
  readonly formats: readonly string[];
  readonly spec: ModelSpec;
  readonly checkpoint: { has(name: string): boolean };
  /** The run's global scheme. */
  readonly scheme: QuantScheme;
  /** The user's selection options; `quantLmHead` is undefined when the user did not say. */
  readonly selection: LayerSelectionOptions;
}

/** What an exporter's `layerQuantTypes` plans each layer's type from, once the algorithm is known. */
export interface QuantTypeContext {
  readonly format: string;
  readonly spec: ModelSpec;
  readonly checkpoint: Checkpoint;
  readonly scheme: QuantScheme;
  readonly layerSchemes: ReadonlyMap<string, QuantScheme | null>;
  /** Whether the algorithm calibrates (hands importance vectors with its layers). */
  readonly calibrates: boolean;
}

export interface ExporterPlugin {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly description: string;
  /** Why this exporter cannot write `scheme` (null when it can). Checked before any work starts. */
  check(scheme: QuantScheme, format: string): string | null;
  /**
   * A format that decides the scheme itself (gguf:q4_k_m → the GGUF:Q4_K_M preset, gguf:f16 →
   * BF16): the host uses `preset` when no --scheme is given and warns that --bits … are ignored.
   * Undefined for formats that write whatever scheme they are given.
   */
  defaultScheme?(format: string): FormatScheme | undefined;
  /**
   * The layer selection of a run that writes this format, when the format changes the default
   * rules (GGUF stores lm_head and the embedding quantized, and its int types have no packing
   * constraint); the host calls the first format's that has one, else core's resolveLayerSchemes.
   */
  planLayers?(ctx: LayerPlanContext): Map<string, QuantScheme | null>;
  /**
   * A format that fixes each layer's exact quantization type (GGUF's per-tensor mix): the type of
   * every layer it stores, handed to the algorithm as `QuantizeSession.quantTypes`. Its presence
   * also tells the host that tuning targets those types (GGUF tuning: scales frozen).
   */
  layerQuantTypes?(ctx: QuantTypeContext): ReadonlyMap<string, string>;
  open(ctx: ExportContext): ExportSession;
  /** Does this folder's config.json say it was written in this exporter's format? */
  detect?(config: HFConfig): boolean;
  /** Reads a folder this exporter wrote back into dequantized float32 weights (for eval and tests). */
  read?(dir: string, config: HFConfig): WeightSource;
  /**
   * This exporter with the packings other plugins contribute for it (PackingPlugin.exporter is this
   * exporter's name); the registry calls it and hands out the result.
   */
  withPackings?(packings: readonly PackingPlugin[]): ExporterPlugin;
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

/**
 * A packing of another exporter's format (auto_round:auto_awq, auto_round:llm_compressor): tensors
 * in this package's layout, the config the extended exporter writes. The registry hands every
 * installed packing to the exporter named by `exporter` (ExporterPlugin.withPackings).
 */
export interface PackingPlugin {
  /** The exporter this packing extends ("auto_round"). */
  readonly exporter: string;
  /** The --format string and the packing_format value, e.g. "auto_round:auto_awq". */
  readonly name: string;
  /** Why this packing cannot store `scheme` (null when it can). */
  check(scheme: QuantScheme): string | null;
  /** Opens a session writing this layout; `quantizationConfig` gives the extended exporter's config to write. */
  open(ctx: ExportContext, quantizationConfig: () => Record<string, unknown>): ExportSession;
  /** Reads a folder written with this packing back into float32 weights. */
  read(dir: string, config: HFConfig): WeightSource;
}

/** Where a subcommand writes. */
export interface CommandIO {
  out(line: string): void;
  err(line: string): void;
}

/** A CLI subcommand a plugin contributes (`auto-round gguf-info FILE`). */
export interface CommandPlugin {
  /** The word after the program name. */
  readonly name: string;
  /** Its arguments, for --help ("FILE.gguf"). */
  readonly usage: string;
  readonly description: string;
  /** Runs with the words after the command (flags the CLI knows are parsed away first). */
  run(positionals: readonly string[], io: CommandIO): Promise<void> | void;
}

/** The plugin contract this build implements; a plugin declares the one it was written for. */
export const PLUGIN_API_VERSION = 1;

/** A plugin is a plain object naming what it provides. */
export interface AutoRoundPlugin {
  readonly name: string;
  /** The plugin contract's major version (PLUGIN_API_VERSION); a registry refuses one it does not implement. */
  readonly apiVersion: number;
  readonly algorithms?: readonly AlgorithmPlugin[];
  readonly exporters?: readonly ExporterPlugin[];
  readonly architectures?: readonly ArchitecturePlugin[];
  readonly datasets?: readonly DatasetSourcePlugin[];
  readonly kernels?: readonly KernelBackendFactory[];
  readonly packings?: readonly PackingPlugin[];
  readonly commands?: readonly CommandPlugin[];
  /** Perplexity and KL divergence scoring (`auto-round eval`, --eval_ppl, the sanity probe). */
  readonly evaluators?: readonly EvaluatorPlugin[];
  /** Per-layer scheme planning under an average-bit budget (--avg_bits, --options; docs/autoscheme.md). */
  readonly planners?: readonly SchemePlannerPlugin[];
  /** Accuracy tasks (`auto-round eval --tasks`). */
  readonly taskEvaluators?: readonly TaskEvaluatorPlugin[];
}

/** What a plugin author writes: the contract version is filled in. */
export type PluginDefinition = Omit<AutoRoundPlugin, 'apiVersion'> & { readonly apiVersion?: typeof PLUGIN_API_VERSION };

export function definePlugin(p: PluginDefinition): AutoRoundPlugin {
  return { ...p, apiVersion: p.apiVersion ?? PLUGIN_API_VERSION };
}
