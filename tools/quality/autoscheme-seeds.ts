// Averages `npm run autoscheme-table` runs over seeds (docs/autoscheme.md#seeds): each file holds the JSON lines that
// autoscheme-table prints, one per row; rows of the same run name are pooled across files.
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
console.log('| run | bits | seeds | perplexity mean ± sd | KL mean ± sd |\n|---|---:|---|---:|---:|');
for (const [run, rows] of runs) {
  const kl = rows.map((r) => r.kld).filter((x): x is number => x !== undefined);
  console.log(`| ${run} | ${mean(rows.map((r) => r.bits)).toFixed(4)} | ${rows.map((r) => r.seed).join(', ')} | ${fmt(rows.map((r) => r.ppl), 4)} | ${kl.length ? fmt(kl, 6) : ''} |`);
}
