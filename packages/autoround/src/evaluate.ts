import { existsSync, readFileSync } from 'node:fs';
import { Tensor } from '@autoround/core-tensor';
import { AutoRoundError, type CausalLM, type KernelBackend, type QuantizedWeight, type Registry, type WeightSource } from '@autoround/core';
import { perplexity, type PerplexityResult } from '@autoround/eval';
import { OverlayWeights, loadTokenizer, type TextTokenizer } from '@autoround/models';
import { type LoadedModel, openModel } from './pipeline.js';

/** A model folder's weights: plain float checkpoints as they are, quantized folders through their format's reader. */
export function weightsOf(registry: Registry, model: LoadedModel): WeightSource {
  if (!model.config.quantization_config) return model.checkpoint;
  const reader = registry.exporters.find((e) => e.detect?.(model.config) && e.read);
  if (!reader) {
    const qm = (model.config.quantization_config as { quant_method?: string }).quant_method;
    throw new AutoRoundError('E_UNSUPPORTED', `${model.dir}: no installed format can read quant_method "${qm}"`, { subject: model.dir });
  }
  return reader.read!(model.dir, model.config);
}

export function readText(file: string): string {
  if (!existsSync(file)) throw new AutoRoundError('E_NOT_FOUND', `evaluation text ${file} does not exist`, { subject: file });
  return readFileSync(file, 'utf8');
}

export interface EvalTextOptions {
  seqlen: number;
  maxTokens?: number;
}

/** Tokenizes once; evaluates any number of weight variants of the same model on it. */
export class PerplexityBench {
  readonly ids: Int32Array;
  readonly tokenizer: TextTokenizer;
  constructor(
    readonly registry: Registry,
    readonly model: LoadedModel,
    readonly backend: KernelBackend,
    text: string,
    readonly options: EvalTextOptions,
  ) {
    this.tokenizer = loadTokenizer(model.dir);
    this.ids = Int32Array.from(this.tokenizer.encode(text, { addSpecialTokens: false }));
  }

  private load(weights: WeightSource): CausalLM {
    return this.registry.architecture(this.model.spec.architecture, this.model.dir).load(this.model.spec, weights, this.backend);
  }

  run(weights: WeightSource = weightsOf(this.registry, this.model)): PerplexityResult {
    return perplexity(this.load(weights), this.ids, {
      seqlen: this.options.seqlen,
      ...(this.tokenizer.bosTokenId !== undefined ? { bosTokenId: this.tokenizer.bosTokenId } : {}),
      ...(this.options.maxTokens !== undefined ? { maxTokens: this.options.maxTokens } : {}),
    });
  }

  /** Perplexity with quantized layers replaced by their QDQ weights. */
  runQuantized(qdq: ReadonlyMap<string, QuantizedWeight>): PerplexityResult {
    const over = new Map<string, Tensor<'F32'>>();
    for (const [name, q] of qdq) over.set(`${name}.weight`, Tensor.f32([...q.shape], q.qdq));
    return this.run(new OverlayWeights(this.model.checkpoint, over));
  }
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
