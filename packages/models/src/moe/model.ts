import type { KernelBackend, LoadOptions, ModelSpec, WeightSource } from '@autoround/core';
import { checkTensorShape } from '@autoround/core';
import type { BlockLinearTensors, BlockTensors } from '../float-ops.js';
import { type BlockFn, LlamaModel } from '../llama/model.js';
import { moeBlock, moeBlockShape } from './block.js';
import { type MoeDims, type MoeVariant, moeDims } from './dims.js';
import { moeRouterNames } from './spec.js';

/**
 * A loaded mixture-of-experts model: LlamaModel's embeddings, head, forward, tuning graph and key/value-cache
 * decoder, each block run as moeBlock. The routers (and Qwen2-MoE's shared-expert gate) join each block's tensors
 * beside its linears, read by the block's `routerLogits` only.
 */
export class MoeModel extends LlamaModel {
  readonly moe: MoeDims;
  private readonly variant: MoeVariant;

  constructor(spec: ModelSpec, weights: WeightSource, backend: KernelBackend, variant: MoeVariant, options: LoadOptions = {}) {
    super(spec, weights, backend, { name: variant.name, hfArchitectures: variant.hfArchitectures, adjust: (x, c) => (variant.attention ? variant.attention(x, c) : x) }, options);
    this.variant = variant;
    this.moe = moeDims(spec.config, 'config.json', variant);
    // blocks read at load get their routers here; lazily read ones in loadBlock
    this.blocks.forEach((own, i) => {
      if (own) this.blocks[i] = this.withRouters(i, own, weights);
    });
  }

  protected override loadBlock(index: number, weights: WeightSource): BlockTensors {
    return this.withRouters(index, super.loadBlock(index, weights), weights);
  }

  /** A sparse block's tensors with its routers (and Qwen2-MoE's shared-expert gate) beside its linears. */
  private withRouters(index: number, own: BlockTensors, weights: WeightSource): BlockTensors {
    if (!this.moe.sparse[index]) return own;
    const prefix = this.spec.blocks[index]!.prefix;
    const linears = new Map<string, BlockLinearTensors>(own.linears);
    for (const r of moeRouterNames(this.moe, this.variant)) {
      const name = `${prefix}.${r}.weight`;
      const t = weights.readFloat32(name);
      checkTensorShape(this.spec, name, t.shape, 'model weights');
      linears.set(r, { weight: t.data, inFeatures: t.shape[1]!, outFeatures: t.shape[0]! });
    }
    return { norms: own.norms, linears };
  }

  override blockFn(index: number): BlockFn {
    const shape = moeBlockShape(this.moe, this.variant, index);
    return (ops, x) => moeBlock(ops, shape, x);
  }
}
