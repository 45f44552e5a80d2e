/**
 * A seeded mulberry32 stream of numbers in [0, 1): small, fast and the same on every machine. The demo model's
 * weights, `--dataset self`'s sampled tokens and the tests' generated inputs all draw from it.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
