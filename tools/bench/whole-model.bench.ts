// npm run bench -- whole-model [--blocks N] [--seqlen 512,2048] [--iters 10,4] [--nsamples 128] [--phases rtn,gguf,signround] [--type q4_k_m] [--threads N] [--keep]
//
// Issue #20, item 3 (docs/perf/whole-model.md): a Qwen2.5-0.5B-shaped checkpoint (24 blocks, hidden 896,
// intermediate 4864, 14/2 heads, vocab 151936, tied embeddings, q/k/v biases, bf16, one ~1 GB shard, random
// weights of σ 0.02; @autoround/testing's writeQwen25Shaped) is generated in a temp folder and quantized by the
// CLI's own entry point (`main`, from the TypeScript sources, as `auto-round` would run it), each phase in a
// child process so that its peak RSS is its own:
//   baseline   the CLI on a 2-block toy of the same family: the runtime's own RSS (Node, modules, native addon);
//   rtn        `auto-round --iters 0 --disable_opt_rtn --format auto_round` on the whole model;
//   gguf       `auto-round --iters 0 --disable_opt_rtn --format gguf:q4_k_m` on the whole model;
//   signround  `auto-round --iters I --nsamples 128 --seqlen S` on the whole model, stopped after block N by the
//              test hook AUTOROUND_TEST_EXIT_AFTER_BLOCK (it kills the run right after block N's resume state is
//              saved); each block's time from its log lines, split into tuning (the block line's seconds, which
//              scale with iterations) and the rest (forward passes, exporting, saving), projected to 24 blocks
//              with the default recipe's 200 iterations and auto-round-light's 50 (same batch 8, nsamples 128:
//              the same work per iteration).
// Peak RSS is the child's VmHWM (polled, and read by the child itself when it exits normally). For SignRound the
// bench prints the memory formula of docs/perf/whole-model.md#peak-rss next to the measured peak. Ends with one
// JSON line per result; the temp folder is deleted afterwards.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { QWEN25_05B, writeQwen25Shaped, writeQwen25ShapedCalibration } from '@autoround/testing';
import { peakRssMiB } from './peak-rss.js';

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
};
const list = (s: string) => s.split(',').map((x) => Number(x.trim()));
const MB = 1e6;
/** nsamples of the default and light recipes (docs/algorithms/schemes.md#recipes). */
const RECIPE_NSAMPLES = 128;
/** The k-th value of a per-seqlen list, or its last. */
const pick = (xs: number[], k: number) => xs[Math.min(k, xs.length - 1)]!;
const MiB = 1048576;

/** Child side: run the CLI's main in this process, then report seconds and peak RSS. */
async function child(): Promise<void> {
  const sep = process.argv.indexOf('--');
  const [recipe, ...argv] = process.argv.slice(sep + 1);
  const { main } = await import('@autoround/cli');
  const t0 = performance.now();
  const rc = await main(argv, recipe);
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(`PHASE ${JSON.stringify({ rc, seconds, maxRssMiB: peakRssMiB() })}\n`);
  process.exitCode = rc;
}

interface Line {
  t: number;
  /** CPU seconds (user + system) of the child when the line arrived. */
  cpu: number;
  text: string;
}
interface PhaseRun {
  seconds: number;
  /** CPU seconds of the child (its last reading before it exited). */
  cpu: number;
  peakMiB: number;
  lines: Line[];
  killed: boolean;
}

/** User + system CPU seconds of a live process (Linux /proc, clock ticks of 1/100 s), or NaN. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** VmHWM of a live process in MiB (Linux), or 0. */
function hwm(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** Runs `recipe argv…` in a child; every output line is timestamped on arrival (seconds from the start). */
function phase(name: string, recipe: string, argv: string[], env: Record<string, string> = {}): Promise<PhaseRun> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn(process.execPath, [...process.execArgv, self, '--child', '--', recipe, ...argv], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: Line[] = [];
    let peak = 0;
    let cpu = 0;
    const poll = setInterval(() => {
      peak = Math.max(peak, hwm(c.pid!));
      const u = cpuSeconds(c.pid!);
      if (u >= cpu) cpu = u;
    }, 100);
    const take = (buf: { s: string }) => (d: Buffer) => {
      const t = (performance.now() - t0) / 1000;
      const u = cpuSeconds(c.pid!);
      if (u >= cpu) cpu = u;
      buf.s += d.toString('utf8');
      let k;
      while ((k = buf.s.indexOf('\n')) >= 0) {
        const text = buf.s.slice(0, k).replace(/\r/g, '');
        buf.s = buf.s.slice(k + 1);
        lines.push({ t, cpu, text });
        if (process.argv.includes('--log')) console.log(`    [${name} ${t.toFixed(1)}s] ${text}`);
      }
    };
    c.stdout.on('data', take({ s: '' }));
    c.stderr.on('data', take({ s: '' }));
    c.on('error', reject);
    c.on('exit', (code, signal) => {
      clearInterval(poll);
      const seconds = (performance.now() - t0) / 1000;
      const rep = lines.find((l) => l.text.startsWith('PHASE '));
      const own = rep ? (JSON.parse(rep.text.slice(6)) as { rc: number; maxRssMiB: number }) : null;
      const killed = signal === 'SIGKILL';
      if (!killed && (code !== 0 || !own || own.rc !== 0)) {
        reject(new Error(`whole-model: phase ${name} failed (exit ${code ?? signal}):\n${lines.slice(-30).map((l) => l.text).join('\n')}`));
        return;
      }
      resolve({ seconds, cpu, peakMiB: Math.max(peak, own?.maxRssMiB ?? 0), lines, killed });
    });
  });
}

