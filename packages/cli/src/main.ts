import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AutoRound,
  type AutoRoundOptions,
  AutoRoundError,
  createLogger,
  createRegistry,
  DEMO_TEXT,
  describeScheme,
  describeSystemError,
  evalProtocolOf,
  folderKlDivergence,
  folderPerplexity,
  folderTasks,
  generateFromFolder,
  isAutoRoundError,
  type LayerConfigValue,
  openModel,
  PerplexityBench,
  RECIPES,
  readText,
  resolveModelDir,
  type Registry,
  type TaskRunOptions,
  type TaskSpec,
  validateOptions,
  writeDemoModel,
} from '@autoround/autoround';
import { defaultPlugins } from '@autoround/preset-default';
import { type FlagTable, flagTable, helpText, type ParsedArgs, parseArgs, pluginArgs } from './args.js';

export interface CliIO {
  out: (line: string) => void;
  err: (line: string) => void;
}

const stdio: CliIO = { out: (l) => process.stdout.write(l + '\n'), err: (l) => process.stderr.write(l + '\n') };

function str(a: ParsedArgs, k: string): string | undefined {
  const v = a.values.get(k);
  return v === undefined ? undefined : String(v);
}
function num(a: ParsedArgs, k: string): number | undefined {
  const v = a.values.get(k);
  return typeof v === 'number' ? v : undefined;
}
function bool(a: ParsedArgs, k: string): boolean | undefined {
  const v = a.values.get(k);
  return typeof v === 'boolean' ? v : undefined;
}

