import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor, decodeUtf8Text } from '@autoround/core-tensor';
import {
  AutoRoundError,
  describeSystemError,
  type CausalLM,
  type EvaluatorPlugin,
  type KernelBackend,
  type KlDivergenceRun,
  OverlayWeights,
  type PerplexityOptions,
  type PerplexityResult,
  type QuantizedWeight,
  type Registry,
  type TaskRunOptions,
  type TaskRunResult,
  type TaskSpec,
  type TextTokenizer,
  type WeightSource,
} from '@autoround/core';
import { type LoadedModel, openModel, tokenizerOf } from './pipeline.js';

/** A model folder's weights: plain float checkpoints as they are, quantized folders through their format's reader. */
export function weightsOf(registry: Registry, model: LoadedModel): WeightSource {
  let config = model.config;
  if (!config.quantization_config) {
    // a fake export records its scheme beside config.json (docs/formats/fake.md): its reader re-applies the
    // activation quantization it records; any other float folder is read as it is
    const side = fakeQuantizationConfig(model.dir);
    if (!side) return model.checkpoint;
    config = { ...config, quantization_config: side };
  }
  const reader = registry.exporters.find((e) => e.detect?.(config) && e.read);
  if (!reader) {
    const qm = (model.config.quantization_config as { quant_method?: string }).quant_method;
    throw new AutoRoundError('E_UNSUPPORTED', `${model.dir}: no installed format can read quant_method "${qm}"`, { subject: model.dir });
  }
  return reader.read!(model.dir, config);
}

/** The quantization_config.json of a fake export (quant_method "fake"), if the folder has one. */
function fakeQuantizationConfig(dir: string): Record<string, unknown> | undefined {
  const file = join(dir, 'quantization_config.json');
  if (!existsSync(file)) return undefined;
  let qc: unknown;
  try {
    qc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new AutoRoundError('E_BAD_CONFIG', `${file} is not valid JSON: ${(e as Error).message}`, { subject: file, cause: e });
  }
  return qc && typeof qc === 'object' && (qc as { quant_method?: unknown }).quant_method === 'fake' ? (qc as Record<string, unknown>) : undefined;
}

export function readText(file: string): string {
  if (!existsSync(file)) throw new AutoRoundError('E_NOT_FOUND', `evaluation text ${file} does not exist`, { subject: file });
  if (statSync(file).isDirectory()) throw new AutoRoundError('E_NOT_A_FILE', `evaluation text ${file} is a folder; name a text file (--eval_ppl FILE)`, { subject: file });
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new AutoRoundError('E_READ', `cannot read evaluation text ${describeSystemError(e, file) ?? `${file}: ${(e as Error).message}`}`, { subject: file, cause: e });
  }
  return decodeUtf8Text(bytes, file);
}

/** How perplexity cuts and scores the text: our BOS windows (docs/adr/0010-perplexity-protocol.md) or llama-perplexity's chunks (docs/perplexity-llama-cpp.md). */
export type EvalProtocol = 'windows' | 'llama.cpp';
export const EVAL_PROTOCOLS: readonly EvalProtocol[] = ['windows', 'llama.cpp'];

export interface EvalTextOptions {
  /** The window length (BOS included); with the llama.cpp protocol, the context n_ctx (llama-perplexity's -c). */
  seqlen: number;
  /** Score at most this many tokens (llama.cpp protocol: as many whole chunks as fit, at least one). */
  maxTokens?: number;
  /** Default 'windows'. */
  protocol?: EvalProtocol;
}

/** `--eval_protocol`'s value checked: one of EVAL_PROTOCOLS. */
export function evalProtocolOf(value: string | undefined): EvalProtocol {
  if (value === undefined) return 'windows';
  const p = EVAL_PROTOCOLS.find((x) => x === value);
  if (!p) throw new AutoRoundError('E_BAD_FLAG', `--eval_protocol must be one of ${EVAL_PROTOCOLS.join(', ')}, got "${value}"`, { subject: '--eval_protocol' });
  return p;
}

/** Tokenizes once; evaluates any number of weight variants of the same model on it. */
export class PerplexityBench {
  readonly ids: Int32Array;
  readonly tokenizer: TextTokenizer;
  /** The installed evaluator (@autoround/eval's); E_NOT_INSTALLED, before any tokenizing, without one. */
  private readonly evaluator: EvaluatorPlugin;
  constructor(
    readonly registry: Registry,
    readonly model: LoadedModel,
    readonly backend: KernelBackend,
    text: string,
    readonly options: EvalTextOptions,
  ) {
    this.evaluator = registry.evaluator('perplexity (auto-round eval, --eval_ppl)', '--eval_ppl');
    this.tokenizer = tokenizerOf(registry, model);
    this.ids = Int32Array.from(this.tokenizer.encode(text, { addSpecialTokens: false }));
  }