/** The first line matching `re`, or undefined. */
const lineOf = (lines: Line[], re: RegExp): Line | undefined => lines.find((l) => re.test(l.text));

async function main(): Promise<void> {
  if (process.argv.includes('--child')) return child();
  const blocks = Number(arg('blocks', '1'));
  const seqlens = list(arg('seqlen', '512,2048'));
  const itersList = list(arg('iters', '4,2'));
  const nsamplesList = list(arg('nsamples', '128,32'));
  const phases = new Set(arg('phases', 'rtn,gguf,signround').split(','));
  const type = arg('type', 'q4_k_m');
  const threads = arg('threads', String(availableParallelism()));
  const L = QWEN25_05B.layers;
  if (!(blocks >= 1 && blocks < L)) throw new Error(`whole-model: --blocks must be 1 … ${L - 1}, got ${blocks}`);
  const root = mkdtempSync(join(tmpdir(), 'whole-model-bench-'));
  const results: Record<string, unknown>[] = [];
  const load0 = loadavg();
  console.log(`whole-model: ${cpus()[0]?.model ?? 'cpu'} × ${availableParallelism()}, ${threads} thread(s), load average ${load0.map((x) => x.toFixed(2)).join(' ')}`);
  try {
    const model = join(root, 'model');
    const tg = performance.now();
    const gen = writeQwen25Shaped(model);
    const maxSeq = Math.max(...seqlens);
    // a quarter more lines than samples: the loader drops none (each is longer than seqlen), the margin is for safety
    const calib = join(root, 'calib.jsonl');
    writeQwen25ShapedCalibration(calib, Math.ceil(Math.max(...nsamplesList) * 1.25), maxSeq);
    console.log(`generated a Qwen2.5-0.5B-shaped bf16 checkpoint: ${(gen.params / 1e6).toFixed(1)} M parameters, ${(gen.bytes / MB).toFixed(0)} MB, in ${((performance.now() - tg) / 1000).toFixed(1)} s`);
    const toy = join(root, 'toy');
    // the runtime baseline: Node, the modules, the native addon, the real vocabulary's tokenizer and the calibration
    // text, in a SignRound run of a toy (hidden 64, 2 blocks: its tensors and activations are a few MiB)
    writeQwen25Shaped(toy, { layers: 2, hidden: 64, intermediate: 128, heads: 4, kvHeads: 2 });
    const common = ['--threads', threads, '--skip_sanity_check'];
    const toyRun = () => {
      rmSync(join(root, 'out-toy'), { recursive: true, force: true });
      return phase('baseline', 'auto-round', ['--model', toy, '--iters', '1', '--nsamples', '8', '--seqlen', '64', '--dataset', calib, '--format', 'auto_round', '--output_dir', join(root, 'out-toy'), ...common]);
    };
    // twice: the first run may transpile changed sources (tsx's cache), which the phases after it do not
    await toyRun();
    const base = await toyRun();
    console.log(`runtime baseline (SignRound on a toy of hidden 64 with the real vocabulary): peak RSS ${base.peakMiB.toFixed(0)} MiB`);
    const inputMB = gen.bytes / MB;

    for (const [key, fmt] of [['rtn', 'auto_round'], ['gguf', `gguf:${type}`]] as const) {
      if (!phases.has(key)) continue;
      const out = join(root, `out-${key}`);
      const r = await phase(key, 'auto-round', ['--model', model, '--iters', '0', '--disable_opt_rtn', '--format', fmt, '--output_dir', out, ...common]);
      rmSync(out, { recursive: true, force: true });
      console.log(`RTN → ${fmt}: ${r.seconds.toFixed(1)} s (${r.cpu.toFixed(1)} CPU-s), ${(inputMB / r.seconds).toFixed(1)} MB/s of input weights (bf16), peak RSS ${r.peakMiB.toFixed(0)} MiB`);
      results.push({ bench: 'whole-model', case: `rtn-${fmt}`, input_mb: Math.round(inputMB), seconds: +r.seconds.toFixed(2), cpu_s: +r.cpu.toFixed(1), mb_per_s: +(inputMB / r.seconds).toFixed(1), peak_rss_mib: Math.round(r.peakMiB), baseline_rss_mib: Math.round(base.peakMiB), ratio: +(r.peakMiB / base.peakMiB).toFixed(2) });
    }

    if (phases.has('signround')) {
      for (let k = 0; k < seqlens.length; k++) {
        const S = seqlens[k]!;
        const I = pick(itersList, k);
        const n = pick(nsamplesList, k);
        const out = join(root, `out-sr-${S}`);
        const r = await phase(`signround-${S}`, 'auto-round', ['--model', model, '--iters', String(I), '--nsamples', String(n), '--seqlen', String(S), '--dataset', calib, '--format', 'auto_round', '--output_dir', out, ...common], { AUTOROUND_TEST_EXIT_AFTER_BLOCK: String(blocks) });
        rmSync(out, { recursive: true, force: true });
        rmSync(join(root, `.out-sr-${S}.resume`), { recursive: true, force: true });
        if (!r.killed) throw new Error(`whole-model: the SignRound run at seqlen ${S} finished instead of stopping after block ${blocks}`);
        // the loop's start: SignRound's line on its cached inputs (after loading the model and embedding the samples)
        const first = lineOf(r.lines, /^SignRound: .*cached/);
        if (!first) throw new Error(`whole-model: no "SignRound: … cached" line in the log of seqlen ${S}`);
        let last = first;
        let tuneSum = 0;
        for (let b = 1; b <= blocks; b++) {
          const s = lineOf(r.lines, new RegExp(`^saved the progress after block ${b}\\b`));
          const m = r.lines.map((l) => new RegExp(`^block ${b}/${L}: .*?, ([\\d.]+) it/s, ([\\d.]+) s`).exec(l.text)).find(Boolean);
          if (!s || !m) throw new Error(`whole-model: block ${b}'s lines are missing at seqlen ${S}`);
          last = s;
          tuneSum += Number(m[2]);
        }
        // wall seconds, and CPU seconds (user + system of the run: what a loaded machine does not inflate); the
        // tuning share of a block's CPU time is taken to be its share of the wall time
        const perBlock = (last.t - first.t) / blocks;
        const perBlockCpu = (last.cpu - first.cpu) / blocks;
        const tunePerBlock = tuneSum / blocks;
        const share = tunePerBlock / perBlock;
        // the rest of a block (its forward passes over every sample, saving both streams, exporting) grows with the
        // samples; an iteration's work does not (batch 8 of them)
        const scaleN = RECIPE_NSAMPLES / n;
        const rest = (perBlock - tunePerBlock) * scaleN;
        const restCpu = perBlockCpu * (1 - share) * scaleN;
        const perIter = tunePerBlock / I;
        const perIterCpu = (perBlockCpu * share) / I;
        console.log(
          `SignRound seqlen ${S}, ${n} samples, ${I} iterations, ${blocks} block(s) measured: setup ${first.t.toFixed(1)} s (${first.cpu.toFixed(1)} CPU-s), ` +
            `per block ${perBlock.toFixed(1)} s (${perBlockCpu.toFixed(1)} CPU-s): tuning ${tunePerBlock.toFixed(1)} s = ${perIter.toFixed(2)} s (${perIterCpu.toFixed(2)} CPU-s) per iteration; ` +
            `the rest ${(perBlock - tunePerBlock).toFixed(1)} s, ${rest.toFixed(1)} s (${restCpu.toFixed(1)} CPU-s) at ${RECIPE_NSAMPLES} samples; peak RSS ${r.peakMiB.toFixed(0)} MiB`,
        );
        for (const [recipe, iters] of [['auto-round-light', 50], ['auto-round', 200]] as const) {
          const wall = first.t + L * (rest + perIter * iters);
          const cpu = first.cpu + L * (restCpu + perIterCpu * iters);
          console.log(`  projected ${recipe} (${iters} iterations, ${RECIPE_NSAMPLES} samples of ${S} tokens), ${L} blocks: ${wall.toFixed(0)} s wall here (${(wall / 3600).toFixed(2)} h), ${cpu.toFixed(0)} CPU-s (${(cpu / 3600).toFixed(2)} CPU-h)`);
          results.push({ bench: 'whole-model', case: `signround ${recipe}`, seqlen: S, measured_nsamples: n, measured_iters: I, measured_blocks: blocks, setup_s: +first.t.toFixed(1), setup_cpu_s: +first.cpu.toFixed(1), block_rest_s: +rest.toFixed(2), block_rest_cpu_s: +restCpu.toFixed(2), s_per_iter: +perIter.toFixed(3), cpu_s_per_iter: +perIterCpu.toFixed(3), projected_s: Math.round(wall), projected_cpu_s: Math.round(cpu), ratio: +(cpu / wall).toFixed(3) });
        }
        const f = rssFormula(base.peakMiB, S, n);
        const full = rssFormula(base.peakMiB, S, RECIPE_NSAMPLES);
        console.log(`  peak RSS: measured ${r.peakMiB.toFixed(0)} MiB; formula ${f.text} = ${f.mib.toFixed(0)} MiB (${r.peakMiB <= f.mib ? 'holds' : 'EXCEEDED'}); at ${RECIPE_NSAMPLES} samples the formula gives ${full.mib.toFixed(0)} MiB`);
        results.push({ bench: 'whole-model', case: 'signround peak rss', seqlen: S, measured_nsamples: n, measured_rss_mib: Math.round(r.peakMiB), formula_rss_mib: Math.round(f.mib), formula_rss_mib_at_128: Math.round(full.mib), ratio: +(r.peakMiB / f.mib).toFixed(3) });
      }
    }
    const load1 = loadavg();
    console.log(`load average at the end ${load1.map((x) => x.toFixed(2)).join(' ')}`);
    for (const r of results) console.log(JSON.stringify({ ...r, load_average: +load0[0]!.toFixed(2) }));
  } finally {
    if (process.argv.includes('--keep')) console.log(`kept ${root}`);
    else rmSync(root, { recursive: true, force: true });
  }
}

