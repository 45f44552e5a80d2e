// npm run bench -- ceiling [--seconds S] [--trials N]
// The machine's float32 FMA ceiling, measured now: a native loop of independent AVX-512 FMAs
// (24 zmm accumulator chains, no memory traffic) on every core at once, best of N trials.
// Also one core alone (the baseline for the all-core ratio) and AVX2 for comparison.
import { cpus, loadavg } from 'node:os';
import { native, nativeLoadError } from '@autoround/kernels-cpu';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const seconds = arg('seconds', 0.4);
const trials = arg('trials', 5);

if (!native) {
  console.error(`ceiling: the native addon is not built (${nativeLoadError})`);
  process.exit(1);
}
const addon = native;
const threads = addon.hardwareThreads();
const best = addon.detectIsa();
console.log(`ceiling: ${cpus()[0]?.model ?? 'cpu'}, ${threads} hardware threads, best micro-kernel ${best}; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
if (best === 'generic') {
  console.error('ceiling: this CPU has neither AVX-512 nor AVX2+FMA');
  process.exit(1);
}

function measure(isa: 'avx512' | 'avx2', t: number) {
  const runs: number[] = [];
  let cpu = 0;
  for (let i = 0; i < trials; i++) {
    const c = addon.fmaCeiling(isa, t, seconds);
    runs.push(c.gflops);
    cpu = Math.max(cpu, c.cpuGflops);
  }
  runs.sort((x, y) => x - y);
  return { best: runs[runs.length - 1]!, median: runs[Math.floor(runs.length / 2)]!, cpu };
}

const isa = best === 'avx512' ? 'avx512' : 'avx2';
const one = measure(isa, 1);
const all = measure(isa, threads);
console.log(`  ${isa} x1 thread : best ${one.best.toFixed(1)} GFLOP/s, median ${one.median.toFixed(1)}`);
console.log(`  ${isa} x${threads} threads: best ${all.best.toFixed(1)} GFLOP/s, median ${all.median.toFixed(1)}; ${all.cpu.toFixed(1)} per core-second`);
const lines: object[] = [
  {
    bench: 'ceiling',
    isa,
    threads,
    gflops: +all.best.toFixed(2),
    median_gflops: +all.median.toFixed(2),
    per_core_gflops: +one.best.toFixed(2),
    // per CPU-second the threads ran: one core's rate, whatever else the machine is doing
    cpu_gflops: +all.cpu.toFixed(2),
    load_average: +loadavg()[0]!.toFixed(2),
    // all-core ceiling against the single-core one measured in this run, times the cores
    ratio: +(all.best / (one.best * threads)).toFixed(4),
  },
];
if (isa === 'avx512') {
  const avx2 = measure('avx2', threads);
  console.log(`  avx2   x${threads} threads: best ${avx2.best.toFixed(1)} GFLOP/s, median ${avx2.median.toFixed(1)}`);
  // 256-bit FMAs against 512-bit ones
  lines.push({ bench: 'ceiling', isa: 'avx2', threads, gflops: +avx2.best.toFixed(2), median_gflops: +avx2.median.toFixed(2), ratio: +(avx2.best / all.best).toFixed(4) });
}
for (const l of lines) console.log(JSON.stringify(l));
