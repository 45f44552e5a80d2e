// The AutoScheme planner (docs/autoscheme.md): options → per-option delta-loss scores → units → exact
// multiple-choice knapsack under the average-bit budget → a --layer_config the host merges.

import { AutoRoundError } from '@autoround/core-tensor';
import {
  type AutoSchemeRequest,
  isBlockTunable,
  type QuantScheme,
  type SchemePlan,
  type SchemePlanContext,
  type SchemePlannerPlugin,
  type SchemePlanRow,
} from '@autoround/core';
import { layerQuantType, rtnQuantize } from '@autoround/algo-rtn';
import { type BitCount, layerBits } from './bits.js';
import { ggmlTypeOfScheme, needsActivationMax, quantizeActivation, quantizesActivations } from '@autoround/quant-types';
import { cacheKey, defaultCacheDir, modelDigest, readCache, tokensDigest, writeCache } from './cache.js';
import { solveKnapsack } from './knapsack.js';
import { type SchemeOption, validateRequest } from './options.js';
import { deltaLossScores, type ScoreReduction, type ScoringModel } from './score.js';
import { unitsOf } from './units.js';

const num = (x: number, digits: number): string => x.toFixed(digits);

/** How scores sum over the data (score.ts; both reductions gave the same plans on llama-256, docs/autoscheme.md#scores). */
const SCORE_REDUCTION: ScoreReduction = 'batch';

/** The original AutoScheme's scoring defaults: 16 samples of 256 tokens, batch 1. */
export const AUTOSCHEME_DEFAULTS = { nsamples: 16, seqlen: 256, batchSize: 1 } as const;

interface LayerShape {
  readonly out: number;
  readonly inF: number;
}

