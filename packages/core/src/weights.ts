import type { Checkpoint, Tensor } from '@autoround/core-tensor';
import type { ActivationQdq, WeightSource } from './plugin.js';

/** A checkpoint seen through replacements: quantized (QDQ) weights shadow the originals. */
export class OverlayWeights implements WeightSource {
  /**
   * `separateOutput`: the overrides hold an output matrix quantized on its own (a GGUF run that
   * names lm_head of a tied config whose checkpoint ships lm_head.weight), so the model must use it.
   */
  constructor(
    private readonly base: WeightSource | Checkpoint,
    private readonly overrides: ReadonlyMap<string, Tensor<'F32'>>,
    private readonly ownOutput = false,
    private readonly ownActivations?: ActivationQdq,
  ) {}

  /** The overlay's activation quantization (its quantized layers'), else the base's. */
  get activations(): ActivationQdq | undefined {
    return this.ownActivations ?? ('activations' in this.base ? this.base.activations : undefined);
  }

  has(name: string): boolean {
    return this.overrides.has(name) || this.base.has(name);
  }

  get separateOutput(): boolean | undefined {
    if (this.ownOutput) return true;
    return 'separateOutput' in this.base ? this.base.separateOutput : undefined;
  }

  readFloat32(name: string): Tensor<'F32'> {
    return this.overrides.get(name) ?? this.base.readFloat32(name);
  }
}
