// Paired comparison of two task runs on the same documents (docs/eval/tasks.md#paired-comparisons):
//   auto-round eval --model A --tasks … --tasks_output a.json --log_samples    (likewise b.json)
//   npm run tasks-paired -- a.samples.jsonl b.samples.jsonl [--json]
// prints, per task and metric, b − a with the standard error of the per-document difference and McNemar's exact
// p-value over the documents only one of the two gets right.
import { readFileSync } from 'node:fs';
import { pairedDifferences, parseSamples } from '@autoround/eval-tasks';

const files = process.argv.slice(2).filter((a) => !a.startsWith('--'));
if (files.length !== 2) {
  console.error('usage: npm run tasks-paired -- A.samples.jsonl B.samples.jsonl [--json]');
  process.exit(1);
}
const [fa, fb] = files as [string, string];
const read = (f: string) => {
  try {
    return parseSamples(readFileSync(f, 'utf8'), f);
  } catch (e) {
    console.error(`tasks-paired: ${(e as Error).message}`);
    process.exit(1);
  }
};
const rows = pairedDifferences(read(fa), read(fb));
if (!rows.length) {
  console.error(`tasks-paired: ${fa} and ${fb} share no (task, document) pair`);
  process.exit(1);
}
console.log(`b − a, a = ${fa}, b = ${fb}`);
console.log(`| task | metric | n | b − a | stderr | only b right | only a right | McNemar p |`);
console.log(`|---|---|---:|---:|---:|---:|---:|---:|`);
for (const r of rows) console.log(`| ${r.task} | ${r.metric} | ${r.n} | ${r.diff >= 0 ? '+' : ''}${r.diff.toFixed(4)} | ${r.stderr === undefined ? 'n/a' : r.stderr.toFixed(4)} | ${r.bOnly} | ${r.aOnly} | ${r.pValue.toPrecision(3)} |`);
if (process.argv.includes('--json')) for (const r of rows) console.log(JSON.stringify({ a: fa, b: fb, ...r }));