/**
 * The peak RSS SignRound may take (docs/perf/whole-model.md#peak-rss), MiB, for `nsamples` samples of S tokens and
 * micro-batches of `batch`: the runtime baseline plus the larger of two moments.
 * - Embedding the samples: the fp32 embedding (the tied lm_head shares it), its bf16 bytes as read, one stream.
 * - Tuning a block: the rotary tables; the block's weights in 8 float32 copies (the model's, the tuned copy, the
 *   rounding offsets V, their gradient, the best V, and the graph's QDQ weights, their gradients and codes: 2.5
 *   measured); the activations of one micro-batch with their gradients, 2 × (9 hidden-wide + 3 KV-wide + 3
 *   intermediate-wide) values per token (the graph holds 45,200 per token, measured) plus the input and target rows;
 *   the two cached streams (the quantized block inputs and the full-precision targets) and the one sample in flight
 *   while a stream is replaced.
 */
function rssFormula(baselineMiB: number, S: number, nsamples: number, batch = 8): { mib: number; text: string } {
  const { hidden: H, intermediate: I, heads, kvHeads, vocab: V } = QWEN25_05B;
  const D = H / heads;
  const KVD = kvHeads * D;
  const blockParams = 2 * H * (heads * D) + 2 * H * KVD + 3 * H * I + heads * D + 2 * KVD + 2 * H;
  const stream = (nsamples * S * H * 4) / MiB;
  const embedding = (V * H * 6) / MiB + stream;
  const rope = (32768 * D * 2 * 4) / MiB;
  const weights = (8 * blockParams * 4) / MiB;
  const rows = Math.min(batch, nsamples) * S;
  const acts = (rows * (2 * (9 * H + 3 * KVD + 3 * I) + 2 * H) * 4) / MiB;
  const sample = (S * H * 4) / MiB;
  const tuning = rope + weights + acts + 2 * stream + sample;
  const mib = baselineMiB + Math.max(embedding, tuning);
  const text =
    `baseline ${baselineMiB.toFixed(0)} + max(embedding ${embedding.toFixed(0)}, ` +
    `tuning: rope ${rope.toFixed(0)} + block weights ×8 ${weights.toFixed(0)} + activations of ${rows} tokens ${acts.toFixed(0)} + 2 streams ${(2 * stream).toFixed(0)} + 1 sample ${sample.toFixed(0)})`;
  return { mib, text };
}

await main();
