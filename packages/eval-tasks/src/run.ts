// Runs tasks on a model: documents → contexts and continuations (tasks.ts) → token sequences as the protocol
// tokenizes them → log-likelihoods (score.ts) → metrics with their standard errors (docs/eval/tasks.md).
import { AutoRoundError, type CausalLM, PyRandom, type TaskMetric, type TaskRunOptions, type TaskRunResult, type TaskSample, type TaskSpec, type TextTokenizer } from '@autoround/core';
import { isAutoRoundError } from '@autoround/core-tensor';
import type { HubOptions } from '@autoround/hub';
import { type LoadedDocs, readHubSplit, readTaskFile } from './data.js';
import { llamaCppLine, type LlamaCppHellaswagTask, selectLlamaCppTasks } from './llamacpp.js';
import { commonPrefix, type ScoreRequest, Scorer } from './score.js';
import { type Doc, type Instance, type TaskDef, TASKS } from './tasks.js';

/** The names `--tasks` accepts. */
export const TASK_NAMES: readonly string[] = [...TASKS.keys()];

/** Parses `--tasks t1,t2:PATH`; an unknown name lists the known ones. */
export function parseTasks(value: string): TaskSpec[] {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (!items.length) throw new AutoRoundError('E_BAD_FLAG', `--tasks needs one or more task names (${TASK_NAMES.join(', ')})`, { subject: '--tasks' });
  return items.map((item) => {
    const colon = item.indexOf(':');
    const name = (colon < 0 ? item : item.slice(0, colon)).trim().toLowerCase();
    const path = colon < 0 ? undefined : item.slice(colon + 1).trim();
    if (!TASKS.has(name)) throw new AutoRoundError('E_UNKNOWN_TASK', `--tasks: unknown task "${name}"; known tasks: ${TASK_NAMES.join(', ')}`, { subject: '--tasks' });
    if (path === '') throw new AutoRoundError('E_BAD_FLAG', `--tasks ${item}: name a file after the colon (NAME:PATH)`, { subject: '--tasks' });
    return path === undefined ? { name } : { name, path };
  });
}

/** Mean and the harness's standard error of the mean (sample standard deviation / √n). */
export function meanStderr(xs: readonly number[]): { mean: number; stderr: number | undefined } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, stderr: undefined };
  const v = xs.reduce((a, x) => a + (x - mean) * (x - mean), 0) / (n - 1);
  return { mean, stderr: Math.sqrt(v) / Math.sqrt(n) };
}

/** The harness's pooled standard error of a group from its parts' (lm_eval.api.metrics.pooled_sample_stderr). */
export function pooledStderr(parts: readonly { n: number; stderr: number | undefined }[]): number | undefined {
  const total = parts.reduce((a, p) => a + p.n, 0);
  if (total - parts.length <= 0) return undefined;
  const v = parts.reduce((a, p) => a + (p.n - 1) * (p.stderr ?? 0) ** 2 * p.n, 0) / (total - parts.length);
  return Math.sqrt(v / total);
}

/**
 * lm-evaluation-harness's bootstrap_stderr(f, xs, iters) (lm_eval/api/metrics.py), the stderr it reports for
 * perplexity: `iters` resamples of xs with replacement in chunks of 1,000, chunk i drawn by
 * `random.Random(i).choices(xs, k=len(xs))` (each draw xs[floor(random() · n)]), and the sample standard
 * deviation of f over all resamples. The seeds are the harness's, so the figure is its figure (to float rounding).
 */
export function bootstrapStderr(f: (sample: Float64Array) => number, xs: readonly number[], iters = 100_000): number {
  const n = xs.length;
  const chunk = Math.min(1000, iters);
  const values: number[] = [];
  const sample = new Float64Array(n);
  for (let i = 0; i < Math.floor(iters / chunk); i++) {
    const rnd = new PyRandom(i);
    for (let c = 0; c < chunk; c++) {
      for (let j = 0; j < n; j++) sample[j] = xs[Math.floor(rnd.random() * n)]!;
      values.push(f(sample));
    }
  }
  const mu = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, x) => a + (x - mu) * (x - mu), 0) / (values.length - 1));
}

/** The harness's perplexity of log-likelihoods: exp(−mean). */
export function perplexityOf(lls: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < lls.length; i++) sum += lls[i]!;
  return Math.exp(-sum / lls.length);
}

