import { numelOf } from '../dtype.js';

/**
 * A tunable leaf: float32 values plus a gradient buffer that lives as long as the parameter.
 * Every backward pass that reaches it *adds* into `grad` (as PyTorch does), so gradient
 * accumulation over micro-batches is just several backward calls; `zeroGrad()` clears it.
 */
export class Param {
  readonly shape: readonly number[];
  readonly data: Float32Array;
  readonly grad: Float32Array;
  /** When false the parameter is frozen: ops treat it as a constant. */
  requiresGrad: boolean;

  constructor(shape: readonly number[], data?: Float32Array | number, requiresGrad = true) {
    const n = numelOf(shape);
    this.shape = Object.freeze([...shape]);
    if (data instanceof Float32Array) {
      if (data.length !== n) throw new RangeError(`Param: shape [${shape.join(', ')}] needs ${n} values, got ${data.length}`);
      this.data = data;
    } else {
      this.data = new Float32Array(n);
      if (data !== undefined && data !== 0) this.data.fill(data);
    }
    this.grad = new Float32Array(n);
    this.requiresGrad = requiresGrad;
  }

  get size(): number {
    return this.data.length;
  }

  zeroGrad(): void {
    this.grad.fill(0);
  }
}
