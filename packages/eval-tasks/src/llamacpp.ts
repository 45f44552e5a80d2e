// llama-perplexity's --hellaswag, reproduced (docs/eval/tasks.md, "HellaSwag, llama.cpp protocol"): its text
// layout, its task selection (std::mt19937 seeded 1, libstdc++'s uniform_int_distribution, drawn without
// replacement) and its score (mean log-probability of an ending's tokens after the prefix the four share).
import { AutoRoundError } from '@autoround/core-tensor';

/** A HellaSwag task as llama.cpp's text file holds it: the context, the right ending's index, four endings. */
export interface LlamaCppHellaswagTask {
  readonly context: string;
  readonly gold: number;
  readonly endings: readonly [string, string, string, string];
}

/** Parses llama.cpp's HellaSwag layout: 6 lines per task (context, label 0-3, four endings). */
export function parseLlamaCppHellaswag(text: string, path: string): LlamaCppHellaswagTask[] {
  const lines = text.split('\n');
  // getline: a final newline ends the last line, it does not start another
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  const count = Math.floor(lines.length / 6);
  if (count === 0) throw new AutoRoundError('E_DATASET_RECORD', `${path}: no HellaSwag task in it (llama.cpp's layout has 6 lines per task: context, label, 4 endings)`, { subject: path });
  const tasks: LlamaCppHellaswagTask[] = [];
  for (let i = 0; i < count; i++) {
    const l = lines.slice(i * 6, i * 6 + 6);
    const label = l[1]!.trim();
    if (!/^[0-3]$/.test(label)) throw new AutoRoundError('E_DATASET_RECORD', `${path} line ${i * 6 + 2}: the label of task ${i + 1} should be 0, 1, 2 or 3, got ${JSON.stringify(l[1])}`, { subject: path });
    tasks.push({ context: l[0]!, gold: Number(label), endings: [l[2]!, l[3]!, l[4]!, l[5]!] });
  }
  return tasks;
}

/** std::mt19937 (32-bit Mersenne Twister, MT19937), as the C++ standard library defines it. */
export class Mt19937 {
  private readonly mt = new Uint32Array(624);
  private i = 624;
  constructor(seed: number) {
    this.mt[0] = seed >>> 0;
    for (let k = 1; k < 624; k++) {
      const prev = this.mt[k - 1]! ^ (this.mt[k - 1]! >>> 30);
      this.mt[k] = (Math.imul(1812433253, prev) + k) >>> 0;
    }
  }

  next(): number {
    if (this.i >= 624) {
      for (let k = 0; k < 624; k++) {
        const y = (this.mt[k]! & 0x80000000) | (this.mt[(k + 1) % 624]! & 0x7fffffff);
        this.mt[k] = this.mt[(k + 397) % 624]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
      }
      this.i = 0;
    }
    let y = this.mt[this.i++]!;
    y ^= y >>> 11;
    y = (y ^ ((y << 7) & 0x9d2c5680)) >>> 0;
    y = (y ^ ((y << 15) & 0xefc60000)) >>> 0;
    y ^= y >>> 18;
    return y >>> 0;
  }
}

/**
 * libstdc++'s uniform_int_distribution<size_t>(0, range − 1) on a 32-bit engine (GCC ≥ 11): Lemire's
 * nearly-divisionless method. product = draw · range; its low 32 bits below (2³² − range) mod range are redrawn.
 */
export function uniformBelow(rng: { next(): number }, range: number): number {
  if (!(Number.isInteger(range) && range >= 1 && range <= 0xffffffff)) throw new AutoRoundError('E_BAD_FLAG', `uniformBelow: range ${range}`);
  const r = BigInt(range);
  let product = BigInt(rng.next()) * r;
  let low = Number(product & 0xffffffffn);
  if (low < range) {
    const threshold = Number((0x100000000n - r) % r);
    while (low < threshold) {
      product = BigInt(rng.next()) * r;
      low = Number(product & 0xffffffffn);
    }
  }
  return Number(product >> 32n);
}

/**
 * The tasks llama-perplexity scores for --hellaswag-tasks `count`: all of them in file order when `count` is at
 * least the file's, else `count` tasks drawn at random with mt19937(1), each removed from the pool once drawn.
 */
export function selectLlamaCppTasks<T>(tasks: readonly T[], count: number | undefined): T[] {
  if (count === undefined || count >= tasks.length) return [...tasks];
  const pool = [...tasks];
  const rng = new Mt19937(1);
  const out: T[] = [];
  for (let i = 0; i < count; i++) {
    const idx = uniformBelow(rng, pool.length);
    out.push(pool[idx]!);
    pool.splice(idx, 1);
  }
  return out;
}

/** llama-perplexity's running line after task n (`%zu\t%3.8lf%%\t[%3.4lf%%, %3.4lf%%]`, Wilson score interval). */
export function llamaCppLine(n: number, correct: number): string {
  const freq = correct / n;
  const za = 1.95996398454;
  const z = (za * za) / n;
  const cnf = (z * Math.sqrt(n * (4.0 * freq * (1 - freq) + z))) / (za + za);
  const a = (freq + z * 0.5 - cnf) / (1.0 + z);
  const b = (freq + z * 0.5 + cnf) / (1.0 + z);
  return `${n}\t${(freq * 100).toFixed(8)}%\t[${(a * 100).toFixed(4)}%, ${(b * 100).toFixed(4)}%]`;
}