/** First index of the largest value (numpy's argmax). */
function argmax(xs: readonly number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i]! > xs[best]!) best = i;
  return best;
}

/** Python's random.sample(population, k) on a PyRandom (the harness's few-shot sampler). */
export function pySample<T>(rnd: PyRandom, population: readonly T[], k: number): T[] {
  const n = population.length;
  if (k > n) throw new AutoRoundError('E_EVAL', `--num_fewshot ${k}: only ${n} documents to draw examples from`, { subject: '--num_fewshot' });
  const result: T[] = [];
  let setsize = 21;
  if (k > 5) setsize += 4 ** Math.ceil(Math.log(k * 3) / Math.log(4));
  if (n <= setsize) {
    const pool = [...population];
    for (let i = 0; i < k; i++) {
      const j = rnd.randbelow(n - i);
      result.push(pool[j]!);
      pool[j] = pool[n - i - 1]!;
    }
  } else {
    const selected = new Set<number>();
    for (let i = 0; i < k; i++) {
      let j = rnd.randbelow(n);
      while (selected.has(j)) j = rnd.randbelow(n);
      selected.add(j);
      result.push(population[j]!);
    }
  }
  return result;
}

/** The harness's context/continuation encoding (lm_eval HFLM._encode_pair): no BOS; an empty context is the prefix token. */
export function encodePair(tokenizer: TextTokenizer, context: string, continuation: string, contextIds?: number[]): ScoreRequest {
  const spaces = context.length - context.trimEnd().length;
  if (spaces > 0) {
    continuation = context.slice(context.length - spaces) + continuation;
    context = context.slice(0, context.length - spaces);
  }
  const enc = (t: string) => tokenizer.encode(t, { addSpecialTokens: false });
  if (context === '') {
    const prefix = tokenizer.bosTokenId ?? tokenizer.eosTokenId;
    if (prefix === undefined) throw new AutoRoundError('E_EVAL', 'an empty task context needs a BOS or EOS token to start from, and the tokenizer has neither');
    return { tokens: Int32Array.from([prefix, ...enc(continuation)]), from: 1 };
  }
  const whole = enc(context + continuation);
  const ctx = contextIds ?? enc(context);
  return { tokens: Int32Array.from(whole), from: ctx.length };
}

/** Left-truncates a request to the model's length as the harness does ((context + continuation)[−(max+1):]). */
function fit(r: ScoreRequest, maxLength: number): ScoreRequest {
  const drop = r.tokens.length - 1 - maxLength;
  if (drop <= 0) return r;
  if (r.from - drop < 1) throw new AutoRoundError('E_SEQLEN', `a task continuation of ${r.tokens.length - r.from} tokens does not fit the model's ${maxLength} positions`);
  return { tokens: r.tokens.subarray(drop), from: r.from - drop };
}

interface DocScore {
  readonly lls: number[];
  readonly greedy: boolean[];
  readonly instance: Instance;
  readonly doc: Doc;
}

export interface RunTasksOptions extends TaskRunOptions {
  hub?: HubOptions;
  /** Run each sequence whole instead of sharing prefixes (the reference path of the tests). */
  noPrefixSharing?: boolean;
  /** Score one document at a time through the decoder's KV cache instead of packed forwards (a reference path). */
  noPacking?: boolean;
  /** Called with each document's per-choice log-likelihoods (harness protocol) or mean log-probabilities (llama.cpp). */
  onScores?: (task: string, index: number, scores: readonly number[]) => void;
}

function withWhere<T>(where: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (isAutoRoundError(e) && e.code === 'E_DATASET_RECORD') throw new AutoRoundError('E_DATASET_RECORD', `${where}: ${e.message.replace(/^document: /, '')}`, { subject: where, cause: e });
    throw e;
  }
}

