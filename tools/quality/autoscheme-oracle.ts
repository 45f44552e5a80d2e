// The oracle for AutoScheme's W2/W4 @ 3 bits on llama-256 (issue #17, docs/autoscheme.md#w2w4-oracle): the loss
// change of quantizing each layer alone (plain RTN) is *measured* on wikitext-2 test windows (the evaluation text
// itself, BOS + 255 tokens), then the exact knapsack picks the W2/W4 assignment of least summed measured change
// under a budget, and that assignment's real loss (every layer quantized at once) is measured too. If even this
// plan, which knows the test text, loses to uniform W3, no W2/W4 plan at that budget found by scores can win.
// With --measure c4 the changes are measured on AutoScheme's scoring data instead (the first 256 tokens of C4 sample
// records, --windows of them), and --eval full scores the plans on the whole perplexity text (100,215 tokens): a
// zeroth-order plan that never saw the test text.
// --joint replaces the summed per-layer changes by the *joint* loss: from every layer at the dearest option, the
// layer whose demotion raises the measured loss of the whole mix least per bit saved is demoted, until the budget
// holds; then single moves and pairwise swaps that lower the joint loss within the budget are made until none does.
// That plan knows every interaction between layers on the measurement data, which no additive score can.
// --eval c4-heldout scores the plans on 393 C4 sample records (first 256 tokens) that none of the runs calibrates
// or scores on (the 128 SignRound calibration samples of seed 42, which include AutoScheme's 16, are left out):
// the calibration domain, unseen text.
// --plan F1,F2 measures the plans in autoscheme_plan.json files (written beside an export) the same two ways: on
// the measurement data and on the evaluation data.
//   npm run autoscheme-oracle -- [--windows 40] [--measure wiki|c4] [--eval windows|full] [--options W2A16,W4A16] [--budgets 3,3.1484] [--joint] [--plan F,...]
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Checkpoint } from '@autoround/core-tensor';
import { fullName, isBlockTunable, presetScheme, readConfig } from '@autoround/core';
import { nativeBackend } from '@autoround/kernels-cpu';
import { llamaArchitecture } from '@autoround/models';
import { layerBits, meanLoss, rtnQdq, solveKnapsack, type ScoringModel } from '@autoround/autoscheme';
import { c4HeldoutRecords, c4Records } from './c4-heldout.js';

const SHARED = resolve(import.meta.dirname, '../../../shared');
const arg = (k: string, d: string) => (process.argv.includes(`--${k}`) ? process.argv[process.argv.indexOf(`--${k}`) + 1]! : d);
const dir = join(SHARED, 'models/llama-256');
const nWindows = Number(arg('windows', '40'));
const options = arg('options', 'W2A16,W4A16').split(',');
const budgets = arg('budgets', '3,3.1484').split(',').map(Number);
const uniform = [...new Set([...options, 'W3A16'])];

const backend = nativeBackend.create({ threads: 2 });
const spec = llamaArchitecture.describe(readConfig(dir), `${dir}/config.json`);
const ckpt = Checkpoint.open(dir);
const model = llamaArchitecture.load(spec, ckpt, backend);
if (!isBlockTunable(model)) throw new Error('llama-256 is not block-tunable');
const layers = spec.blocks.flatMap((b) => b.linears.map((l) => ({ name: fullName(b, l), out: l.outFeatures, inF: l.inFeatures })));
const weights = new Map(layers.map((l) => [l.name, ckpt.readFloat32(`${l.name}.weight`).data]));
const qdqs = new Map(uniform.map((o) => [o, new Map(layers.map((l) => [l.name, rtnQdq(l.name, presetScheme(o), weights.get(l.name)!, l.out, l.inF)]))]));

// wikitext-2 test windows as the perplexity table cuts them: BOS + 255 tokens each
const tok = llamaArchitecture.tokenizer!(dir);
const ids = tok.encode(readFileSync(join(SHARED, 'datasets/wikitext-2-raw/wiki.test.raw'), 'utf8'), { addSpecialTokens: false });
const bos = tok.bosTokenId ?? 1;
const wikiWindows = (n: number) => Array.from({ length: n }, (_, w) => Int32Array.from([bos, ...ids.slice(w * 255, (w + 1) * 255)]));
// the first 256 tokens of the first n C4 sample records that have them
const c4Windows = (n: number) => c4Records(tok).filter((r) => r.ids.length >= 256).slice(0, n).map((r) => Int32Array.from(r.ids.slice(0, 256)));
// the last n held-out C4 records of at least 256 tokens, cut to their first 256 (c4-heldout.ts)
const c4Heldout = async (n: number) => {
  const windows = (await c4HeldoutRecords(tok)).filter((r) => r.ids.length >= 256).map((r) => Int32Array.from(r.ids.slice(0, 256)));
  if (windows.length < n) throw new Error(`c4-heldout: ${windows.length} held-out records of 256 tokens, ${n} wanted`);
  return windows.slice(-n);
};
const measure = arg('measure', 'wiki');
const samples = measure === 'c4' ? c4Windows(nWindows) : wikiWindows(nWindows);

