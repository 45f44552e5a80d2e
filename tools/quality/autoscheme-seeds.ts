// Averages `npm run autoscheme-table` runs over seeds (docs/autoscheme.md#seeds): each file holds the JSON lines that
// autoscheme-table prints, one per row; rows of the same run name are pooled across files.
// Each AutoScheme row also gets the uniform schemes' line at its bits: the straight line between the means of the two
// uniform rows whose bits enclose it, and the row's mean minus that line (negative: below it, as issue #17 asks).
//   npm run autoscheme-seeds -- curve-42.txt curve-1.txt curve-2.txt
import { readFileSync } from 'node:fs';

interface Row { run: string; seed: number; bits: number; ppl: number; kld?: number }
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: npm run autoscheme-seeds -- FILE...  (autoscheme-table outputs)');
  process.exit(1);
}
const runs = new Map<string, Row[]>();
for (const f of files) {
  for (const line of readFileSync(f, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    const r = JSON.parse(line) as Row;
    runs.set(r.run, [...(runs.get(r.run) ?? []), r]);
  }
}
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
// sample standard deviation of one run; the mean's standard error is sd / √n
const sd = (xs: number[]) => (xs.length < 2 ? NaN : Math.sqrt(xs.reduce((s, x) => s + (x - mean(xs)) ** 2, 0) / (xs.length - 1)));
const fmt = (xs: number[], digits: number) => (xs.length < 2 ? mean(xs).toFixed(digits) : `${mean(xs).toFixed(digits)} ± ${sd(xs).toFixed(digits)}`);
const uniformPoints = [...runs].filter(([run]) => run.startsWith('uniform ')).map(([, rows]) => ({ bits: mean(rows.map((r) => r.bits)), ppl: mean(rows.map((r) => r.ppl)) })).sort((a, b) => a.bits - b.bits);
/** The uniform line's perplexity at `bits`, between the two enclosing uniform points; undefined outside them. */
function uniformLine(bits: number): number | undefined {
  for (let i = 1; i < uniformPoints.length; i++) {
    const a = uniformPoints[i - 1]!;
    const b = uniformPoints[i]!;
    if (bits >= a.bits && bits <= b.bits) return a.ppl + ((bits - a.bits) / (b.bits - a.bits)) * (b.ppl - a.ppl);
  }
  return undefined;
}
console.log('| run | bits | seeds | perplexity mean ± sd | KL mean ± sd | uniform line | mean − line |\n|---|---:|---|---:|---:|---:|---:|');
for (const [run, rows] of runs) {
  const kl = rows.map((r) => r.kld).filter((x): x is number => x !== undefined);
  const bits = mean(rows.map((r) => r.bits));
  const line = run.startsWith('AutoScheme') ? uniformLine(bits) : undefined;
  const vs = line !== undefined ? ` ${line.toFixed(4)} | ${(mean(rows.map((r) => r.ppl)) - line).toFixed(4)} |` : ' | |';
  console.log(`| ${run} | ${bits.toFixed(4)} | ${[...new Set(rows.map((r) => r.seed))].join(', ')} | ${fmt(rows.map((r) => r.ppl), 4)} | ${kl.length ? fmt(kl, 6) : ''} |${vs}`);
}
