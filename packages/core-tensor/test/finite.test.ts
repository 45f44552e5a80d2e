import { describe, expect, it } from 'vitest';
import { Tensor, assertFinite, assertTensorFinite, firstNonFinite, fromFloat32, type DType } from '../src/index.js';

// The one finiteness check (issue #13, item 7): the host checks every tensor it writes as it is, in its
// stored dtype, so narrow floats are read by their bits; the algorithms check the float32 weights they quantize.

describe('firstNonFinite / assertTensorFinite', () => {
  const floats: DType[] = ['F32', 'F64', 'F16', 'BF16', 'F8_E5M2'];
  for (const dtype of floats) {
    for (const bad of [Number.NaN, Infinity, -Infinity]) {
      it(`${dtype}: ${bad} at element 5 of 9`, () => {
        const v = Float32Array.from({ length: 9 }, (_, i) => (i - 4) * 0.75);
        const clean = new Tensor(dtype, [3, 3], fromFloat32(dtype, v));
        expect(firstNonFinite(clean.dtype, clean.data)).toBe(-1);
        expect(() => assertTensorFinite(clean, 'w')).not.toThrow();
        v[5] = bad;
        const t = new Tensor(dtype, [3, 3], fromFloat32(dtype, v));
        expect(firstNonFinite(t.dtype, t.data)).toBe(5);
        expect(() => assertTensorFinite(t, 'model.x.weight', '/m/model.safetensors')).toThrow(`/m/model.safetensors: model.x.weight holds a non-finite value (${bad}) at element 5`);
      });
    }
  }

  it('F8_E4M3 has NaN and no infinities', () => {
    const t = new Tensor('F8_E4M3', [4], Uint8Array.of(0x00, 0x7e, 0xff, 0x7f));
    expect(firstNonFinite(t.dtype, t.data)).toBe(2);
    expect(() => assertTensorFinite(t, 'e4m3')).toThrow(/e4m3 holds a non-finite value \(NaN\) at element 2/);
  });

  it('integer tensors are finite; the largest finite floats are finite', () => {
    expect(firstNonFinite('I32', Int32Array.of(0x7f800000, -1))).toBe(-1);
    expect(firstNonFinite('F16', Uint16Array.of(0x7bff, 0xfbff))).toBe(-1);
    expect(firstNonFinite('BF16', Uint16Array.of(0x7f7f, 0xff7f))).toBe(-1);
    expect(firstNonFinite('F32', Float32Array.of(3.4028234663852886e38, -3.4028234663852886e38, 1e-45))).toBe(-1);
  });

  it('assertFinite checks a float32 view at an offset', () => {
    const a = new Float32Array(10);
    a[7] = Number.NaN;
    expect(() => assertFinite(a.subarray(4), 'x')).toThrow('x holds a non-finite value (NaN) at element 3');
    expect(() => assertFinite(a.subarray(0, 7), 'x')).not.toThrow();
  });
});
