// What the host asks of a model's text side: a tokenizer (an architecture plugin's `tokenizer`) and
// the scores `auto-round eval` and the sanity probe report (an `evaluators` contribution, which
// @autoround/eval makes). The host depends on these interfaces, not on the packages implementing them
// (docs/adr/0019-host-depends-on-core.md).
import type { CausalLM, WeightSource } from './plugin.js';

/** The tokenizer surface the toolkit uses (calibration, evaluation, generation). */
export interface TextTokenizer {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[]): string;
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
  readonly vocabSize: number;
  /** True when encode runs on the word-memoizing BPE encoder (fast-bpe.ts; same ids as the library's). */
  readonly fastEncode?: boolean;
}

export interface PerplexityOptions {
  /** Model input length per window, BOS included when `bosTokenId` is set. */
  seqlen: number;
  /** Prepended to every window (and not scored), as the usual evaluation does for LLaMA. */
  bosTokenId?: number;
  /** Score at most this many tokens (a prefix of the text). */
  maxTokens?: number;
  /** Called after each window with tokens scored so far. */
  onProgress?: (scored: number, total: number) => void;
  /**
   * The model's weights: when a window's score is not finite, the error also names the first of the
   * offending layer's tensors that holds a NaN or ±Inf.
   */
  weights?: WeightSource;
}

export interface PerplexityResult {
  perplexity: number;
  /** Mean negative log-likelihood per scored token, in nats. */
  nll: number;
  tokens: number;
  windows: number;
}

export interface KlDivergenceResult {
  /** Mean KL(P_ref ‖ P_model) of the next-token distributions per scored token, in nats. */
  kld: number;
  /** Fraction of scored tokens where both models rank the same next token first. */
  sameTop: number;
  tokens: number;
}

export interface KlDivergenceRun extends KlDivergenceResult {
  /** The model's perplexity over the same windows (what `perplexity` returns). */
  perplexity: number;
  /** The reference's perplexity over the same windows. */
  referencePerplexity: number;
  windows: number;
}

/**
 * llama-perplexity's protocol (docs/perplexity-llama-cpp.md): the text tokenized once with BOS in front, cut into
 * chunks of nCtx tokens, each chunk's first token replaced by BOS, only the second half of each chunk scored.
 */
export interface LlamaCppPerplexityOptions {
  /** The context length, llama-perplexity's -c. */
  nCtx: number;
  /** The vocabulary's BOS when it adds one (llama_vocab_get_add_bos): the first token of every chunk becomes it. */
  bosTokenId?: number;
  /** Score at most this many chunks (llama-perplexity's --chunks). */
  maxChunks?: number;
  onProgress?: (scored: number, total: number) => void;
  weights?: WeightSource;
}

/** Scores of a model on a token stream (a plugin's `evaluators` contribution; @autoround/eval's). */
export interface EvaluatorPlugin {
  readonly name: string;
  /** The perplexity windows of a token stream (each window's first token is not scored). */
  evalWindows(ids: Int32Array, options: PerplexityOptions): Int32Array[];
  /** Summed negative log-likelihood (nats) of a window's tokens after the first, each from its prefix. */
  windowNll(model: CausalLM, input: Int32Array): number;
  perplexity(model: CausalLM, ids: Int32Array, options: PerplexityOptions): PerplexityResult;
  /** KL(P_reference ‖ P_model) and both perplexities, in one pass over the windows. */
  klDivergence(reference: CausalLM, model: CausalLM, ids: Int32Array, options: PerplexityOptions): KlDivergenceRun;
  /**
   * Perplexity as llama-perplexity computes it, on `tokens` as llama.cpp tokenizes the whole text (BOS in front
   * when the vocabulary adds one). Optional: an evaluator without it makes `--eval_protocol llama.cpp` an error.
   */
  llamaCppPerplexity?(model: CausalLM, tokens: Int32Array, options: LlamaCppPerplexityOptions): PerplexityResult;
}

/** One `--tasks` item: a task name, and the local file to read its documents from (`NAME:PATH`). */
export interface TaskSpec {
  readonly name: string;
  readonly path?: string;
}

/** What `auto-round eval --tasks` asks of a task evaluator (docs/eval/tasks.md). */
export interface TaskRunOptions {
  /** Score at most this many documents of each task (llama.cpp protocol: draw this many at random, as llama-perplexity does). */
  limit?: number;
  /** Few-shot examples before each document (default 0). */
  numFewshot?: number;
  /** Seed of the few-shot sampler (the harness's 1234 when unset). */
  seed?: number;
  /** "harness" (lm-evaluation-harness, the default) or "llama.cpp" (llama-perplexity --hellaswag). */
  protocol?: 'harness' | 'llama.cpp';
  /** Documents scored together in one packed forward (`--eval_bs`); results do not depend on it. */
  batchSize?: number;
  /** Called after each document with documents done and the task's total. */
  onProgress?: (task: string, done: number, total: number) => void;
  /** Keep each document's scores and per-document metrics in the result (`--log_samples`), for paired comparisons. */
  samples?: boolean;
}

/** One reported figure of a task (a row of the results table). */
export interface TaskMetric {
  readonly task: string;
  readonly metric: string;
  readonly value: number;
  /** Standard error of the value (undefined where the protocol reports none). */
  readonly stderr?: number;
  /** Documents scored. */
  readonly n: number;
}

/**
 * One scored document (`--log_samples`, as lm-evaluation-harness's samples file): its index in the task's file, the
 * gold choice, the per-choice scores (log-likelihoods; llama.cpp protocol: mean log-probabilities) and the document's
 * 0/1 value of each accuracy metric. Two runs on the same documents compare document by document (a paired difference).
 */
export interface TaskSample {
  readonly task: string;
  readonly doc_id: number;
  readonly target: number;
  readonly scores: readonly number[];
  /** metric → 0 or 1 (acc, acc_norm; LAMBADA's acc is the greedy match of the target). */
  readonly metrics: Readonly<Record<string, number>>;
}

export interface TaskRunResult {
  readonly metrics: TaskMetric[];
  /** Present when `samples` was asked for. */
  readonly samples?: TaskSample[];
  readonly documents: number;
  readonly seconds: number;
  /** Documents per second of scoring (tokenizing and data loading excluded). */
  readonly tasksPerSecond: number;
  /** Lines the protocol prints as it goes (llama-perplexity's running "task\tacc_norm" table), when it has them. */
  readonly log?: string[];
}

/** Accuracy tasks (`auto-round eval --tasks`; a plugin's `taskEvaluators` contribution, which @autoround/eval-tasks makes). */
export interface TaskEvaluatorPlugin {
  readonly name: string;
  /** The task names it knows (groups included). */
  readonly tasks: readonly string[];
  /** Parses a --tasks value ("hellaswag,piqa:./piqa.jsonl"); unknown names are E_UNKNOWN_TASK listing the known ones. */
  parse(tasks: string): TaskSpec[];
  /** Loads each task's documents (local file or hub dataset) and scores them on `model`. */
  run(model: CausalLM, tokenizer: TextTokenizer, tasks: readonly TaskSpec[], options: TaskRunOptions): Promise<TaskRunResult>;
}