  private load(weights: WeightSource): CausalLM {
    return causalLm(this.registry, this.model, weights, this.backend);
  }

  private evalOptions(): PerplexityOptions {
    return windowOptions(this.options, this.tokenizer);
  }

  run(weights: WeightSource = weightsOf(this.registry, this.model)): PerplexityResult {
    if (this.options.protocol === 'llama.cpp') return this.runLlamaCpp(weights);
    // the weights too: a non-finite score is reported with the tensor that holds the NaN
    return this.evaluator.perplexity(this.load(weights), this.ids, { ...this.evalOptions(), weights });
  }

  /**
   * llama-perplexity's protocol: the text's tokens with BOS in front when the tokenizer has one (llama.cpp's
   * common_tokenize(text, add_special = true) for a vocabulary that adds BOS), chunks of seqlen (n_ctx).
   */
  private runLlamaCpp(weights: WeightSource): PerplexityResult {
    const evaluate = this.evaluator.llamaCppPerplexity;
    if (!evaluate) throw new AutoRoundError('E_NOT_INSTALLED', `--eval_protocol llama.cpp: the installed evaluator ${this.evaluator.name} does not implement it (@autoround/eval does)`, { subject: '--eval_protocol' });
    const bos = this.tokenizer.bosTokenId;
    const tokens = bos !== undefined ? Int32Array.from([bos, ...this.ids]) : this.ids;
    const nCtx = this.options.seqlen;
    const perChunk = nCtx - Math.floor(nCtx / 2) - 1;
    const maxChunks = this.options.maxTokens !== undefined ? Math.max(1, Math.floor(this.options.maxTokens / Math.max(1, perChunk))) : undefined;
    return evaluate.call(this.evaluator, this.load(weights), tokens, { nCtx, ...(bos !== undefined ? { bosTokenId: bos } : {}), ...(maxChunks !== undefined ? { maxChunks } : {}), weights });
  }

  private windowsOnly(what: string): void {
    if (this.options.protocol === 'llama.cpp') throw new AutoRoundError('E_BAD_FLAG', `--eval_protocol llama.cpp: ${what} is measured over the windows protocol only`, { subject: '--eval_protocol' });
  }

  /** The model's weights with its quantized layers replaced by their QDQ weights (and changed tensors by theirs). */
  private quantized(qdq: ReadonlyMap<string, QuantizedWeight>, tensors?: ReadonlyMap<string, Float32Array>): WeightSource {
    const over = new Map<string, Tensor<'F32'>>();
    for (const [name, q] of qdq) over.set(`${name}.weight`, Tensor.f32([...q.shape], q.qdq));
    // tuned norms and biases (enable_norm_bias_tuning)
    for (const [name, data] of tensors ?? []) over.set(name, Tensor.f32([...this.model.checkpoint.info(name).shape], data));
    // the layers' activation quantization (W4A4 …), from the algorithm plugin that knows the types
    const activations = this.registry.algorithms.find((a) => a.activations)?.activations?.(qdq);
    // a quantized lm_head is the output matrix even under a tied config (only GGUF runs quantize it there)
    return new OverlayWeights(this.model.checkpoint, over, over.has(this.model.spec.lmHead), activations);
  }

  /** Perplexity with quantized layers replaced by their QDQ weights. */
  runQuantized(qdq: ReadonlyMap<string, QuantizedWeight>, tensors?: ReadonlyMap<string, Float32Array>): PerplexityResult {
    return this.run(this.quantized(qdq, tensors));
  }

  /**
   * The QDQ model's KL divergence from the model's own weights (llama-perplexity --kl-divergence)
   * and both perplexities (the numbers run and runQuantized give), in one pass over the windows.
   */
  compareQuantized(qdq: ReadonlyMap<string, QuantizedWeight>, tensors?: ReadonlyMap<string, Float32Array>): KlDivergenceRun {
    this.windowsOnly('the KL divergence');
    return this.evaluator.klDivergence(this.load(this.model.checkpoint), this.load(this.quantized(qdq, tensors)), this.ids, this.evalOptions());
  }
}