const evalMode = arg('eval', 'windows');
const data = { samples, batchSize: 1 };
const evalData = evalMode === 'full' ? { samples: wikiWindows(Math.floor(ids.length / 255) > 393 ? 393 : Math.floor(ids.length / 255)), batchSize: 1 } : evalMode === 'c4-heldout' ? { samples: await c4Heldout(393), batchSize: 1 } : data;
if (evalMode === 'c4-heldout') {
  const measured = new Set(samples.map((w) => w.join(',')));
  const shared = evalData.samples.filter((w) => measured.has(w.join(','))).length;
  if (shared > 0) throw new Error(`${shared} evaluation windows are also measurement windows: fewer --windows`);
}
const sm = (q: ReadonlyMap<string, Float32Array>): ScoringModel => ({ model, spec, backend, weight: (n) => weights.get(n)!, qdq: (n) => q.get(n) });
const loss = (q: ReadonlyMap<string, Float32Array>) => meanLoss(sm(q), data);
const evalLoss = (q: ReadonlyMap<string, Float32Array>) => (evalData === data ? loss(q) : meanLoss(sm(q), evalData));

const t0 = Date.now();
const base = loss(new Map());
const total = layers.reduce((a, l) => a + l.out * l.inF, 0);
const bitsOf = (o: string) => layers.reduce((a, l) => a + layerBits(presetScheme(o), l.out, l.inF), 0) / total;
console.log(`llama-256, changes measured on ${nWindows} ${measure === 'c4' ? 'C4 sample windows of 256 tokens' : 'wikitext-2 test windows of BOS + 255 tokens'}; fp32 loss ${base.toFixed(5)}; plans scored on ${evalData === data ? 'the same windows' : `${evalData.samples.length} ${evalMode === 'c4-heldout' ? 'held-out C4 windows of 256 tokens' : 'wikitext-2 test windows'}`}`);
const evalBase = evalData === data ? base : evalLoss(new Map());
if (evalData !== data) console.log(`fp32 on the evaluation windows: loss ${evalBase.toFixed(5)} (perplexity ${Math.exp(evalBase).toFixed(4)})`);
const uniformLoss = new Map<string, number>();
for (const o of uniform) {
  if (evalData !== data && o !== 'W3A16') continue;
  uniformLoss.set(o, evalLoss(qdqs.get(o)!));
  console.log(`uniform ${o}: ${bitsOf(o).toFixed(4)} bits, loss ${uniformLoss.get(o)!.toFixed(5)} (perplexity ${Math.exp(uniformLoss.get(o)!).toFixed(4)})`);
}
for (const file of arg('plan', '').split(',').filter(Boolean)) {
  const plan = JSON.parse(readFileSync(file, 'utf8')) as { achieved_bits: number; layers: { layers: string[]; option: string }[] };
  const pick = new Map(plan.layers.flatMap((u) => u.layers.map((n) => [n, u.option] as const)));
  const q = new Map(layers.map((l) => {
    const o = pick.get(l.name);
    if (!o) throw new Error(`${file}: no option for ${l.name}`);
    return [l.name, qdqs.get(o)?.get(l.name) ?? rtnQdq(l.name, presetScheme(o), weights.get(l.name)!, l.out, l.inF)] as const;
  }));
  const onMeasure = loss(q);
  const onEval = evalData === data ? onMeasure : evalLoss(q);
  console.log(`plan ${file}: ${plan.achieved_bits.toFixed(4)} bits; loss on the measurement data ${onMeasure.toFixed(5)}${evalData === data ? '' : `, on the evaluation data ${onEval.toFixed(5)} (perplexity ${Math.exp(onEval).toFixed(4)})`}`);
}
// the measured loss change of each layer quantized alone
const delta = new Map<string, Map<string, number>>();
for (const o of uniform) {
  const d = new Map<string, number>();
  for (const l of layers) d.set(l.name, loss(new Map([[l.name, qdqs.get(o)!.get(l.name)!]])) - base);
  delta.set(o, d);
  const sum = [...d.values()].reduce((a, b) => a + b, 0);
  console.log(`${o}: Σ of the 28 layers' measured changes ${sum.toFixed(5)}${evalData === data ? `; all at once ${(uniformLoss.get(o)! - base).toFixed(5)}` : ''}`);
}
console.log('\nlayer | ' + uniform.map((o) => `Δ ${o}`).join(' | ') + '\n---|' + uniform.map(() => '---:').join('|'));
for (const l of layers) console.log(`${l.name.replace('model.layers.', '')} | ` + uniform.map((o) => delta.get(o)!.get(l.name)!.toFixed(5)).join(' | '));
for (const b of budgets) {
  const choices = layers.map((l) => options.map((o) => ({ cost: layerBits(presetScheme(o), l.out, l.inF), loss: delta.get(o)!.get(l.name)! })));
  const r = solveKnapsack(choices, Math.floor(total * b));
  const q = new Map(layers.map((l, i) => [l.name, qdqs.get(options[r.picks[i]!]!)!.get(l.name)!]));
  const real = evalLoss(q);
  const count = options.map((o, k) => `${r.picks.filter((p) => p === k).length}×${o}`).join(' ');
  console.log(`\noracle ${options.join('/')} @ ${b}: ${(r.cost / total).toFixed(4)} bits (${count}); Σ measured changes ${r.loss.toFixed(5)} (uniform W3A16's Σ ${[...delta.get('W3A16')!.values()].reduce((a, x) => a + x, 0).toFixed(5)}); real loss ${real.toFixed(5)} (perplexity ${Math.exp(real).toFixed(4)}) vs uniform W3A16 ${uniformLoss.get('W3A16')!.toFixed(5)} (${Math.exp(uniformLoss.get('W3A16')!).toFixed(4)})`);
}
if (process.argv.includes('--joint')) {
  const cost = (o: number, l: (typeof layers)[number]) => layerBits(presetScheme(options[o]!), l.out, l.inF);
  const mix = (picks: number[]) => new Map(layers.map((l, i) => [l.name, qdqs.get(options[picks[i]!]!)!.get(l.name)!]));
  const costOf = (picks: number[]) => layers.reduce((a, l, i) => a + cost(picks[i]!, l), 0);
  let evals = 0;
  const jointLoss = (picks: number[]) => (evals++, loss(mix(picks)));
  const w3OnMeasure = loss(qdqs.get('W3A16')!);
  console.log(`\nuniform W3A16 on the measurement data: loss ${w3OnMeasure.toFixed(5)}`);
  const dearest = options.reduce((best, o, k) => (layerBits(presetScheme(o), 1, 128) > layerBits(presetScheme(options[best]!), 1, 128) ? k : best), 0);
  for (const b of budgets) {
    const P = Math.floor(total * b);
    const picks = layers.map(() => dearest);
    let cur = jointLoss(picks);
    // greedy: the cheapest loss per bit saved, one step down at a time (options sorted by cost per layer)
    while (costOf(picks) > P) {
      let best: { i: number; o: number; rate: number; loss: number } | undefined;
      for (let i = 0; i < layers.length; i++) {
        for (let o = 0; o < options.length; o++) {
          const saved = cost(picks[i]!, layers[i]!) - cost(o, layers[i]!);
          if (saved <= 0) continue;
          const trial = picks.slice();
          trial[i] = o;
          const l = jointLoss(trial);
          const rate = (l - cur) / saved;
          if (!best || rate < best.rate) best = { i, o, rate, loss: l };
        }
      }
      picks[best!.i] = best!.o;
      cur = best!.loss;
    }
    const greedyLoss = cur;
    // local search: any single change or swap of two layers' options that stays within the budget and lowers the loss
    // (sweeps go on from where the last improvement was made; they end after a whole sweep without one)
    for (let improved = true; improved; ) {
      improved = false;
      for (let i = 0; i < layers.length; i++) {
        for (let j = i; j < layers.length; j++) {
          for (let oi = 0; oi < options.length; oi++) {
            for (let oj = 0; oj < options.length; oj++) {
              if (i === j && oi !== oj) continue;
              if (oi === picks[i] && oj === picks[j]) continue;
              const trial = picks.slice();
              trial[i] = oi;
              trial[j] = oj;
              if (costOf(trial) > P) continue;
              const l = jointLoss(trial);
              if (l < cur - 1e-7) {
                picks.splice(0, picks.length, ...trial);
                cur = l;
                improved = true;
              }
            }
          }
        }
      }
    }
    const real = evalLoss(mix(picks));
    const count = options.map((o, k) => `${picks.filter((p) => p === k).length}×${o}`).join(' ');
    console.log(`\njoint ${options.join('/')} @ ${b}: ${(costOf(picks) / total).toFixed(4)} bits (${count}); measured joint loss ${greedyLoss.toFixed(5)} greedy, ${cur.toFixed(5)} after swaps (${evals} evaluations); real loss ${real.toFixed(5)} (perplexity ${Math.exp(real).toFixed(4)}) vs uniform W3A16 ${uniformLoss.get('W3A16')!.toFixed(5)} (${Math.exp(uniformLoss.get('W3A16')!).toFixed(4)})`);
    console.log(`  plan: ${layers.map((l, i) => `${l.name.replace('model.layers.', '').replace(/self_attn\.|mlp\./, '')}=${options[picks[i]!]!.replace('A16', '')}`).join(' ')}`);
  }
}
console.log(`\n${((Date.now() - t0) / 1000).toFixed(0)} s`);
