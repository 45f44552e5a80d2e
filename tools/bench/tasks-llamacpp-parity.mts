// HellaSwag, llama.cpp protocol, on a GGUF folder: our forward (`auto-round eval --eval_protocol llama.cpp`) against
// the same protocol computed from node-llama-cpp's log-probabilities of the same GGUF file and the same drawn tasks
// (docs/eval/tasks.md, "Parity with llama-perplexity"). Usage:
//   node --conditions=source --import tsx tools/bench/tasks-llamacpp-parity.mts GGUF_DIR TASKS.txt N
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createRegistry, folderTasks, openModel, tokenizerOf, type TaskRunOptions } from '@autoround/autoround';
import { commonPrefix, llamaCppLine, parseLlamaCppHellaswag, selectLlamaCppTasks } from '@autoround/eval-tasks';
import { llamaCppMeanLogProbs, loadNodeLlamaCpp } from '@autoround/testing';

const [dir, file, count] = process.argv.slice(2) as [string, string, string];
const n = Number(count);
const registry = await createRegistry({ discover: true });
const model = openModel(registry, dir);
const backend = registry.kernelBackend({ threads: 1 });
const ours: number[][] = [];
const t0 = performance.now();
const res = await folderTasks(registry, model, backend, [{ name: 'hellaswag', path: file }], { protocol: 'llama.cpp', limit: n, onScores: (_t: string, _i: number, x: readonly number[]) => ours.push([...x]) } as TaskRunOptions);
console.log(`ours: ${res.log!.at(-1)}  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

// the same draw, the same token sequences (BOS + context + " " + ending), scored by llama.cpp
const tasks = selectLlamaCppTasks(parseLlamaCppHellaswag(readFileSync(file, 'utf8'), file), n);
const tok = tokenizerOf(registry, model);
const seqs = tasks.map((t) => t.endings.map((e) => Int32Array.from(tok.encode(`${t.context} ${e}`, { addSpecialTokens: true }))));
const { nlc, why } = await loadNodeLlamaCpp();
if (!nlc) throw new Error(`node-llama-cpp: ${why}`);
const llama = await nlc.getLlama({ gpu: false, build: 'never', logLevel: nlc.LlamaLogLevel.error });
const gguf = join(dir, readdirSync(dir).find((f) => f.endsWith('.gguf'))!);
// llama.cpp's own tokenizer gives the same ids (without the BOS, which llama-perplexity adds)
const lm = await llama.loadModel({ modelPath: gguf });
let tokenMismatch = 0;
tasks.forEach((t, i) => t.endings.forEach((e, j) => {
  const theirs = [...lm.tokenize(`${t.context} ${e}`)];
  if (theirs.join() !== [...seqs[i]![j]!.subarray(1)].join()) tokenMismatch++;
}));
await lm.dispose();
const t1 = performance.now();
const means = await llamaCppMeanLogProbs(llama, gguf, seqs.flatMap((four) => four.map((tokens) => ({ tokens, from: commonPrefix(four) }))));
let correct = 0;
let flips = 0;
let maxDiff = 0;
let line = '';
seqs.forEach((_four, i) => {
  const m = means.slice(4 * i, 4 * i + 4);
  m.forEach((x, j) => (maxDiff = Math.max(maxDiff, Math.abs(x - ours[i]![j]!))));
  const best = m.indexOf(Math.max(...m));
  if (best !== ours[i]!.indexOf(Math.max(...ours[i]!))) flips++;
  if (best === tasks[i]!.gold) correct++;
  line = llamaCppLine(i + 1, correct);
});
console.log(`llama.cpp: ${line}  (${((performance.now() - t1) / 1000).toFixed(1)} s)`);
console.log(`tasks ${n}, choices that differ ${flips}, max |mean log-prob difference| ${maxDiff.toExponential(2)}, token sequences llama.cpp tokenizes differently ${tokenMismatch}`);
model.checkpoint.close();
