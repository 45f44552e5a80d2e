// packed vs one-document-at-a-time (KV cache) scoring on the same model and tasks, alternating, CPU and wall time
import { AutoRound, silentLogger, tokenizerOf } from '@autoround/autoround';
import { runTasks } from '@autoround/eval-tasks';
const [dir, file, n, protocol] = process.argv.slice(2);
const ar = new AutoRound(dir!, { log: silentLogger, iters: 0, threads: 1 } as never);
const model = await ar.load();
const registry = await ar.registry();
const lm = registry.architecture(model.spec.architecture, model.dir).load(model.spec, model.checkpoint, await ar.backend());
const tok = tokenizerOf(registry, model);
const res: Record<string, number[]> = {};
for (let rep = 0; rep < 2; rep++) {
  for (const [name, o] of [['kv-cache (one doc at a time)', { noPacking: true }], ['packed eval_bs 32', {}]] as const) {
    const c0 = process.cpuUsage(); const t0 = performance.now();
    const scores: number[] = [];
    const r = await runTasks(lm, tok, [{ name: 'hellaswag', path: file! }], { limit: Number(n), protocol: protocol as 'harness', ...o, onScores: (_t, _i, x) => scores.push(...x) });
    const cpu = (process.cpuUsage(c0).user + process.cpuUsage(c0).system) / 1e6; const wall = (performance.now() - t0) / 1000;
    console.log(`${name}: ${r.documents} docs, wall ${wall.toFixed(1)} s (${(r.documents / wall).toFixed(2)} tasks/s), cpu ${cpu.toFixed(1)} s (${(r.documents / cpu).toFixed(2)} tasks/cpu-s), ${JSON.stringify(r.metrics.map((m) => [m.metric, m.value]))}`);
    (res[name] ??= []).push(...scores);
  }
}
const [a, b] = Object.values(res);
let max = 0; a!.forEach((x, i) => (max = Math.max(max, Math.abs(x - b![i]!))));
console.log(`max |score difference| ${max.toExponential(2)} over ${a!.length} scores`);