/** Documents of one task: its local file or its hub split. */
async function loadDocs(task: TaskDef, spec: TaskSpec, hub: HubOptions | undefined): Promise<LoadedDocs> {
  const loaded = spec.path !== undefined ? await readTaskFile(spec.path) : await readHubSplit(task, task.hub.split, hub);
  if (!loaded.docs.length) throw new AutoRoundError('E_DATASET_EMPTY', `--tasks ${task.name}: no documents in ${spec.path ?? task.hub.repo}`, { subject: '--tasks' });
  // the schema, checked on every document before any scoring: the first missing field is named with its place
  if (!loaded.llamaCpp) {
    loaded.docs.forEach((d, i) => {
      const missing = task.fields.find((f) => !(f in d));
      if (missing !== undefined) throw new AutoRoundError('E_DATASET_RECORD', `${loaded.where(i)}: field "${missing}" is missing (task ${task.name} needs ${task.fields.join(', ')})`, { subject: missing });
      withWhere(loaded.where(i), () => task.instance(d));
    });
  }
  return loaded;
}

/** Documents per packed forward when `--eval_bs` is not given: large enough that the linears are long products. */
export const DEFAULT_TASK_BATCH = 32;

function batchSize(options: TaskRunOptions): number {
  const b = options.batchSize ?? DEFAULT_TASK_BATCH;
  if (!Number.isInteger(b) || b < 1) throw new AutoRoundError('E_BAD_FLAG', `--eval_bs must be an integer ≥ 1, got ${b}`, { subject: '--eval_bs' });
  return b;
}

/** Runs the tasks; the scoring time gives documents per second. */
export async function runTasks(model: CausalLM, tokenizer: TextTokenizer, specs: readonly TaskSpec[], options: RunTasksOptions = {}): Promise<TaskRunResult> {
  const maxLength = Math.min(Number(model.spec.config.max_position_embeddings ?? 2048), 2048);
  const scorer = new Scorer(model, maxLength, !options.noPrefixSharing, !options.noPacking);
  const metrics: TaskMetric[] = [];
  const log: string[] = [];
  const samples: TaskSample[] | undefined = options.samples ? [] : undefined;
  let seconds = 0;
  let documents = 0;
  for (const spec of specs) {
    const task = TASKS.get(spec.name);
    if (!task) throw new AutoRoundError('E_UNKNOWN_TASK', `--tasks: unknown task "${spec.name}"; known tasks: ${TASK_NAMES.join(', ')}`, { subject: '--tasks' });
    const loaded = await loadDocs(task, spec, options.hub);
    if (options.protocol === 'llama.cpp') {
      if (task.name !== 'hellaswag') throw new AutoRoundError('E_UNSUPPORTED', `--eval_protocol llama.cpp: llama-perplexity scores hellaswag this way, not ${task.name}`, { subject: '--eval_protocol' });
      if ((options.numFewshot ?? 0) > 0) throw new AutoRoundError('E_UNSUPPORTED', `--eval_protocol llama.cpp has no few-shot examples (--num_fewshot ${options.numFewshot})`, { subject: '--num_fewshot' });
      const t0 = performance.now();
      const r = llamaCppHellaswag(scorer, tokenizer, loaded, task, options);
      seconds += (performance.now() - t0) / 1000;
      documents += r.n;
      metrics.push({ task: task.name, metric: 'acc_norm', value: r.correct / r.n, stderr: meanStderr(r.hits).stderr, n: r.n } as TaskMetric);
      log.push('task\tacc_norm\t95% confidence interval', ...r.lines);
      samples?.push(...r.samples);
      continue;
    }
    const t0 = performance.now();
    const scores = await harnessTask(scorer, tokenizer, loaded, task, spec, options);
    seconds += (performance.now() - t0) / 1000;
    documents += scores.length;
    const per = docMetrics(task, scores);
    metrics.push(...harnessMetrics(task, scores, per));
    if (samples) {
      scores.forEach((s, i) => {
        const m: Record<string, number> = {};
        for (const [name, xs] of Object.entries(per)) m[name] = xs[i]!;
        samples.push({ task: task.name, doc_id: i, target: s.instance.gold, scores: s.lls, metrics: m });
      });
    }
  }
  return { metrics, documents, seconds, tasksPerSecond: seconds > 0 ? documents / seconds : 0, ...(log.length ? { log } : {}), ...(samples ? { samples } : {}) };
}

function metric(task: string, name: string, xs: readonly number[]): TaskMetric {
  const { mean, stderr } = meanStderr(xs);
  return stderr === undefined ? { task, metric: name, value: mean, n: xs.length } : { task, metric: name, value: mean, stderr, n: xs.length };
}

