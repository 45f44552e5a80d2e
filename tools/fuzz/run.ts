// npm run fuzz -- [--iterations N] [--target NAME[,NAME…]] [--seed S] [--hang-ms MS] [--kill-ms MS] [--list]
// Fuzzes every reader of outside input (tools/fuzz/targets.ts) with N inputs each and ends with one JSON line
// per target: {"fuzz": "<target>", "inputs": N, "crashes": 0, "hangs": 0, "stack_traces": 0}. Exit 1 when any
// target had a crash or a hang. docs/fuzzing.md says more.
import { parseArgs } from 'node:util';
import { fuzzTarget, type FuzzResult } from './engine.js';
import { TARGETS } from './targets.js';

const OPTIONS = {
  iterations: { type: 'string', default: '1000' },
  target: { type: 'string' },
  seed: { type: 'string', default: '42' },
  'hang-ms': { type: 'string', default: '1000' },
  'kill-ms': { type: 'string', default: '60000' },
  list: { type: 'boolean', default: false },
} as const;
const { values } = (() => {
  try {
    return parseArgs({ options: OPTIONS });
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    process.exit(1);
  }
})();

if (values.list) {
  for (const t of TARGETS) console.log(`${t.name.padEnd(16)} ${t.what}`);
  process.exit(0);
}
const positive = (flag: string, v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) {
    console.error(`error: --${flag} must be a positive integer, got ${JSON.stringify(v)}`);
    process.exit(1);
  }
  return n;
};
const iterations = positive('iterations', values.iterations);
const hangMs = positive('hang-ms', values['hang-ms']);
const killMs = positive('kill-ms', values['kill-ms']);
const seed = Number(values.seed);
const names = values.target?.split(',').map((s) => s.trim()) ?? TARGETS.map((t) => t.name);
const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
if (unknown.length) {
  console.error(`error: unknown fuzz target ${unknown.join(', ')} (targets: ${TARGETS.map((t) => t.name).join(', ')})`);
  process.exit(1);
}

const results: FuzzResult[] = [];
for (const name of names) {
  const t0 = performance.now();
  const r = await fuzzTarget(TARGETS.find((t) => t.name === name)!, { iterations, seed, hangMs, killMs });
  const s = (performance.now() - t0) / 1000;
  console.log(`${name}: ${r.inputs} inputs in ${s.toFixed(1)} s (${((r.inputs / s) | 0)}/s), ${r.crashes} crashes, ${r.hangs} hangs`);
  results.push(r);
}
for (const r of results) console.log(JSON.stringify(r));
process.exitCode = results.some((r) => r.crashes || r.hangs || r.stack_traces) ? 1 : 0;
