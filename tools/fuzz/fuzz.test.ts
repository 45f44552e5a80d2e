// Every fuzz target with a small budget: zero crashes and hangs (npm run fuzz runs the real budgets; docs/fuzzing.md).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applyMutations, lengthFields } from './mutate.js';
import { fuzzTarget } from './engine.js';
import { TARGETS, type FuzzTarget } from './targets.js';

const ITERATIONS = 60;

describe('fuzz targets (small budget)', () => {
  for (const t of TARGETS) {
    it(`${t.name}: ${ITERATIONS} mutated inputs, no crash, no hang`, async () => {
      const lines: string[] = [];
      const r = await fuzzTarget(t, { iterations: ITERATIONS, seed: 7, log: (l) => lines.push(l) });
      expect(r, lines.join('\n')).toEqual({ fuzz: t.name, inputs: ITERATIONS, crashes: 0, hangs: 0, stack_traces: 0 });
    });
  }
});

describe('the harness finds what it is for', () => {
  it('counts a thrown TypeError as a crash with a stack trace, prints the shrunk input, and goes on', async () => {
    const target: FuzzTarget = {
      name: 'planted',
      what: 'a reader with a planted bug: a TypeError whenever byte 3 is odd',
      seeds: async () => [{ name: 'eight', files: [{ rel: 'x.bin', bytes: new Uint8Array(8), kind: 'binary', fields: [] }], fixed: [] }],
      run: (_dir, file) => {
        const b = readFileSync(file);
        if (b.length > 3 && b[3]! & 1) throw new TypeError('planted');
        return b.length;
      },
    };
    const lines: string[] = [];
    const r = await fuzzTarget(target, { iterations: 500, seed: 1, maxFailures: 2, log: (l) => lines.push(l) });
    expect(r.crashes).toBeGreaterThanOrEqual(1);
    expect(r.stack_traces).toBe(r.crashes);
    expect(r.inputs).toBeLessThanOrEqual(500);
    expect(lines[0]).toMatch(/^fuzz planted: crash: TypeError: planted/);
    expect(lines[0]).toMatch(/mutations: \[/);
    expect(lines[0]).toMatch(/input \(\d+ bytes, saved to .*\): [0-9a-f]+/);
  });

  it('counts an input slower than the hang limit as a hang', async () => {
    const target: FuzzTarget = {
      name: 'slow',
      what: 'a reader that takes 30 ms on every input',
      seeds: async () => [{ name: 'one', files: [{ rel: 'x.bin', bytes: new Uint8Array(4), kind: 'binary', fields: [] }], fixed: [] }],
      run: () => new Promise((res) => setTimeout(res, 30)),
    };
    const r = await fuzzTarget(target, { iterations: 5, seed: 1, hangMs: 10, maxFailures: 1, log: () => {} });
    expect(r.hangs).toBe(1);
    expect(r.crashes).toBe(0);
  });

  it('mutates a safetensors header as JSON and keeps its length field right', () => {
    const header = new TextEncoder().encode(JSON.stringify({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }));
    const bytes = new Uint8Array(8 + header.length + 4);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(header, 8);
    const out = applyMutations(bytes, 'safetensors', lengthFields(bytes), [{ op: 'json', node: 1, mutant: { set: 'I32' } }]);
    const n = Number(new DataView(out.buffer, out.byteOffset).getBigUint64(0, true));
    expect(JSON.parse(new TextDecoder().decode(out.subarray(8, 8 + n)))).toEqual({ a: { dtype: 'I32', shape: [1], data_offsets: [0, 4] } });
    expect(out.length - 8 - n).toBe(4);
    expect(lengthFields(bytes)).toEqual([0]);
  });
});