/** An exact --layer_config pattern for one layer name (matched as a regex by the layer selection). */
export function exactPattern(name: string): string {
  return `^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
}

/** The quantized-dequantized weight of a layer under a scheme, as RTN writes it (GGUF types through llama.cpp's quantizer, with the importance vector when given). */
export function rtnQdq(name: string, scheme: QuantScheme, w: Float32Array, out: number, inF: number, imatrix?: Float32Array): Float32Array {
  const type = layerQuantType({}, name, scheme);
  return rtnQuantize(w, out, inF, scheme, type === null ? undefined : { type, imatrix: imatrix ?? null }).qdq;
}

/** What scoring needs of each planned layer's float input: Σx²/tokens (llama-imatrix's vector) and max |x|. */
interface InputStats {
  readonly imatrix: Map<string, Float32Array>;
  readonly absMax: Map<string, number>;
}

/** Input statistics of every block linear in `layers` over the float model's forward of the samples (full names). */
function inputStats(sm: Pick<ScoringModel, 'model' | 'spec'>, samples: readonly Int32Array[], layers: ReadonlySet<string>): InputStats {
  const sums = new Map<string, Float64Array>();
  const absMax = new Map<string, number>();
  let tokens = 0;
  let xs = samples.map((ids) => sm.model.embedTokens(ids));
  for (const s of samples) tokens += s.length;
  for (let i = 0; i < sm.model.numBlocks; i++) {
    const b = sm.spec.blocks[i]!;
    xs = xs.map((x, k) =>
      sm.model.blockForward(i, x, samples[k]!.length, {
        onLinearInput(local, a, rows, inF) {
          const name = `${b.prefix}.${local}`;
          if (!layers.has(name)) return;
          let acc = sums.get(name);
          if (!acc) sums.set(name, (acc = new Float64Array(inF)));
          let m = absMax.get(name) ?? 0;
          for (let r = 0; r < rows; r++) {
            for (let j = 0; j < inF; j++) {
              const v = a[r * inF + j]!;
              acc[j]! += v * v;
              if (Math.abs(v) > m) m = Math.abs(v);
            }
          }
          absMax.set(name, m);
        },
      }),
    );
  }
  return { imatrix: new Map([...sums].map(([k, v]) => [k, Float32Array.from(v, (x) => x / tokens)])), absMax };
}

function shapesOf(ctx: SchemePlanContext): Map<string, LayerShape> {
  const m = new Map<string, LayerShape>();
  for (const b of ctx.spec.blocks) for (const l of b.linears) m.set(`${b.prefix}.${l.name}`, { out: l.outFeatures, inF: l.inFeatures });
  const outside = { out: ctx.spec.vocabSize, inF: ctx.spec.hiddenSize };
  m.set(ctx.spec.lmHead.replace(/\.weight$/, ''), outside);
  m.set(ctx.spec.embedding.replace(/\.weight$/, ''), outside);
  return m;
}

/**
 * Which bit count the budget is met in (docs/autoscheme.md#bit-cost): the GGUF block types' storage bits
 * when every option is a GGUF type (the mix is a .gguf file, whose size is what a target means), else the
 * original's compute_layer_bits.
 */
export function bitCountOf(options: readonly SchemeOption[]): BitCount {
  return options.every((o) => o.name.startsWith('GGUF:') && ggmlTypeOfScheme(o.scheme, true) !== null) ? 'gguf' : 'autoround';
}

/** The head rule for lm_head and the embedding (docs/autoscheme.md#head-and-embedding): fixed before the knapsack. */
function headOption(options: readonly SchemeOption[], isEmbedding: boolean, target: number): SchemeOption {
  const byBits = [...options].sort((a, b) => a.scheme.bits - b.scheme.bits);
  const highest = byBits[byBits.length - 1]!;
  if (isEmbedding) return byBits.find((o) => o.scheme.bits >= Math.ceil(target)) ?? highest;
  if (target > 6) return highest;
  return byBits.find((o) => o.scheme.bits >= 6) ?? highest;
}

export async function planAutoScheme(ctx: SchemePlanContext): Promise<SchemePlan> {
  const t0 = Date.now();
  const request = ctx.request;
  const options = validateRequest(request);
  // an option a format cannot write is refused before any work
  for (const o of options) {
    const why = ctx.formatProblem(o.scheme);
    if (why) throw new AutoRoundError('E_FORMAT', `--options ${o.given}: ${why}`, { subject: '--options' });
  }
  const ignore = request.ignoreScaleZpBits ?? false;
  const count = bitCountOf(options);
  const bits = (s: QuantScheme, n: string) => layerBits(s, shape(n).out, shape(n).inF, ignore, count);
  const shapes = shapesOf(ctx);
  const shape = (n: string) => {
    const s = shapes.get(n);
    if (!s) throw new AutoRoundError('E_UNSUPPORTED', `AutoScheme: layer ${n} is not a linear of the model`, { subject: '--avg_bits' });
    return s;
  };
  const heads = new Set([ctx.spec.lmHead.replace(/\.weight$/, ''), ctx.spec.embedding.replace(/\.weight$/, '')]);
  const quantized = [...ctx.layerSchemes].filter((e): e is [string, QuantScheme] => e[1] !== null);
  const fixed = quantized.filter(([n]) => ctx.fixed.has(n));
  const headLayers = quantized.filter(([n]) => !ctx.fixed.has(n) && heads.has(n)).map(([n]) => n);
  const planned = quantized.filter(([n]) => !ctx.fixed.has(n) && !heads.has(n)).map(([n]) => n);
  if (planned.length === 0) throw new AutoRoundError('E_BAD_FLAG', '--avg_bits: no layer is left for AutoScheme to plan (every quantized layer is fixed by --layer_config)', { subject: '--avg_bits' });
  const totalParams = quantized.reduce((a, [n]) => a + shape(n).out * shape(n).inF, 0);
  const budget = Math.floor(totalParams * request.avgBits);
  const fixedBits = fixed.reduce((a, [n, s]) => a + bits(s, n), 0);
  const headPicks = headLayers.map((n) => ({ n, o: headOption(options, n === ctx.spec.embedding.replace(/\.weight$/, ''), request.avgBits) }));
  const headBits = headPicks.reduce((a, { n, o }) => a + bits(o.scheme, n), 0);
  const units = unitsOf(ctx.spec, planned, request.sharedLayers ?? []);
  const unitCost = (u: { layers: readonly string[] }, o: SchemeOption) => u.layers.reduce((a, n) => a + bits(o.scheme, n), 0);
  const minBits = fixedBits + headBits + units.reduce((a, u) => a + Math.min(...options.map((o) => unitCost(u, o))), 0);
  const maxBits = fixedBits + headBits + units.reduce((a, u) => a + Math.max(...options.map((o) => unitCost(u, o))), 0);
  const counted = ignore ? 'weight bits only (--ignore_scale_zp_bits)' : count === 'gguf' ? 'GGUF block sizes' : 'scale and zero-point bits included';
  if (budget < minBits || totalParams * request.avgBits > maxBits) {
    throw new AutoRoundError(
      'E_BAD_FLAG',
      `--avg_bits ${request.avgBits} cannot be met with --options ${options.map((o) => o.given).join(',')}: the reachable average is ${num(minBits / totalParams, 4)} to ${num(maxBits / totalParams, 4)} bits (${counted})`,
      { subject: '--avg_bits' },
    );
  }
  // scores: one forward and backward of the LM loss per option, every planned layer under that option
  const model = ctx.loadModel();
  if (!isBlockTunable(model)) throw new AutoRoundError('E_UNSUPPORTED', `AutoScheme scores layers by the model's LM-loss gradient, which ${ctx.spec.architecture} cannot run block by block on the autograd graph`, { subject: '--avg_bits' });
  const nsamples = request.nsamples ?? AUTOSCHEME_DEFAULTS.nsamples;
  const seqlen = request.seqlen ?? AUTOSCHEME_DEFAULTS.seqlen;
  const batchSize = request.batchSize ?? AUTOSCHEME_DEFAULTS.batchSize;
  const samples = await ctx.calibration(nsamples, seqlen, request.dataset);
  if (samples.length === 0) throw new AutoRoundError('E_NO_DATASET', `AutoScheme: the dataset gave no sample of ${seqlen} tokens`, { subject: '--avg_bits' });
  const cacheDir = request.cacheDir === false ? undefined : (request.cacheDir ?? defaultCacheDir());
  const baseKey = {
    v: 2,
    reduction: SCORE_REDUCTION,
    model: modelDigest(ctx.checkpoint.dir, [...ctx.checkpoint.namesByShard().keys()]),
    data: tokensDigest(samples),
    batchSize,
    fixed: fixed.map(([n, s]) => [n, s]),
  };
  const plannedSet = new Set(planned);
  const fixedMap = new Map(fixed);
  // GGUF options are scored with the importance matrix (imatrix RTN), options with static activation scales with
  // each input's calibrated maximum; both come from one float forward over the scoring samples
  const needStats = options.some((o) => layerQuantType({}, '', o.scheme) !== null || needsActivationMax(o.scheme)) || fixed.some(([, f]) => needsActivationMax(f));
  let stats: InputStats | undefined;
  const acting = options.some((o) => quantizesActivations(o.scheme)) || fixed.some(([, f]) => quantizesActivations(f));
  const scores = new Map<SchemeOption, Map<string, number>>();
  const losses = new Map<SchemeOption, number>();
  for (const o of options) {
    const key = cacheKey({ ...baseKey, option: o.scheme, layers: planned });
    const hit = cacheDir ? readCache(cacheDir, key) : undefined;
    if (hit) {
      scores.set(o, new Map(Object.entries(hit.scores)));
      losses.set(o, hit.loss);
      ctx.log.info(`AutoScheme: scores of ${o.name} from the cache (${cacheDir})`);
      continue;
    }
    const t1 = Date.now();
    if (needStats && !stats) stats = inputStats({ model, spec: ctx.spec }, samples, new Set([...plannedSet, ...fixedMap.keys()]));
    const schemeOf = (n: string) => (plannedSet.has(n) ? o.scheme : fixedMap.get(n));
    const sm: ScoringModel = {
      model,
      spec: ctx.spec,
      backend: ctx.backend,
      weight: (n) => ctx.checkpoint.readFloat32(`${n}.weight`).data,
      qdq: (n, w, out, inF) => {
        if (plannedSet.has(n)) return rtnQdq(n, o.scheme, w, out, inF, stats?.imatrix.get(n));
        const f = fixedMap.get(n);
        return f ? rtnQdq(n, f, w, out, inF) : undefined;
      },
      ...(acting
        ? {
            actQdq: (n: string, x: Float32Array, rows: number, inF: number) => {
              const s = schemeOf(n);
              return s && quantizesActivations(s) ? quantizeActivation(x, rows, inF, s, stats?.absMax.get(n)) : undefined;
            },
          }
        : {}),
    };
    const r = await deltaLossScores(sm, { samples, batchSize }, SCORE_REDUCTION);
    const s = new Map([...r.scores].filter(([n]) => plannedSet.has(n)));
    scores.set(o, s);
    losses.set(o, r.loss);
    ctx.log.info(`AutoScheme: scored ${o.name} (${samples.length} × ${seqlen} tokens, loss ${num(r.loss, 4)}) in ${num((Date.now() - t1) / 1000, 1)} s; block inputs held ${num((r.activationFloats * 4) / 2 ** 20, 1)} MiB`);
    if (cacheDir) writeCache(cacheDir, key, { loss: r.loss, scores: Object.fromEntries(s) });
  }
  const scoreOf = (o: SchemeOption, n: string) => {
    const v = scores.get(o)!.get(n);
    if (v === undefined) throw new AutoRoundError('E_UNSUPPORTED', `AutoScheme: layer ${n} got no score (it is not a linear of a block)`, { subject: '--avg_bits' });
    return v;
  };
  const choices = units.map((u) => options.map((o) => ({ cost: unitCost(u, o), loss: u.layers.reduce((a, n) => a + scoreOf(o, n), 0) })));
  const solved = solveKnapsack(choices, budget - fixedBits - headBits);
  const rows: SchemePlanRow[] = [];
  const layerConfig: Record<string, string> = {};
  units.forEach((u, i) => {
    const o = options[solved.picks[i]!]!;
    for (const n of u.layers) layerConfig[exactPattern(n)] = o.name;
    rows.push({ unit: u.name, layers: u.layers, option: o.name, params: u.layers.reduce((a, n) => a + shape(n).out * shape(n).inF, 0), bits: choices[i]![solved.picks[i]!]!.cost, score: choices[i]![solved.picks[i]!]!.loss });
  });
  for (const { n, o } of headPicks) {
    layerConfig[exactPattern(n)] = o.name;
    rows.push({ unit: n, layers: [n], option: o.name, params: shape(n).out * shape(n).inF, bits: bits(o.scheme, n), score: Number.NaN });
  }
  const usedBits = fixedBits + headBits + solved.cost;
  const achievedBits = usedBits / totalParams;
  printTable(ctx, rows, fixed);
  ctx.log.info(`AutoScheme: ${num(achievedBits, 4)} average bits (target ${request.avgBits}, ${counted}) over ${totalParams} weights; estimated loss increase ${num(solved.loss, 5)}; ${units.length} units, ${num((Date.now() - t0) / 1000, 1)} s`);
  const record: Record<string, unknown> = {
    avg_bits: request.avgBits,
    achieved_bits: achievedBits,
    options: options.map((o) => o.name),
    ignore_scale_zp_bits: ignore,
    bit_count: count,
    shared_layers: request.sharedLayers ?? null,
    nsamples: samples.length,
    seqlen,
    batch_size: batchSize,
    ...(request.dataset ? { dataset: request.dataset } : {}),
    total_params: totalParams,
    total_bits: usedBits,
    option_losses: Object.fromEntries(options.map((o) => [o.name, losses.get(o)])),
  };
  return { layerConfig, rows, achievedBits, record };
}

function printTable(ctx: SchemePlanContext, rows: readonly SchemePlanRow[], fixed: readonly [string, QuantScheme][]): void {
  const w = Math.max(10, ...rows.map((r) => r.unit.length));
  const line = (a: string, b: string, c: string, d: string) => `${a.padEnd(w)}  ${b.padEnd(12)}  ${c.padStart(8)}  ${d.padStart(12)}`;
  ctx.log.info('AutoScheme plan:');
  ctx.log.info(line('layer/unit', 'scheme', 'bits/w', 'score'));
  for (const r of rows) ctx.log.info(line(r.unit, r.option, num(r.bits / r.params, 3), Number.isNaN(r.score) ? '(head rule)' : r.score.toExponential(3)));
  for (const [n] of fixed) ctx.log.info(line(n, '(layer_config)', '', ''));
}

export const autoSchemePlanner: SchemePlannerPlugin = {
  name: 'autoscheme',
  description: 'AutoScheme: per-layer schemes out of --options under an --avg_bits budget (delta-loss scores, exact knapsack)',
  validate: (request: AutoSchemeRequest) => void validateRequest(request),
  plan: planAutoScheme,
};