/**
 * Each document's 0/1 value of the task's accuracy metrics: acc (the highest log-likelihood is the gold choice;
 * LAMBADA: the greedy continuation is the target) and acc_norm (log-likelihood over the choice's length).
 */
function docMetrics(task: TaskDef, scores: readonly DocScore[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  const acc = task.name === 'lambada_openai' ? scores.map((s) => (s.greedy[0] ? 1 : 0)) : scores.map((s) => (argmax(s.lls) === s.instance.gold ? 1 : 0));
  if (task.metrics.includes('acc')) out.acc = acc;
  if (task.metrics.includes('acc_norm')) out.acc_norm = scores.map((s) => (argmax(s.lls.map((l, j) => l / s.instance.lengths![j]!)) === s.instance.gold ? 1 : 0));
  return out;
}

/** The task's metrics from its documents' 0/1 values (docMetrics); MMLU's also per category and overall, pooled over subjects as the harness groups them. */
function harnessMetrics(task: TaskDef, scores: readonly DocScore[], per: Record<string, number[]>): TaskMetric[] {
  const acc = per.acc!;
  const out: TaskMetric[] = [];
  if (task.name === 'mmlu') {
    const bySubject = new Map<string, number[]>();
    const groupOf = new Map<string, string>();
    scores.forEach((s, i) => {
      const subject = String(s.doc.subject);
      if (!bySubject.has(subject)) bySubject.set(subject, []);
      bySubject.get(subject)!.push(acc[i]!);
      groupOf.set(subject, task.group!(s.doc));
    });
    const groups = ['mmlu_humanities', 'mmlu_other', 'mmlu_social_sciences', 'mmlu_stem'];
    const parts: { n: number; stderr: number | undefined }[] = [];
    const rows: TaskMetric[] = [];
    for (const g of groups) {
      const subjects = [...bySubject].filter(([s]) => groupOf.get(s) === g).map(([, xs]) => xs);
      const all = subjects.flat();
      if (!all.length) continue;
      const stderr = pooledStderr(subjects.map((xs) => ({ n: xs.length, stderr: meanStderr(xs).stderr })));
      const value = meanStderr(all).mean;
      rows.push(stderr === undefined ? { task: g, metric: 'acc', value, n: all.length } : { task: g, metric: 'acc', value, stderr, n: all.length });
      parts.push({ n: all.length, stderr });
    }
    const stderr = pooledStderr(parts);
    const value = meanStderr(acc).mean;
    out.push(stderr === undefined ? { task: 'mmlu', metric: 'acc', value, n: acc.length } : { task: 'mmlu', metric: 'acc', value, stderr, n: acc.length }, ...rows);
    return out;
  }
  for (const m of task.metrics) {
    if (m === 'acc' || m === 'acc_norm') out.push(metric(task.name, m, per[m]!));
    else {
      // perplexity of the target word: exp of minus the mean log-likelihood, its stderr bootstrapped as the harness does
      const ll = scores.map((s) => s.lls[0]!);
      const value = perplexityOf(ll);
      out.push(ll.length < 2 ? { task: task.name, metric: 'perplexity', value, n: ll.length } : { task: task.name, metric: 'perplexity', value, stderr: bootstrapStderr(perplexityOf, ll), n: ll.length });
    }
  }
  return out;
}

async function harnessTask(scorer: Scorer, tokenizer: TextTokenizer, loaded: LoadedDocs, task: TaskDef, spec: TaskSpec, options: RunTasksOptions): Promise<DocScore[]> {
  const k = options.numFewshot ?? 0;
  const n = options.limit !== undefined ? Math.min(options.limit, loaded.docs.length) : loaded.docs.length;
  // few-shot examples: the task's few-shot split from the hub, or (a local file) the file's other documents
  let shots: readonly Doc[] = [];
  const sameSplit = spec.path !== undefined || task.hub.fewshotSplit === undefined;
  if (k > 0) shots = sameSplit ? loaded.docs : (await readHubSplit(task, task.hub.fewshotSplit!, options.hub)).docs;
  const rnd = new PyRandom(options.seed ?? 1234);
  const out: DocScore[] = [];
  const batch = batchSize(options);
  let pending: { requests: ScoreRequest[]; instance: Instance; doc: Doc }[] = [];
  const flush = () => {
    const results = scorer.groups(pending.map((p) => p.requests));
    pending.forEach((p, j) => {
      const i = out.length;
      out.push({ lls: results[j]!.map((r) => r.logprob), greedy: results[j]!.map((r) => r.greedy), instance: p.instance, doc: p.doc });
      options.onScores?.(task.name, i, out[i]!.lls);
      options.onProgress?.(task.name, i + 1, n);
    });
    pending = [];
  };
  for (let i = 0; i < n; i++) {
    const doc = loaded.docs[i]!;
    const instance = withWhere(loaded.where(i), () => task.instance(doc));
    let examples: Doc[] = [];
    if (k > 0) {
      if (task.fewshotFirstN) {
        const subject = doc.subject;
        examples = shots.filter((d) => d !== doc && d.subject === subject).slice(0, k);
      } else {
        examples = pySample(rnd, shots, sameSplit ? k + 1 : k).filter((d) => d !== doc).slice(0, k);
      }
    }
    const prefix = (task.description?.(doc) ?? '') + examples.map((d) => `${task.shot(d)}\n\n`).join('');
    const ctxCache = new Map<string, number[]>();
    const requests = instance.contexts.map((c, j) => {
      const context = prefix + c;
      const trimmed = context.trimEnd();
      if (!ctxCache.has(trimmed)) ctxCache.set(trimmed, tokenizer.encode(trimmed, { addSpecialTokens: false }));
      return fit(encodePair(tokenizer, context, instance.continuations[j]!, trimmed === '' ? undefined : ctxCache.get(trimmed)), scorer.maxLength);
    });
    pending.push({ requests, instance, doc });
    if (pending.length >= batch) flush();
  }
  if (pending.length) flush();
  return out;
}

/** llama-perplexity --hellaswag: BOS + context + " " + ending; the mean log-probability after the shared prefix. */
function llamaCppHellaswag(scorer: Scorer, tokenizer: TextTokenizer, loaded: LoadedDocs, task: TaskDef, options: RunTasksOptions): { correct: number; n: number; hits: number[]; lines: string[]; samples: TaskSample[] } {
  const all: LlamaCppHellaswagTask[] =
    loaded.llamaCpp ??
    loaded.docs.map((d, i) => {
      const inst = withWhere(loaded.where(i), () => task.instance(d));
      const endings = inst.continuations.map((c) => c.slice(1));
      if (endings.length !== 4) throw new AutoRoundError('E_DATASET_RECORD', `${loaded.where(i)}: llama.cpp's HellaSwag protocol needs 4 endings, got ${endings.length}`, { subject: 'endings' });
      return { context: inst.contexts[0]!, gold: inst.gold, endings: endings as [string, string, string, string] };
    });
  // the draw over indices (the same draw as over the tasks) so that each sample names its line in the file
  const order = selectLlamaCppTasks([...all.keys()], options.limit);
  const selected = order.map((i) => all[i]!);
  let correct = 0;
  const hits: number[] = [];
  const lines: string[] = [];
  const samples: TaskSample[] = [];
  const batch = batchSize(options);
  for (let i0 = 0; i0 < selected.length; i0 += batch) {
    const docs = selected.slice(i0, i0 + batch).map((t, j) => {
      const seqs = t.endings.map((e) => Int32Array.from(tokenizer.encode(`${t.context} ${e}`, { addSpecialTokens: true })));
      const cp = commonPrefix(seqs);
      if (cp < 1 || seqs.some((s) => s.length <= cp)) throw new AutoRoundError('E_EVAL', `hellaswag task ${i0 + j + 1}: an ending adds no token after the prefix the four share`, { subject: '--tasks' });
      return seqs.map((tokens) => ({ tokens, from: cp }));
    });
    scorer.groups(docs).forEach((res, j) => {
      const i = i0 + j;
      const means = res.map((r) => r.logprob / r.count);
      options.onScores?.(task.name, i, means);
      const hit = argmax(means) === selected[i]!.gold ? 1 : 0;
      correct += hit;
      hits.push(hit);
      if (options.samples) samples.push({ task: task.name, doc_id: order[i]!, target: selected[i]!.gold, scores: means, metrics: { acc_norm: hit } });
      lines.push(llamaCppLine(i + 1, correct));
      options.onProgress?.(task.name, i + 1, selected.length);
    });
  }
  return { correct, n: selected.length, hits, lines, samples };
}
