// Issue #14: the redesign keeps every output byte. Each case of cases.ts (stories260K and llama-256: plain
// RTN, optimized RTN and SignRound 20 iterations in every int format and GGUF q4_k_m/q2_k_s, and the
// tuning flags nblocks 2, adam, lfq, norm-bias on the int and the GGUF path) is run through the API and
// the SHA-256 of every file it writes is compared with golden-outputs.json. AUTOROUND_UPDATE_GOLDEN=1
// rewrites that file: only for a deliberate numerics fix (docs/conventions.md, "Golden output hashes").
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { native, nativeLoadError } from '@autoround/kernels-cpu';
import { HAS_SHARED, NO_SHARED_REASON, tempDir } from '@autoround/testing';
import { GOLDEN_CASES, type GoldenCase, runCase, writeCalibration } from './cases.js';

const GOLDEN_FILE = join(import.meta.dirname, 'golden-outputs.json');
const UPDATE = process.env.AUTOROUND_UPDATE_GOLDEN === '1';

interface GoldenFile {
  readonly about: string;
  cases: Record<string, Record<string, string>>;
}

const ABOUT =
  'SHA-256 of every file each case of tools/golden/cases.ts writes; checked by golden-outputs.test.ts. ' +
  'Rewrite with AUTOROUND_UPDATE_GOLDEN=1 only for a deliberate numerics fix (docs/conventions.md).';

/** What differs between the golden hashes of a case and the ones just computed, one line per file. */
function describeDifferences(want: Record<string, string> | undefined, got: Record<string, string>): string[] {
  if (!want) return ['no golden hashes for this case (a new case: record them with AUTOROUND_UPDATE_GOLDEN=1)'];
  const lines: string[] = [];
  for (const f of new Set([...Object.keys(want), ...Object.keys(got)])) {
    if (!(f in got)) lines.push(`${f}: missing (expected ${want[f]!.slice(0, 12)}…)`);
    else if (!(f in want)) lines.push(`${f}: not expected (new file, ${got[f]!.slice(0, 12)}…)`);
    else if (want[f] !== got[f]) lines.push(`${f}: changed, ${want[f]!.slice(0, 12)}… → ${got[f]!.slice(0, 12)}…`);
  }
  return lines;
}

describe('describeDifferences', () => {
  it('names every changed, missing and unexpected file', () => {
    expect(describeDifferences({ a: '1'.repeat(64), b: '2'.repeat(64) }, { a: '1'.repeat(64), b: '3'.repeat(64), c: '4'.repeat(64) })).toEqual([
      `b: changed, ${'2'.repeat(12)}… → ${'3'.repeat(12)}…`,
      `c: not expected (new file, ${'4'.repeat(12)}…)`,
    ]);
    expect(describeDifferences({ a: '1'.repeat(64) }, {})).toEqual([`a: missing (expected ${'1'.repeat(12)}…)`]);
    expect(describeDifferences(undefined, {})[0]).toMatch(/no golden hashes/);
  });
});

// The hashes were recorded with the native backend's avx512 micro-kernel; avx2 sums in the same order and
// writes the same bytes (checked with record.ts --isa), while the generic kernel, wasm and js round the
// GEMM sums differently, so tuned and calibrated outputs differ there: the suite then skips.
const ISA = native?.isa();
const SKIP = !HAS_SHARED
  ? NO_SHARED_REASON
  : !native
    ? `needs the native kernel addon (${nativeLoadError ?? 'not loaded'})`
    : ISA !== 'avx512' && ISA !== 'avx2'
      ? `needs the native avx512 or avx2 micro-kernel, this machine runs ${ISA}`
      : '';

describe.skipIf(SKIP !== '')(`golden output hashes: every case writes the recorded bytes${SKIP ? ` (skipped: ${SKIP})` : ''}`, () => {
  const golden: GoldenFile = JSON.parse(readFileSync(GOLDEN_FILE, 'utf8'));
  const computed: Record<string, Record<string, string>> = {};
  // created when the suite runs (a skipped suite runs no afterAll to remove it)
  let work = { dir: '', cleanup: () => {} };
  const cwd = process.cwd();
  let n = 0;
  beforeAll(() => {
    work = tempDir('autoround-golden-');
    writeCalibration(work.dir);
    // the dataset is named relatively (cases.ts, runCase): the runs work in the temporary folder
    process.chdir(work.dir);
  });
  afterAll(() => {
    process.chdir(cwd);
    work.cleanup();
    if (UPDATE && Object.keys(computed).length) {
      // cases not run this time (vitest -t) keep their hashes; cases no longer defined are dropped
      const cases: GoldenFile['cases'] = {};
      for (const c of GOLDEN_CASES) {
        const h = computed[c.name] ?? golden.cases[c.name];
        if (h) cases[c.name] = h;
      }
      writeFileSync(GOLDEN_FILE, `${JSON.stringify({ about: ABOUT, cases }, null, 1)}\n`);
    }
  });
  const run = (c: GoldenCase, extra = {}) => runCase(c, join(work.dir, `out-${n++}`), extra);

  it('golden-outputs.json lists exactly the defined cases', () => {
    if (UPDATE) return;
    expect(Object.keys(golden.cases).sort()).toEqual(GOLDEN_CASES.map((c) => c.name).sort());
  });

  for (const c of GOLDEN_CASES) {
    it(c.name, async () => {
      const got = await run(c);
      computed[c.name] = got;
      if (UPDATE) return;
      const diff = describeDifferences(golden.cases[c.name], got);
      expect(diff, `${c.name}: output bytes differ from tools/golden/golden-outputs.json`).toEqual([]);
    });
  }

  // Cheap checks that the hashes are a property of the code and not of the run: the same case twice in
  // one process, and with one kernel thread instead of the cases' two (stories260K, a second each).
  const tuned = GOLDEN_CASES.find((c) => c.name.startsWith('stories260K/signround20/auto_round'))!;
  const gguf = GOLDEN_CASES.find((c) => c.name === 'stories260K/signround20/gguf:q4_k_m')!;
  it('a second run in the same process writes the same bytes', async () => {
    expect(await run(tuned)).toEqual(computed[tuned.name] ?? (await run(tuned)));
  });
  it('one kernel thread writes the same bytes as two', async () => {
    for (const c of [tuned, gguf]) expect(await run(c, { threads: 1 }), c.name).toEqual(computed[c.name] ?? (await run(c)));
  });
});
