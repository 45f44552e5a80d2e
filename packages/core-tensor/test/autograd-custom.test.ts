// Graph.custom: an op defined outside core-tensor (a quantizer's QDQ, a tuned offset) takes part in the tape like a
// built-in one. Checked against central finite differences of a float64 loss.
import { describe, expect, it } from 'vitest';
import { Graph, Param, type CustomOp, type KernelBackend } from '../src/index.js';

/** A gemm-less backend: these graphs use element ops only. */
const backend: KernelBackend = {
  name: 'test',
  threads: 1,
  gemm() {
    throw new Error('not used');
  },
};

/** y = c·tanh(p), a leaf-like op whose parameters p live outside the graph. */
function tanhScale(p: Param, c: number): CustomOp<Float32Array> {
  return {
    forward(out, buffers) {
      const t = buffers.float32(out.length);
      for (let i = 0; i < out.length; i++) out[i] = c * Math.tanh(p.data[i]!);
      t.set(out);
      return t;
    },
    backward(gy, t) {
      for (let i = 0; i < gy.length; i++) p.grad[i]! += gy[i]! * (c - (t[i]! * t[i]!) / c);
    },
  };
}

describe('Graph.custom', () => {
  it('computes the value and routes the gradient into the op\'s parameters (finite differences)', () => {
    const n = 7;
    const p = new Param([n], 0);
    for (let i = 0; i < n; i++) p.data[i] = Math.fround(0.3 * i - 1);
    const target = Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i)));
    const g = new Graph(backend);
    const y = g.custom([n], true, tanhScale(p, 1.5));
    const loss = g.mse(y, target);
    g.backward(loss);
    const f64 = (q: Float64Array) => q.reduce((s, v, i) => s + (1.5 * Math.tanh(v) - target[i]!) ** 2, 0) / n;
    for (let i = 0; i < n; i++) {
      const h = 1e-4;
      const up = Float64Array.from(p.data);
      const dn = Float64Array.from(p.data);
      up[i]! += h;
      dn[i]! -= h;
      expect(p.grad[i]!).toBeCloseTo((f64(up) - f64(dn)) / (2 * h), 4);
      expect(y.data[i]!).toBeCloseTo(1.5 * Math.tanh(p.data[i]!), 6);
    }
  });

  it('records nothing without gradients, and its buffers are recycled at reset', () => {
    const p = new Param([3], 0);
    const g = new Graph(backend);
    let backwards = 0;
    const op: CustomOp<null> = { forward: (out) => (out.fill(2), null), backward: () => void backwards++ };
    g.withoutGrad(() => g.custom([3], true, op));
    expect(g.tapeLength).toBe(0);
    g.reset();
    const y = g.custom([3], true, op);
    expect(g.tapeLength).toBe(1);
    g.backward(g.mse(y, new Float32Array(3)));
    expect(backwards).toBe(1);
    const held: number[] = [];
    for (let k = 0; k < 3; k++) {
      g.reset();
      g.custom([3], true, tanhScale(p, 1));
      held.push(g.heldBytes);
    }
    expect(held[2]).toBe(held[1]);
  });
});

describe('Graph.straightThrough', () => {
  it('takes the value of f(x) exactly and passes the gradient to x unchanged', () => {
    const g = new Graph(backend);
    const x = g.leaf(new Float32Array([0.3, -1.26, 2.5, 0]), [2, 2]);
    const y = g.straightThrough(x, (xd, out) => {
      for (let i = 0; i < xd.length; i++) out[i] = Math.round(xd[i]! * 2) / 2;
    });
    expect(Array.from(y.data)).toEqual([0.5, -1.5, 2.5, 0]);
    const z = g.mul(y, g.input(new Float32Array([1, 2, 3, 4]), [2, 2]));
    g.backward(z, new Float32Array([1, 1, 1, 1]));
    expect(Array.from(x.grad!)).toEqual([1, 2, 3, 4]);
  });
  it('without a gradient-requiring input records nothing', () => {
    const g = new Graph(backend);
    const y = g.straightThrough(g.input(new Float32Array([1, 2]), [2]), (xd, out) => out.set(xd));
    expect(y.requiresGrad).toBe(false);
  });
});
