// Compares a packed export against the fake export of the same run, layer by layer, using an
// independent decoder for the packed layout (see independent-*.ts).
import { expect } from 'vitest';
import { f32Of, readSafetensors } from './independent-reader.js';

export type Tensors = ReturnType<typeof readSafetensors>;

/** Decodes `layer` from the packed folder's tensors, or returns undefined when the layer is not packed there. */
export type Decoder = (packed: Tensors, layer: string) => Float32Array | undefined;

/**
 * Every weight of the fake export either decodes from the packed folder to the same float32 value,
 * or (kept tensors) is stored byte for byte as in the fake export and the source. Returns the
 * number of packed layers.
 */
export function comparePackedWithFake(packedDir: string, fakeDir: string, sourceDir: string, decode: Decoder): number {
  const packed = readSafetensors(packedDir);
  const fake = readSafetensors(fakeDir);
  const src = readSafetensors(sourceDir);
  let layers = 0;
  for (const [name, t] of fake) {
    const layer = name.replace(/\.weight$/, '');
    const w = name.endsWith('.weight') ? decode(packed, layer) : undefined;
    if (w) {
      const f = f32Of(t);
      expect(w.length).toBe(f.length);
      // equal as float32 values; the sign of a zero is not stored by integer codes (the fake export
      // may hold −0 where round() gave −0, a decoder computes scale · 0)
      for (let i = 0; i < f.length; i++) if (w[i] !== f[i]) throw new Error(`${packedDir}: ${layer} element ${i} decodes to ${w[i]}, the fake export holds ${f[i]}`);
      expect(packed.has(name)).toBe(false);
      layers++;
    } else {
      if (!packed.has(name)) throw new Error(`${packedDir}: kept tensor ${name} is missing`);
      expect(packed.get(name)!.dtype).toBe(src.get(name)!.dtype);
      expect(Buffer.compare(packed.get(name)!.bytes, t.bytes)).toBe(0);
      expect(Buffer.compare(src.get(name)!.bytes, t.bytes)).toBe(0);
    }
  }
  return layers;
}

/** Asserts two float32 arrays hold the same values (±0 equal), naming the first difference. */
export function expectSameValues(what: string, a: Float32Array, b: Float32Array): void {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) throw new Error(`${what}: element ${i} is ${a[i]}, expected ${b[i]}`);
}