function parseLayerConfig(text: string): Record<string, LayerConfigValue> {
  for (const candidate of [text, text.replace(/'/g, '"').replace(/\bTrue\b/g, 'true').replace(/\bFalse\b/g, 'false')]) {
    try {
      const v = JSON.parse(candidate) as unknown;
      if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, LayerConfigValue>;
    } catch {
      /* try the next spelling */
    }
  }
  throw new AutoRoundError('E_BAD_FLAG', `--layer_config must be a JSON object such as {"model.layers.0.mlp.down_proj": {"bits": 8}}, got ${text}`, { subject: '--layer_config' });
}

function parseGroupSize(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (parseGroupShape(v)) return undefined;
  if (!/^-?\d+$/.test(v)) throw new AutoRoundError('E_BAD_FLAG', `--group_size expects an integer (32, 64, 128, -1, 0) or two for 2-D blocks (128,128), got "${v}"`, { subject: '--group_size' });
  return Number(v);
}

/** "128,128" (or "(128, 128)"): the original's tuple group_size, FP8 2-D blocks. */
function parseGroupShape(v: string | undefined): [number, number] | undefined {
  const m = v === undefined ? null : /^\(?\s*(\d+)\s*,\s*(\d+)\s*\)?$/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

function checkDevice(v: string | undefined): void {
  if (v === undefined || v === 'cpu' || v === 'auto') return;
  throw new AutoRoundError('E_BAD_FLAG', `--device ${v}: only cpu (or auto) is available; no CUDA kernel backend is installed`, { subject: '--device' });
}

/**
 * The registry of a CLI run: --plugin names (explicit), the dependencies of the working directory's and the
 * CLI's package.json (discovered), and @autoround/preset-default's list (built-in)
 * (docs/adr/0020-plugin-contract-v1.md). Made before the flags are parsed: installed algorithms add flags.
 */
function registryOf(argv: readonly string[], log: ReturnType<typeof createLogger>): Promise<Registry> {
  return createRegistry({ plugins: pluginArgs(argv), roots: [process.cwd(), dirname(fileURLToPath(import.meta.url))], builtins: defaultPlugins, log });
}

/** The values of the flags the algorithms declare, as API options (camelCase), type-checked and range-checked with the others. */
function declaredValues(a: ParsedArgs, table: FlagTable): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of table.flags.values()) {
    // a negation flag (--disable_minmax_tuning) stores under its option's flag
    if (!f.declared || f.name !== f.declared.option.flag) continue;
    const v = a.values.get(f.name);
    if (v !== undefined) out[f.declared.option.name] = v;
  }
  return out;
}

/** Maps CLI flags (snake_case, the original's names) to API options, recipe values filling the gaps. */
export function optionsFromArgs(a: ParsedArgs, recipe: string, registry: Registry, table: FlagTable = flagTable(registry.algorithms)): AutoRoundOptions {
  checkDevice(str(a, 'device'));
  const r = RECIPES[recipe] ?? {};
  // the algorithms' options under their API names (SignRound's are typed fields of AutoRoundOptions; the
  // host hands every one to the algorithm in QuantizeOptions)
  const o: AutoRoundOptions = { ...r, ...declaredValues(a, table), registry };
  const set = <K extends keyof AutoRoundOptions>(k: K, v: AutoRoundOptions[K] | undefined) => {
    if (v !== undefined) o[k] = v;
  };
  set('scheme', str(a, 'scheme'));
  set('bits', num(a, 'bits'));
  set('groupSize', parseGroupSize(str(a, 'group_size')));
  set('groupShape', parseGroupShape(str(a, 'group_size')));
  set('actBits', num(a, 'act_bits'));
  set('actDataType', str(a, 'act_data_type'));
  set('actGroupSize', num(a, 'act_group_size'));
  set('actSym', bool(a, 'act_sym'));
  set('actDynamic', bool(a, 'act_dynamic'));
  set('sym', bool(a, 'sym'));
  set('dataType', str(a, 'data_type'));
  const sd = str(a, 'scale_dtype');
  if (sd !== undefined) {
    const m: Record<string, 'fp16' | 'bf16' | 'fp32'> = { fp16: 'fp16', float16: 'fp16', bf16: 'bf16', bfloat16: 'bf16', fp32: 'fp32', float32: 'fp32' };
    if (!m[sd]) throw new AutoRoundError('E_BAD_FLAG', `--scale_dtype must be fp16, bf16 or fp32, got "${sd}"`, { subject: '--scale_dtype' });
    o.scaleDtype = m[sd];
  }
  set('iters', num(a, 'iters'));
  set('nsamples', num(a, 'nsamples'));
  set('seqlen', num(a, 'seqlen'));
  set('batchSize', num(a, 'batch_size'));
  set('seed', num(a, 'seed'));
  set('dataset', str(a, 'dataset'));
  set('disableOptRtn', bool(a, 'disable_opt_rtn'));
  set('algorithm', str(a, 'algorithm'));
  set('ignoreLayers', str(a, 'ignore_layers'));
  set('quantLmHead', bool(a, 'quant_lm_head'));
  set('maxShardSize', str(a, 'max_shard_size'));
  set('overwrite', bool(a, 'overwrite'));
  set('force', bool(a, 'force'));
  set('resume', bool(a, 'resume'));
  set('skipSanityCheck', bool(a, 'skip_sanity_check'));
  set('backend', str(a, 'backend'));
  set('threads', num(a, 'threads'));
  const lc = str(a, 'layer_config');
  if (lc !== undefined) o.layerConfig = parseLayerConfig(lc);
  const autoScheme = autoSchemeArgs(a);
  if (autoScheme) o.autoScheme = autoScheme;
  // --algorithm rtn does not tune: the recipe's iters (200 …) give way unless --iters is given
  if (o.algorithm?.trim().toLowerCase() === 'rtn' && num(a, 'iters') === undefined) o.iters = 0;
  // the ranges the AutoRound constructor checks too, reported here under the flags' names
  validateOptions(o, 'flag', registry.algorithms);
  return o;
}

/** --avg_bits with --options (and --ignore_scale_zp_bits, --shared_layers): the AutoScheme request (docs/autoscheme.md). */
function autoSchemeArgs(a: ParsedArgs): AutoRoundOptions['autoScheme'] {
  const avgBits = num(a, 'avg_bits');
  const options = str(a, 'options');
  const ignore = bool(a, 'ignore_scale_zp_bits');
  const shared = str(a, 'shared_layers');
  if (avgBits === undefined && options === undefined) {
    const stray = ignore !== undefined ? '--ignore_scale_zp_bits' : shared !== undefined ? '--shared_layers' : undefined;
    if (stray) throw new AutoRoundError('E_BAD_FLAG', `${stray} is an AutoScheme flag: it needs --avg_bits and --options`, { subject: stray });
    return undefined;
  }
  if (avgBits === undefined) throw new AutoRoundError('E_BAD_FLAG', '--options needs --avg_bits (alias --target_bits): the average bits AutoScheme is to meet', { subject: '--options' });
  if (options === undefined) throw new AutoRoundError('E_BAD_FLAG', '--avg_bits needs --options: the schemes AutoScheme chooses from (e.g. --options W2A16,W4A16)', { subject: '--avg_bits' });
  const sharedLayers = shared
    ?.split(';')
    .map((g) => g.split(',').map((p) => p.trim()).filter(Boolean))
    .filter((g) => g.length > 0);
  return { avgBits, options: [options], ...(ignore !== undefined ? { ignoreScaleZpBits: ignore } : {}), ...(sharedLayers?.length ? { sharedLayers } : {}) };
}

function modelArg(a: ParsedArgs): string {
  const m = str(a, 'model') ?? a.positionals[0];
  if (!m) throw new AutoRoundError('E_BAD_FLAG', '--model is required (a model folder or a hub id)', { subject: '--model' });
  return m;
}

function evalSeqlen(a: ParsedArgs, maxPositions: number): number {
  return num(a, 'eval_seqlen') ?? Math.min(2048, maxPositions);
}

/** --eval_max_tokens, checked with --eval_seqlen (and --threads) before any model is read. */
function evalMaxTokens(a: ParsedArgs): { maxTokens?: number } {
  const evalSeqlen = num(a, 'eval_seqlen');
  const maxTokens = num(a, 'eval_max_tokens');
  const threads = num(a, 'threads');
  validateOptions({ ...(evalSeqlen !== undefined ? { evalSeqlen } : {}), ...(maxTokens !== undefined ? { evalMaxTokens: maxTokens } : {}), ...(threads !== undefined ? { threads } : {}) }, 'flag');
  return maxTokens !== undefined ? { maxTokens } : {};
}

function printPpl(io: CliIO, label: string, r: { perplexity: number; tokens: number }): void {
  io.out(`  ${label.padEnd(34)} ${r.perplexity.toFixed(4)}`);
}

async function list(io: CliIO, registry: Registry, what?: string): Promise<void> {
  const show = (k: string) => !what || what === k;
  if (show('plugin')) {
    io.out('plugin packages:');
    for (const p of registry.plugins) io.out(`  ${p.name}  (${registry.sourceOf(p.name) ?? ''})`);
  }
  if (show('alg')) {
    io.out('algorithms:');
    for (const x of registry.algorithms) io.out(`  ${x.name.padEnd(14)} ${x.description}`);
  }
  if (show('format')) {
    io.out('formats:');
    for (const x of registry.exporters) io.out(`  ${x.name.padEnd(14)} ${x.description}`);
  }
  if (show('arch')) {
    io.out('architectures:');
    for (const x of registry.architectures) io.out(`  ${x.name.padEnd(14)} ${x.hfArchitectures.join(', ')}`);
  }
  if (show('dataset')) {
    io.out('dataset sources:');
    for (const x of registry.datasets) io.out(`  ${x.name}`);
  }
  if (show('command')) {
    io.out('commands:');
    for (const x of registry.commands) io.out(`  ${x.name.padEnd(14)} ${x.description}`);
  }
  if (show('backend')) {
    io.out('kernel backends:');
    for (const x of registry.kernelBackends) io.out(`  ${x.name.padEnd(14)} priority ${x.priority}${x.available() ? '' : ' (unavailable here)'}`);
  }
  if (show('evaluator')) {
    // eval, --eval_ppl and the sanity probe score through the first one
    io.out('evaluators:');
    for (const x of registry.evaluators) io.out(`  ${x.name}`);
  }
}

async function quantize(io: CliIO, a: ParsedArgs, recipe: string, registry: Registry, table: FlagTable): Promise<void> {
  const log = createLogger('info', io.err);
  const options = optionsFromArgs(a, recipe, registry, table);
  const evalTokens = evalMaxTokens(a);
  const evalFile = str(a, 'eval_ppl');
  const kld = bool(a, 'eval_kld') === true;
  if (str(a, 'eval_kld_base') !== undefined) {
    throw new AutoRoundError('E_BAD_FLAG', '--eval_kld_base is for `eval` (a model folder against a reference folder); after quantizing, --eval_kld compares with the input model', { subject: '--eval_kld_base' });
  }
  if (kld && !evalFile) throw new AutoRoundError('E_BAD_FLAG', '--eval_kld needs --eval_ppl TEXT_FILE (the text it is measured on)', { subject: '--eval_kld' });
  const tasks = taskArgs(a, registry);
  if (str(a, 'eval_protocol') !== undefined && !tasks) throw new AutoRoundError('E_BAD_FLAG', '--eval_protocol is for `eval` (auto-round eval --model DIR --eval_ppl FILE --eval_protocol llama.cpp) or for --tasks', { subject: '--eval_protocol' });
  const ar = new AutoRound(modelArg(a), { ...options, log });
  const out = str(a, 'output_dir') ?? './tmp_autoround';
  const text = evalFile ? readText(evalFile) : undefined;
  // without an evaluator (@autoround/eval) --eval_ppl fails before the run, not after it
  if (evalFile) (await ar.registry()).evaluator('perplexity (--eval_ppl)', '--eval_ppl');
  const res = await ar.quantizeAndSave(out, { format: str(a, 'format') ?? 'auto_round', keepQdq: !!evalFile, protect: evalFile ? [evalFile] : [] });
  for (const o of res.outputs) io.out(`wrote ${o.format} to ${o.dir}`);
  io.out(`${res.quantizedLayers} layers quantized, ${res.fullPrecisionLayers} kept in full precision, ${res.seconds.toFixed(1)} s`);
  // --tasks evaluates the result as the original does (lm-eval on the saved model): the first output, read back
  if (tasks) await printTasks(io, a, registry, res.outputs[0]!.dir, await ar.backend(), tasks);
  if (evalFile && text !== undefined) {
    const model = await ar.load();
    const seqlen = evalSeqlen(a, Number(model.config.max_position_embeddings ?? 2048));
    const bench = new PerplexityBench(await ar.registry(), model, await ar.backend(), text, { seqlen, ...evalTokens });
    io.out(`perplexity on ${basename(evalFile)} (${bench.ids.length} tokens, windows of ${seqlen}):`);
    const label = `quantized (${describeScheme(await ar.scheme())})`;
    if (kld) {
      // one pass: both perplexities (the numbers of the two runs below) and the KL divergence
      const k = bench.compareQuantized(res.qdq, res.tensors);
      printPpl(io, 'original', { perplexity: k.referencePerplexity, tokens: k.tokens });
      printPpl(io, label, k);
      printKld(io, 'original', k);
      io.out(JSON.stringify({ eval: 'perplexity', text: basename(evalFile), tokens: k.tokens, seqlen, original: k.referencePerplexity, quantized: k.perplexity, kld: k.kld, same_top: k.sameTop }));
      return;
    }
    const fp = bench.run(model.checkpoint);
    printPpl(io, 'original', fp);
    const q = bench.runQuantized(res.qdq, res.tensors);
    printPpl(io, label, q);
    io.out(JSON.stringify({ eval: 'perplexity', text: basename(evalFile), tokens: q.tokens, seqlen, original: fp.perplexity, quantized: q.perplexity }));
  }
}

function printKld(io: CliIO, base: string, k: { kld: number; sameTop: number }): void {
  io.out(`  ${`KL divergence from ${base}`.padEnd(34)} ${k.kld.toFixed(6)} (same top token ${(100 * k.sameTop).toFixed(2)}%)`);
}

/** --tasks and its options, checked before any model is read (docs/eval/tasks.md). */
function taskArgs(a: ParsedArgs, registry: Registry): { specs: TaskSpec[]; options: TaskRunOptions } | undefined {
  const value = str(a, 'tasks');
  if (value === undefined) {
    // (--eval_protocol is not among them: it also selects llama.cpp's perplexity protocol)
    for (const f of ['limit', 'num_fewshot', 'tasks_output', 'log_samples']) {
      if (a.values.has(f)) throw new AutoRoundError('E_BAD_FLAG', `--${f} goes with --tasks`, { subject: `--${f}` });
    }
    return undefined;
  }
  const specs = registry.taskEvaluator('--tasks').parse(value);
  const limit = num(a, 'limit');
  const fewshot = num(a, 'num_fewshot');
  if (limit !== undefined && limit < 1) throw new AutoRoundError('E_BAD_FLAG', `--limit must be an integer ≥ 1, got ${limit}`, { subject: '--limit' });
  if (fewshot !== undefined && fewshot < 0) throw new AutoRoundError('E_BAD_FLAG', `--num_fewshot must be an integer ≥ 0, got ${fewshot}`, { subject: '--num_fewshot' });
  const protocol = str(a, 'eval_protocol');
  if (protocol !== undefined && protocol !== 'harness' && protocol !== 'llama.cpp') {
    throw new AutoRoundError('E_BAD_FLAG', `--eval_protocol must be harness or llama.cpp, got "${protocol}"`, { subject: '--eval_protocol' });
  }
  const seed = num(a, 'seed');
  const bs = num(a, 'eval_bs');
  const logSamples = bool(a, 'log_samples') === true;
  if (logSamples && str(a, 'tasks_output') === undefined) throw new AutoRoundError('E_BAD_FLAG', '--log_samples writes beside --tasks_output FILE.json: give --tasks_output too', { subject: '--log_samples' });
  if (bs !== undefined && bs < 1) throw new AutoRoundError('E_BAD_FLAG', `--eval_bs must be an integer ≥ 1, got ${bs}`, { subject: '--eval_bs' });
  const options: TaskRunOptions = {
    ...(bs !== undefined ? { batchSize: bs } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(fewshot !== undefined ? { numFewshot: fewshot } : {}),
    ...(seed !== undefined ? { seed } : {}),
    ...(protocol === 'llama.cpp' ? { protocol: 'llama.cpp' as const } : {}),
    ...(logSamples ? { samples: true } : {}),
  };
  return { specs, options };
}

/** Where --log_samples writes: FILE.json → FILE.samples.jsonl (any other name gets .samples.jsonl appended). */
export function samplesPath(tasksOutput: string): string {
  return `${tasksOutput.replace(/\.json$/i, '')}.samples.jsonl`;
}

/** Runs the tasks on a model folder; prints the table (task, metric, value, stderr) and the JSON line, and writes --tasks_output. */
async function printTasks(io: CliIO, a: ParsedArgs, registry: Registry, dir: string, backend: Parameters<typeof folderTasks>[2], run: { specs: TaskSpec[]; options: TaskRunOptions }): Promise<void> {
  const model = openModel(registry, dir);
  let res: Awaited<ReturnType<typeof folderTasks>>;
  try {
    let last = 0;
    const onProgress = (task: string, done: number, total: number) => {
      const now = Date.now();
      if (now - last > 10_000 || done === total) {
        last = now;
        io.err(`  ${task}: ${done}/${total}`);
      }
    };
    res = await folderTasks(registry, model, backend, run.specs, { ...run.options, onProgress });
  } finally {
    model.checkpoint.close();
  }
  const protocol = run.options.protocol ?? 'harness';
  if (res.log) for (const l of res.log) io.out(l);
  io.out(`tasks on ${dir} (${protocol} protocol${run.options.numFewshot ? `, ${run.options.numFewshot}-shot` : ''}):`);
  io.out(`  ${'task'.padEnd(22)} ${'metric'.padEnd(10)} ${'value'.padStart(8)} ${'stderr'.padStart(8)}`);
  for (const m of res.metrics) io.out(`  ${m.task.padEnd(22)} ${m.metric.padEnd(10)} ${m.value.toFixed(4).padStart(8)} ${(m.stderr === undefined ? 'n/a' : m.stderr.toFixed(4)).padStart(8)}`);
  io.out(`  ${res.documents} documents in ${res.seconds.toFixed(1)} s: ${res.tasksPerSecond.toFixed(2)} tasks/s`);
  const json = {
    eval: 'tasks',
    model: dir,
    protocol,
    num_fewshot: run.options.numFewshot ?? 0,
    ...(run.options.limit !== undefined ? { limit: run.options.limit } : {}),
    results: res.metrics.map((m) => ({ task: m.task, metric: m.metric, value: m.value, stderr: m.stderr ?? null, n: m.n })),
    documents: res.documents,
    seconds: res.seconds,
    tasks_per_second: res.tasksPerSecond,
  };
  io.out(JSON.stringify(json));
  const file = str(a, 'tasks_output');
  if (file !== undefined) {
    const write = (path: string, text: string) => {
      try {
        writeFileSync(path, text);
      } catch (e) {
        throw new AutoRoundError('E_WRITE', `--tasks_output: cannot write ${describeSystemError(e, path) ?? `${path}: ${(e as Error).message}`}`, { subject: '--tasks_output', cause: e });
      }
    };
    write(file, JSON.stringify(json, null, 2) + '\n');
    if (res.samples) {
      const samplesFile = samplesPath(file);
      write(samplesFile, res.samples.map((s) => JSON.stringify(s)).join('\n') + '\n');
      io.err(`  ${res.samples.length} document scores written to ${samplesFile}`);
    }
  }
}

async function evaluate(io: CliIO, a: ParsedArgs, registry: Registry): Promise<void> {
  const log = createLogger('info', io.err);
  const file = str(a, 'eval_ppl') ?? a.positionals[1];
  const tasks = taskArgs(a, registry);
  if (!file && !tasks) throw new AutoRoundError('E_BAD_FLAG', 'eval needs --eval_ppl TEXT_FILE or --tasks NAMES', { subject: '--eval_ppl' });
  const baseArg = str(a, 'eval_kld_base');
  if (bool(a, 'eval_kld') === true && baseArg === undefined) {
    throw new AutoRoundError('E_BAD_FLAG', '--eval_kld compares a run with its input model; with eval, name the reference model: --eval_kld_base DIR', { subject: '--eval_kld' });
  }
  const backendName = str(a, 'backend');
  const evalTokens = evalMaxTokens(a);
  const protocol = evalProtocolOf(str(a, 'eval_protocol'));
  if (protocol === 'llama.cpp' && baseArg !== undefined) {
    throw new AutoRoundError('E_BAD_FLAG', '--eval_protocol llama.cpp with --eval_kld_base: the KL divergence is measured over the windows protocol only', { subject: '--eval_protocol' });
  }
  const threads = num(a, 'threads');
  const ar = new AutoRound(modelArg(a), { log, registry, ...(backendName ? { backend: backendName } : {}), ...(threads !== undefined ? { threads } : {}) });
  const model = await ar.load();
  if (tasks) {
    model.checkpoint.close();
    await printTasks(io, a, registry, model.dir, await ar.backend(), tasks);
  }
  if (!file) return;
  const seqlen = evalSeqlen(a, Number(model.config.max_position_embeddings ?? 2048));
  const text = readText(file);
  const head = (tokens: number) => `perplexity of ${model.dir} on ${basename(file)} (${tokens} tokens scored, windows of ${seqlen})`;
  if (baseArg !== undefined) {
    const base = await new AutoRound(baseArg, { log, registry }).load();
    try {
      const k = folderKlDivergence(registry, model, base, await ar.backend(), text, { seqlen, ...evalTokens });
      io.out(`${head(k.tokens)}: ${k.perplexity.toFixed(4)}`);
      io.out(`KL divergence from ${base.dir} (perplexity ${k.referencePerplexity.toFixed(4)}): mean ${k.kld.toFixed(6)}, same top token ${(100 * k.sameTop).toFixed(2)}%`);
      io.out(
        JSON.stringify({ eval: 'perplexity', model: model.dir, text: basename(file), tokens: k.tokens, seqlen, perplexity: k.perplexity, kld: k.kld, same_top: k.sameTop, base: base.dir, base_perplexity: k.referencePerplexity }),
      );
    } finally {
      base.checkpoint.close();
    }
    return;
  }
  const r = folderPerplexity(registry, model.dir, await ar.backend(), text, { seqlen, ...evalTokens, protocol });
  if (protocol === 'llama.cpp') {
    // llama-perplexity's line: chunks of n_ctx, the second half of each scored
    io.out(`perplexity of ${model.dir} on ${basename(file)} as llama-perplexity -c ${seqlen} computes it (${r.windows} chunks, ${r.tokens} tokens scored): ${r.perplexity.toFixed(4)}`);
    io.out(JSON.stringify({ eval: 'perplexity', protocol, model: model.dir, text: basename(file), tokens: r.tokens, chunks: r.windows, n_ctx: seqlen, perplexity: r.perplexity }));
    return;
  }
  io.out(`${head(r.tokens)}: ${r.perplexity.toFixed(4)}`);
  io.out(JSON.stringify({ eval: 'perplexity', model: model.dir, text: basename(file), tokens: r.tokens, seqlen, perplexity: r.perplexity }));
}

/** `generate`: greedy (or sampled) text after --prompt from any model folder (docs/generate.md). */
async function generate(io: CliIO, a: ParsedArgs, registry: Registry): Promise<void> {
  const log = createLogger('info', io.err);
  const prompt = str(a, 'prompt');
  if (prompt === undefined) throw new AutoRoundError('E_BAD_FLAG', 'generate needs --prompt TEXT', { subject: '--prompt' });
  const backendName = str(a, 'backend');
  const threads = num(a, 'threads');
  const temperature = num(a, 'temperature');
  const seed = num(a, 'seed');
  const ar = new AutoRound(modelArg(a), { log, registry, ...(backendName ? { backend: backendName } : {}), ...(threads !== undefined ? { threads } : {}) });
  const dir = await resolveModelDir(modelArg(a), log);
  const r = generateFromFolder(registry, dir, await ar.backend(), prompt, {
    maxNewTokens: num(a, 'max_new_tokens') ?? 64,
    ...(temperature !== undefined ? { temperature } : {}),
    ...(seed !== undefined ? { seed } : {}),
  });
  io.out(prompt + r.text);
  if (bool(a, 'output_ids') === true) io.out(JSON.stringify({ prompt_ids: r.promptIds, generated_ids: r.ids, stopped_at_eos: r.stoppedAtEos }));
}

async function demo(io: CliIO, a: ParsedArgs, registry: Registry): Promise<void> {
  const log = createLogger('info', io.err);
  const work = mkdtempSync(join(tmpdir(), 'autoround-demo-'));
  const modelDir = join(work, 'demo-llama');
  const out = str(a, 'output_dir') ?? join(work, 'quantized');
  try {
    io.out('demo: writing a small LLaMA-shaped model (2 blocks, hidden 128) with SEEDED RANDOM WEIGHTS — its text is noise,');
    io.out(`      but every step below is the real pipeline. Model: ${modelDir}`);
    writeDemoModel(modelDir);
    const textFile = join(work, 'demo.txt');
    (await import('node:fs')).writeFileSync(textFile, DEMO_TEXT);
    const ar = new AutoRound(modelDir, { scheme: 'W4A16', groupSize: 32, iters: 0, disableOptRtn: true, log, registry, overwrite: bool(a, 'overwrite') ?? false });
    const res = await ar.quantizeAndSave(out, { format: ['auto_round', 'fake'], keepQdq: true });
    for (const o of res.outputs) io.out(`wrote ${o.format} to ${o.dir}`);
    const backend = await ar.backend();
    io.out('perplexity on the demo text (random weights, so both are high; what matters is that they are close):');
    const fp = folderPerplexity(registry, modelDir, backend, DEMO_TEXT, { seqlen: 512 });
    printPpl(io, 'original (fp32)', fp);
    const packed = folderPerplexity(registry, res.outputs[0]!.dir, backend, DEMO_TEXT, { seqlen: 512 });
    printPpl(io, 'auto_round W4A16 g32, read back', packed);
    io.out(`done. For a real model: auto-round --model Qwen/Qwen3-0.6B --scheme W4A16 --iters 0 --format auto_round --output_dir ./qwen3-w4`);
  } finally {
    if (!str(a, 'output_dir')) rmSync(work, { recursive: true, force: true });
    else rmSync(modelDir, { recursive: true, force: true });
  }
}

/** Runs the CLI; returns the exit code. `recipe` is the entry point's name (auto-round, auto-round-best …). */
export async function main(argv: string[], recipe = 'auto-round', io: CliIO = stdio): Promise<number> {
  try {
    const log = createLogger('warn', io.err);
    const registry = await registryOf(argv, log);
    // the host's flags and those the installed algorithms declare
    const table = flagTable(registry.algorithms);
    for (const c of table.clashes) log.warn(c);
    const a = parseArgs(argv, table);
    if (a.command === 'help' || a.values.get('help') === true) {
      io.out(helpText(recipe, registry.commands, table));
      return 0;
    }
    if (a.command === 'list' || a.values.get('list') === true) {
      await list(io, registry, a.positionals[0]);
      return 0;
    }
    // a first word that is no command of the CLI's own may be one a plugin contributes (gguf-info)
    const first = argv[0];
    const command = a.command === 'quantize' && first !== undefined && a.positionals[0] === first ? registry.command(first) : undefined;
    if (command) await command.run(a.positionals.slice(1), io);
    else if (a.command === 'eval') await evaluate(io, a, registry);
    else if (a.command === 'generate') await generate(io, a, registry);
    else if (a.command === 'demo') await demo(io, a, registry);
    else await quantize(io, a, recipe, registry, table);
    return 0;
  } catch (e) {
    // AUTOROUND_DEBUG=1 prints the stack of every error, for a bug report
    const stack = process.env.AUTOROUND_DEBUG === '1' && e instanceof Error && e.stack ? e.stack : undefined;
    if (isAutoRoundError(e)) {
      io.err(`error: ${e.message}`);
      if (stack) io.err(stack);
      return 1;
    }
    // a failed file-system call that no reader or writer named (a full disk, a permission, a folder
    // where a file belongs) is the user's to fix, not a bug of ours: one line with the path, no stack
    const system = describeSystemError(e);
    if (system !== undefined) {
      io.err(`error: ${system}`);
      if (stack) io.err(stack);
      return 1;
    }
    io.err(`error: ${(e as Error).stack ?? String(e)}`);
    return 2;
  }
}

export { openModel };
