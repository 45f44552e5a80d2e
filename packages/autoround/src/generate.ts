// `auto-round generate`: what a model folder (a source checkpoint or any exported folder) says after a prompt,
// decoded with the architecture's key/value cache (core's DecodingCausalLM). The protocol: docs/generate.md.
import { mulberry32 } from '@autoround/core-tensor';
import { AutoRoundError, type KernelBackend, type Registry, isDecoding } from '@autoround/core';
import { openModel, tokenizerOf } from './pipeline.js';
import { weightsOf } from './evaluate.js';

export interface GenerateOptions {
  /** Tokens to generate at most (the run stops earlier at the tokenizer's EOS). */
  maxNewTokens: number;
  /** 0 (the default): greedy, the first maximum logit. Above 0: sampled from softmax(logits / temperature). */
  temperature?: number;
  /** The mulberry32 seed of the sampled draws (default 42, the host's --seed default). */
  seed?: number;
}

export interface GenerateResult {
  /** The prompt as the model saw it (the tokenizer's special tokens included, e.g. BOS). */
  promptIds: number[];
  /** The generated tokens, the final EOS included when the model emitted one. */
  ids: number[];
  /** True when generation stopped at EOS, false when it reached maxNewTokens. */
  stoppedAtEos: boolean;
  /** The continuation's text: the prompt and generated tokens decoded together, less the decoded prompt. */
  text: string;
}

/** The index of the first maximum of row `o … o + n` of `logits` (ties go to the lowest id, as torch.argmax). */
export function argmaxRow(logits: Float32Array, o: number, n: number): number {
  let best = 0;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = logits[o + i]!;
    if (v > max) {
      max = v;
      best = i;
    }
  }
  return best;
}

/**
 * One draw from softmax(row / temperature), in float64: the inverse of the cumulative distribution at u ∈ [0, 1)
 * (u from the run's mulberry32 stream), so a seed gives the same tokens on every machine.
 */
export function sampleRow(logits: Float32Array, o: number, n: number, temperature: number, u: number): number {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[o + i]!);
  const p = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += p[i] = Math.exp((logits[o + i]! - max) / temperature);
  const target = u * sum;
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += p[i]!;
    if (target < acc) return i;
  }
  // rounding left u·sum at the very top: the last token with any weight
  for (let i = n - 1; i > 0; i--) if (p[i]! > 0) return i;
  return 0;
}

function checkOptions(o: GenerateOptions): void {
  if (!Number.isInteger(o.maxNewTokens) || o.maxNewTokens < 1) {
    throw new AutoRoundError('E_BAD_FLAG', `--max_new_tokens must be an integer ≥ 1, got ${o.maxNewTokens}`, { subject: '--max_new_tokens' });
  }
  const t = o.temperature ?? 0;
  if (!Number.isFinite(t) || t < 0) throw new AutoRoundError('E_BAD_FLAG', `--temperature must be a finite number ≥ 0 (0: greedy), got ${t}`, { subject: '--temperature' });
  if (o.seed !== undefined && !Number.isInteger(o.seed)) throw new AutoRoundError('E_BAD_FLAG', `--seed must be an integer, got ${o.seed}`, { subject: '--seed' });
}

/**
 * Generates up to `maxNewTokens` tokens after `prompt` from the model folder `dir` (float checkpoint or any
 * folder an installed exporter reads back: auto_round, auto_gptq, auto_awq, llm_compressor, fake, gguf).
 */
export function generateFromFolder(registry: Registry, dir: string, backend: KernelBackend, prompt: string, options: GenerateOptions): GenerateResult {
  checkOptions(options);
  const model = openModel(registry, dir);
  try {
    const tokenizer = tokenizerOf(registry, model);
    const promptIds = tokenizer.encode(prompt);
    if (promptIds.length === 0) throw new AutoRoundError('E_BAD_FLAG', `--prompt ${JSON.stringify(prompt)} tokenizes to no token (and the tokenizer adds no BOS)`, { subject: '--prompt' });
    const maxPositions = Number(model.config.max_position_embeddings ?? Infinity);
    const total = promptIds.length + options.maxNewTokens;
    if (total > maxPositions) {
      throw new AutoRoundError('E_SEQLEN', `the prompt (${promptIds.length} tokens) and --max_new_tokens ${options.maxNewTokens} make ${total} positions; ${dir} allows ${maxPositions} (max_position_embeddings)`, { subject: '--max_new_tokens' });
    }
    const lm = registry.architecture(model.spec.architecture, model.dir).load(model.spec, weightsOf(registry, model), backend);
    if (!isDecoding(lm)) throw new AutoRoundError('E_UNSUPPORTED', `${dir}: the ${model.spec.architecture} plugin has no key/value-cache decoder, which generate needs`, { subject: dir });
    const V = model.spec.vocabSize;
    for (const id of promptIds) {
      if (!Number.isInteger(id) || id < 0 || id >= V) throw new AutoRoundError('E_TOKEN', `--prompt: token id ${id} is outside the model's vocabulary of ${V}`, { subject: '--prompt' });
    }
    const decoder = lm.decoder(total, 1);
    const temperature = options.temperature ?? 0;
    const random = mulberry32(options.seed ?? 42);
    let logits: Float32Array = new Float32Array(0);
    for (const id of promptIds) logits = decoder.stepBatch(Int32Array.of(id));
    const ids: number[] = [];
    let stoppedAtEos = false;
    for (let k = 0; k < options.maxNewTokens; k++) {
      for (let i = 0; i < V; i++) {
        if (!Number.isFinite(logits[i]!)) {
          throw new AutoRoundError('E_NONFINITE', `${dir}: the logits after ${promptIds.length + k} positions hold ${logits[i]} (token ${i}); the weights or a kernel are broken`, { subject: dir });
        }
      }
      const next = temperature === 0 ? argmaxRow(logits, 0, V) : sampleRow(logits, 0, V, temperature, random());
      ids.push(next);
      if (next === tokenizer.eosTokenId) {
        stoppedAtEos = true;
        break;
      }
      if (k + 1 < options.maxNewTokens) logits = decoder.stepBatch(Int32Array.of(next));
    }
    const shown = stoppedAtEos ? ids.slice(0, -1) : ids;
    // decoding the continuation alone would lose a SentencePiece word's leading space: decode both, cut the prompt
    const head = tokenizer.decode(promptIds);
    const all = tokenizer.decode([...promptIds, ...shown]);
    const text = all.startsWith(head) ? all.slice(head.length) : tokenizer.decode(shown);
    return { promptIds, ids, stoppedAtEos, text };
  } finally {
    model.checkpoint.close();
  }
}
