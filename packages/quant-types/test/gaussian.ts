import { mulberry32 as rng } from '@autoround/testing';

/** n seeded normal values of standard deviation `sigma` (Box–Muller), the codec tests' random rows. */
export function gaussian(n: number, seed: number, sigma = 1 / 16): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = sigma * Math.sqrt(-2 * Math.log(r() + 1e-300)) * Math.cos(2 * Math.PI * r());
  return x;
}
