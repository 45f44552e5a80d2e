// Runs golden cases in this process and prints their hashes as JSON with the wall time of each, to
// check determinism across processes and thread counts (golden-outputs.test.ts checks against the file):
//   node --conditions=source --import tsx tools/golden/record.ts [--threads N] [--backend B] [--isa avx512|avx2|generic] [name-substring …]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { native, type NativeIsa } from '@autoround/kernels-cpu';
import { GOLDEN_CASES, runCase, writeCalibration } from './cases.js';

const args = process.argv.slice(2);
const take = (flag: string): string | undefined => {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args.splice(i, 2)[1];
};
const threads = take('--threads');
const backend = take('--backend');
const isa = take('--isa');
// the native micro-kernel (the best the CPU has unless pinned): results must not depend on it either
if (isa && !native?.setIsa(isa as NativeIsa)) throw new Error(`--isa ${isa}: not available here`);
const work = mkdtempSync(join(tmpdir(), 'autoround-golden-'));
writeCalibration(work);
process.chdir(work);
const result: Record<string, { ms: number; files: Record<string, string> }> = {};
try {
  for (const [i, c] of GOLDEN_CASES.entries()) {
    if (args.length && !args.some((a) => c.name.includes(a))) continue;
    const t0 = performance.now();
    const files = await runCase(c, join(work, `out-${i}`), { ...(threads ? { threads: Number(threads) } : {}), ...(backend ? { backend } : {}) });
    result[c.name] = { ms: Math.round(performance.now() - t0), files };
    process.stderr.write(`${c.name}: ${result[c.name]!.ms} ms\n`);
  }
} finally {
  process.chdir(tmpdir());
  rmSync(work, { recursive: true, force: true });
}
console.log(JSON.stringify(result, null, 1));