/** A model folder's architecture loaded on `weights` (its own: weightsOf; or an overlay of them). */
function causalLm(registry: Registry, model: LoadedModel, weights: WeightSource, backend: KernelBackend): CausalLM {
  // weights whose layers quantize their activations: the model applies it in every linear
  return registry.architecture(model.spec.architecture, model.dir).load(model.spec, weights, backend, weights.activations ? { activations: weights.activations } : undefined);
}

/** The perplexity windows of a text: seqlen, the tokenizer's BOS when it has one, the token limit. */
function windowOptions(options: EvalTextOptions, tokenizer: TextTokenizer): PerplexityOptions {
  return {
    seqlen: options.seqlen,
    ...(tokenizer.bosTokenId !== undefined ? { bosTokenId: tokenizer.bosTokenId } : {}),
    ...(options.maxTokens !== undefined ? { maxTokens: options.maxTokens } : {}),
  };
}

/**
 * Perplexity of a model folder and its KL divergence from a reference folder (`--eval_kld_base`,
 * usually the full-precision model) on a text, as llama-perplexity --kl-divergence reports them:
 * mean KL(P_base ‖ P_model) over the scored tokens and how often both rank the same token first.
 * Either folder may be in any format the registry reads (GGUF folders included); both must share
 * the vocabulary and tokenizer, which is checked (vocabulary sizes, then the text's token ids).
 */
export function folderKlDivergence(registry: Registry, model: LoadedModel, base: LoadedModel, backend: KernelBackend, text: string, options: EvalTextOptions): KlDivergenceRun {
  if (options.protocol === 'llama.cpp') throw new AutoRoundError('E_BAD_FLAG', '--eval_protocol llama.cpp: the KL divergence (--eval_kld_base) is measured over the windows protocol only', { subject: '--eval_protocol' });
  const same = `KL divergence compares next-token distributions over one vocabulary: the reference needs the model's tokenizer`;
  if (model.spec.vocabSize !== base.spec.vocabSize) {
    throw new AutoRoundError('E_EVAL', `--eval_kld_base: ${base.dir} has a vocabulary of ${base.spec.vocabSize} tokens, ${model.dir} one of ${model.spec.vocabSize}; ${same}`, { subject: '--eval_kld_base' });
  }
  const evaluator = registry.evaluator('KL divergence (--eval_kld_base)', '--eval_kld_base');
  const tokenizer = tokenizerOf(registry, model);
  const baseTokenizer = tokenizerOf(registry, base);
  const ids = Int32Array.from(tokenizer.encode(text, { addSpecialTokens: false }));
  const baseIds = baseTokenizer.encode(text, { addSpecialTokens: false });
  let diff = ids.length === baseIds.length ? -1 : Math.min(ids.length, baseIds.length);
  for (let i = 0; i < Math.min(ids.length, baseIds.length) && diff < 0; i++) if (ids[i] !== baseIds[i]) diff = i;
  if (diff >= 0 || tokenizer.bosTokenId !== baseTokenizer.bosTokenId) {
    const where = diff >= 0 ? `token ${diff} of the text is ${baseIds[diff] ?? 'missing'} for ${base.dir}, ${ids[diff] ?? 'missing'} for ${model.dir}` : `BOS is ${baseTokenizer.bosTokenId} for ${base.dir}, ${tokenizer.bosTokenId} for ${model.dir}`;
    throw new AutoRoundError('E_EVAL', `--eval_kld_base: ${base.dir} and ${model.dir} tokenize differently (${where}); ${same}`, { subject: '--eval_kld_base' });
  }
  const lm = (m: LoadedModel) => causalLm(registry, m, weightsOf(registry, m), backend);
  return evaluator.klDivergence(lm(base), lm(model), ids, windowOptions(options, tokenizer));
}

/** Perplexity of a model folder (float or quantized in any installed format) on a text. */
export function folderPerplexity(registry: Registry, dir: string, backend: KernelBackend, text: string, options: EvalTextOptions): PerplexityResult {
  const model = openModel(registry, dir);
  try {
    return new PerplexityBench(registry, model, backend, text, options).run();
  } finally {
    model.checkpoint.close();
  }
}

/**
 * Accuracy tasks (`auto-round eval --tasks`) on a model folder, float or quantized in any installed format
 * (weightsOf), through the installed task evaluator (@autoround/eval-tasks; docs/eval/tasks.md).
 */
export async function folderTasks(registry: Registry, model: LoadedModel, backend: KernelBackend, tasks: readonly TaskSpec[], options: TaskRunOptions): Promise<TaskRunResult> {
  const evaluator = registry.taskEvaluator('--tasks');
  return evaluator.run(causalLm(registry, model, weightsOf(registry, model), backend), tokenizerOf(registry, model), tasks, options);
}
