import { describe, expect, it } from 'vitest';
import { presetScheme } from '@autoround/core';
import { mulberry32 } from '@autoround/testing';
import { bitCountOf, ggufBits, layerBits, resolveOptions, solveKnapsack, type Choice } from '../src/index.js';

/** Every combination of choices, the least loss within the budget (float64 sums, in unit order). */
function bruteForce(units: Choice[][], budget: number): number | undefined {
  let best: number | undefined;
  const walk = (u: number, cost: number, loss: number) => {
    if (cost > budget) return;
    if (u === units.length) {
      if (best === undefined || loss < best) best = loss;
      return;
    }
    for (const c of units[u]!) walk(u + 1, cost + c.cost, loss + c.loss);
  };
  walk(0, 0, 0);
  return best;
}

describe('solveKnapsack', () => {
  it('matches brute force on small random instances', () => {
    const r = mulberry32(17);
    let solved = 0;
    for (let trial = 0; trial < 300; trial++) {
      const nu = 1 + Math.floor(r() * 7);
      const nc = 1 + Math.floor(r() * 4);
      // costs with ties and losses that fall as cost rises (as real options do) or not at all (random)
      const monotone = r() < 0.5;
      const units = Array.from({ length: nu }, () => {
        const cs = Array.from({ length: nc }, () => ({ cost: 1 + Math.floor(r() * 20), loss: r() * 10 }));
        if (monotone) {
          cs.sort((a, b) => a.cost - b.cost);
          const ls = cs.map((c) => c.loss).sort((a, b) => b - a);
          cs.forEach((c, i) => ((c as { loss: number }).loss = ls[i]!));
        }
        return cs;
      });
      const total = units.reduce((a, u) => a + Math.max(...u.map((c) => c.cost)), 0);
      const least = units.reduce((a, u) => a + Math.min(...u.map((c) => c.cost)), 0);
      // mostly between the cheapest and the dearest total, sometimes just below the cheapest (infeasible)
      const budget = Math.floor(least * 0.95 + r() * (total * 1.05 - least * 0.95));
      const want = bruteForce(units, budget);
      if (want === undefined) {
        expect(() => solveKnapsack(units, budget)).toThrow(/budget/);
        continue;
      }
      const got = solveKnapsack(units, budget);
      const cost = got.picks.reduce((a, k, u) => a + units[u]![k]!.cost, 0);
      const loss = got.picks.reduce((a, k, u) => a + units[u]![k]!.loss, 0);
      expect(cost).toBe(got.cost);
      expect(cost).toBeLessThanOrEqual(budget);
      expect(loss).toBeCloseTo(got.loss, 9);
      expect(loss).toBeCloseTo(want, 9);
      solved++;
    }
    expect(solved).toBeGreaterThan(200);
  });

  it('prefers the cheaper of two equal losses', () => {
    const got = solveKnapsack([[{ cost: 5, loss: 1 }, { cost: 3, loss: 1 }]], 10);
    expect(got.picks).toEqual([1]);
  });
});

describe('layerBits (the original compute_layer_bits)', () => {
  it('counts int scales and zero points, GGUF double quant, and weights only with ignore_scale_zp_bits', () => {
    // W4A16: 4 bits + (16 scale + 4 zp) per group of 128
    expect(layerBits(presetScheme('W4A16'), 256, 768)).toBe(4 * 256 * 768 + 256 * 6 * 20);
    expect(layerBits(presetScheme('W4A16'), 256, 768) / (256 * 768)).toBeCloseTo(4.15625, 10);
    expect(layerBits(presetScheme('W2A16'), 256, 768, true)).toBe(2 * 256 * 768);
    // per-row and per-tensor groups
    expect(layerBits({ ...presetScheme('W8A16'), group_size: -1 }, 10, 64)).toBe(8 * 640 + 10 * 24);
    expect(layerBits({ ...presetScheme('W8A16'), group_size: 0 }, 10, 64)).toBe(8 * 640 + 24);
    // q4_k: 4·256 + 8 groups·6·2 + 1 super-group·64 per 256 weights
    expect(layerBits(presetScheme('GGUF:Q4_K_S'), 1, 256)).toBe(1024 + 96 + 64);
    // q6_k: 6·256 + 16·8·2 + 64
    expect(layerBits(presetScheme('GGUF:Q6_K'), 1, 256)).toBe(1536 + 256 + 64);
    // q2_k: 2·256 + 16·4·2 + 64
    expect(layerBits(presetScheme('GGUF:Q2_K_S'), 1, 256)).toBe(512 + 128 + 64);
    // MXFP4: 8-bit shared scales, no zero point
    expect(layerBits(presetScheme('MXFP4'), 1, 64)).toBe(4 * 64 + 2 * 8);
  });
});

describe('the GGUF count (block types\' storage bits)', () => {
  it('charges each GGUF option its block size, with llama-quantize\'s row fallback, and only for all-GGUF option lists', () => {
    // bytes per 256-weight block · 8 / 256, independent of the quant-types table: 84, 110, 144, 176, 210 bytes
    const perWeight = (name: string, inF = 256) => ggufBits(presetScheme(name), 3, inF)! / (3 * inF);
    expect(perWeight('GGUF:Q2_K_S')).toBe(2.625);
    expect(perWeight('GGUF:Q3_K_S')).toBe(3.4375);
    expect(perWeight('GGUF:Q4_K_S')).toBe(4.5);
    expect(perWeight('GGUF:Q5_K_S')).toBe(5.5);
    expect(perWeight('GGUF:Q6_K')).toBe(6.5625);
    // Q8_0: 34 bytes per 32; Q4_0: 18 per 32
    expect(perWeight('GGUF:Q8_0')).toBe(8.5);
    expect(perWeight('GGUF:Q4_0')).toBe(4.5);
    // a row of 896 (3.5 blocks of 256): Q4_K falls back to Q5_0 (22 bytes per 32), Q6_K to Q8_0
    expect(perWeight('GGUF:Q4_K_S', 896)).toBe(5.5);
    expect(perWeight('GGUF:Q6_K', 896)).toBe(8.5);
    expect(ggufBits(presetScheme('W4A16'), 3, 256)).toBeNull();
    expect(layerBits(presetScheme('GGUF:Q3_K_S'), 2, 512, false, 'gguf')).toBe(2 * 2 * 110 * 8);
    // the original's count stays the default, and --ignore_scale_zp_bits wins over either
    expect(layerBits(presetScheme('GGUF:Q3_K_S'), 1, 256)).toBe(3 * 256 + 16 * 6 * 2 + 64);
    expect(layerBits(presetScheme('GGUF:Q3_K_S'), 1, 256, true, 'gguf')).toBe(3 * 256);
    // a non-GGUF scheme in a GGUF count (a fixed layer) keeps the original's
    expect(layerBits(presetScheme('W4A16'), 256, 768, false, 'gguf')).toBe(layerBits(presetScheme('W4A16'), 256, 768));
    expect(bitCountOf(resolveOptions(['gguf:q2_k_s,gguf:q4_k_s,gguf:q6_k']))).toBe('gguf');
    expect(bitCountOf(resolveOptions(['W2A16,W4A16']))).toBe('autoround');
    expect(bitCountOf(resolveOptions(['gguf:q2_k_s,W4A16']))).toBe('autoround');
  });
});
