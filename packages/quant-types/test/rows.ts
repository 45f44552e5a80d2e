import { mulberry32 as rng } from '@autoround/testing';

/** n seeded normal values of standard deviation `sigma` (Box–Muller), the codec tests' random rows. */
export function gaussian(n: number, seed: number, sigma = 1 / 16): Float32Array {
  const r = rng(seed);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = sigma * Math.sqrt(-2 * Math.log(r() + 1e-300)) * Math.cos(2 * Math.PI * r());
  return x;
}

/** Rows of ne0 with the cases that take the searches' rare branches. */
export function awkward(ne0: number, seed: number): Float32Array {
  const r = rng(seed);
  const rows = [
    new Float32Array(ne0),
    new Float32Array(ne0).fill(0.25),
    new Float32Array(ne0).fill(-3),
    gaussian(ne0, seed + 1).map((v, i) => (i % 37 === 0 ? v * 50 : v)),
    gaussian(ne0, seed + 2).map(Math.abs),
    gaussian(ne0, seed + 3).map((v) => -Math.abs(v)),
    gaussian(ne0, seed + 4, 1e-20),
    gaussian(ne0, seed + 5, 1e-7),
    gaussian(ne0, seed + 6).map((v, i) => (Math.floor(i / 16) % 3 === 0 ? 0 : v)),
    gaussian(ne0, seed + 7).map((v) => Math.round(v * 64) / 64),
    new Float32Array(ne0).map(() => (r() < 0.5 ? -1 : 1) * 0.01),
    gaussian(ne0, seed + 8, 1e4),
    new Float32Array(ne0).map((_, i) => (i % 32 === 5 ? 1 : 0)),
  ];
  const out = new Float32Array(rows.length * ne0);
  rows.forEach((row, i) => out.set(row, i * ne0));
  return out;
}
