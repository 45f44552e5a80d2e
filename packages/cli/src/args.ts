import { type AlgorithmOption, type AlgorithmPlugin, AutoRoundError, type CommandPlugin, declaredOptions } from '@autoround/core';

export type FlagKind = 'string' | 'int' | 'float' | 'bool';

export interface FlagSpec {
  kind: FlagKind;
  /** The canonical name (first alias). */
  name: string;
  help: string;
  /** Set by a flag that only switches (e.g. --asym sets sym=false). */
  sets?: { key: string; value: boolean };
  /** Accepted for compatibility and ignored, with the reason shown by --help. */
  ignored?: string;
  /** Exists in the original but is not implemented here: using it is an error. */
  unsupported?: string;
  /** May be given more than once; the values are joined with commas. */
  repeatable?: boolean;
  /** The algorithm option the flag was generated from, and the algorithm declaring it (listed under it by --help). */
  declared?: { algorithm: string; option: AlgorithmOption };
}

const F = (kind: FlagKind, name: string, help: string, extra: Partial<FlagSpec> = {}): [string, FlagSpec] => [name, { kind, name, help, ...extra }];

/**
 * The flags of the host and the CLI, the original's names (docs/algorithms/schemes.md#command-line-flags);
 * aliases map to the canonical name. An algorithm's options are its own (AlgorithmPlugin.options): flagTable
 * adds them from the installed algorithms.
 */
export const HOST_FLAGS: ReadonlyMap<string, FlagSpec> = new Map<string, FlagSpec>([
  F('string', 'model', 'model folder or hub id (org/name)'),
  F('string', 'scheme', 'preset scheme: W4A16 (default), W2A16, W3A16, W8A16, W2A16G32, GGUF:Q4_K_M …'),
  F('int', 'bits', 'weight bits (overrides the scheme)'),
  F('string', 'group_size', 'group size: 32, 64, 128, -1 (per channel), 0 (per tensor), 128,128 (FP8 2-D blocks)'),
  F('bool', 'sym', 'symmetric quantization', { sets: { key: 'sym', value: true } }),
  F('bool', 'asym', 'asymmetric quantization', { sets: { key: 'sym', value: false } }),
  F('string', 'data_type', 'weight data type: int, mx_fp, mx_int, nv_fp, nvfp4_v2, fp (8 bits) …'),
  F('string', 'scale_dtype', 'scale dtype: fp16 (default), bf16, fp32'),
  F('int', 'iters', 'tuning iterations; 0 selects RTN (default 200)'),
  F('int', 'nsamples', 'calibration samples (default 128)'),
  F('int', 'seqlen', 'calibration sequence length (default 2048)'),
  F('int', 'batch_size', 'calibration batch size (default 8)'),
  F('int', 'seed', 'random seed (default 42)'),
  F('string', 'dataset', 'calibration data: a local file or hub dataset (default NeelNanda/pile-10k)'),
  F('string', 'format', 'output format(s), comma-separated: auto_round (default), fake, …'),
  F('string', 'output_dir', 'output folder (default ./tmp_autoround)'),
  F('string', 'layer_config', 'per-layer schemes as JSON: {"layers.0.mlp.down_proj": {"bits": 8}} (GGUF output: "GGUF:Q8_0" …, lm_head and embed_tokens too)'),
  F('string', 'ignore_layers', 'comma-separated layers kept in full precision (GGUF output: lm_head and embed_tokens too)'),
  F('bool', 'quant_lm_head', 'quantize lm_head too', { sets: { key: 'quant_lm_head', value: true } }),
  F('bool', 'disable_opt_rtn', 'with --iters 0: plain RTN', { sets: { key: 'disable_opt_rtn', value: true } }),
  F('bool', 'enable_opt_rtn', 'with --iters 0: optimized RTN (default)', { sets: { key: 'disable_opt_rtn', value: false } }),
  F('string', 'algorithm', 'algorithm: auto_round (default) or rtn'),
  F('string', 'device', 'cpu / auto (default); CUDA needs @autoround/kernels-cuda'),
  F('string', 'backend', 'kernel backend: native, wasm, js (default: fastest available; env AUTOROUND_BACKEND)'),
  F('int', 'threads', 'compute threads (default: all cores)'),
  F('string', 'max_shard_size', 'largest output shard (default 5GB)'),
  F('bool', 'overwrite', 'replace a non-empty output folder that holds an earlier output of auto-round', { sets: { key: 'overwrite', value: true } }),
  F('bool', 'force', 'with --overwrite: replace a non-empty output folder even when it does not look like an earlier output (never the input, the current or the home folder)', { sets: { key: 'force', value: true } }),
  F('bool', 'resume', 'continue an interrupted SignRound run into the same --output_dir from its last finished block, with the same model and options (the result is byte-identical; see docs/resume.md)', { sets: { key: 'resume', value: true } }),
  F('bool', 'skip_sanity_check', 'do not read the output back and compare its perplexity with the input model\'s (on by default: more than 1.5x worse, 3x below 4 bits, or NaN fails the run and keeps the output)', { sets: { key: 'skip_sanity_check', value: true } }),
  F('string', 'eval_ppl', 'after quantizing (or with `eval`), print perplexity on this text file'),
  F('int', 'eval_seqlen', 'perplexity window length, BOS included (default min(2048, max_position_embeddings))'),
  F('string', 'eval_protocol', 'llama.cpp: score as llama-perplexity does: with `eval --eval_ppl`, chunks of --eval_seqlen with the second half scored (default windows: [BOS] + seqlen-1 tokens, all scored; docs/perplexity-llama-cpp.md); with --tasks hellaswag, llama-perplexity --hellaswag (BOS, mean log-probability of the ending; default harness, docs/eval/tasks.md)'),
  F('int', 'eval_max_tokens', 'score at most this many tokens of the text'),
  F('string', 'eval_kld_base', 'with `eval --eval_ppl`: also the KL divergence from this reference model (folder or hub id, same tokenizer) and the same-top-token rate, as llama-perplexity --kl-divergence'),
  F('bool', 'eval_kld', 'with --eval_ppl after quantizing: also the KL divergence of the quantized model from the input model', { sets: { key: 'eval_kld', value: true } }),
  F('string', 'prompt', 'with `generate`: the text the model continues'),
  F('int', 'max_new_tokens', 'with `generate`: tokens to generate at most (default 64; stops earlier at EOS)'),
  F('float', 'temperature', 'with `generate`: 0 (default) greedy; above 0 sampled from softmax(logits / T), seeded by --seed'),
  F('bool', 'output_ids', 'with `generate`: also print the prompt and generated token ids as JSON', { sets: { key: 'output_ids', value: true } }),
  F('string', 'plugin', 'use this installed plugin package, over discovered and built-in ones on a name clash (repeatable, or a comma list)', { repeatable: true }),
  F('bool', 'list', 'list installed plugins and exit', { sets: { key: 'list', value: true } }),
  F('bool', 'help', 'show this help', { sets: { key: 'help', value: true } }),
  F('bool', 'low_gpu_mem_usage', 'accepted for compatibility (no GPU memory to save on CPU)', { sets: { key: 'low_gpu_mem_usage', value: true }, ignored: 'CPU only' }),
  F('bool', 'low_cpu_mem_usage', 'accepted (always on: weights are streamed)', { sets: { key: 'low_cpu_mem_usage', value: true }, ignored: 'always on' }),
  F('bool', 'enable_torch_compile', 'accepted (no torch here)', { sets: { key: 'x', value: true }, ignored: 'no torch' }),
  F('bool', 'disable_torch_compile', 'accepted (no torch here)', { sets: { key: 'x', value: true }, ignored: 'no torch' }),
  F('bool', 'disable_amp', 'accepted (computation is float32)', { sets: { key: 'x', value: true }, ignored: 'float32 always' }),
  F('bool', 'disable_trust_remote_code', 'accepted (no remote code is ever run)', { sets: { key: 'x', value: true }, ignored: 'never runs remote code' }),
  F('int', 'act_bits', 'activation bits (overrides the scheme; 16: no activation quantization)'),
  F('string', 'act_data_type', 'activation data type: int, mx_fp, mx_fp_rceil, mx_int, nv_fp4_with_static_gs, nvfp4_v2, fp'),
  F('int', 'act_group_size', 'activation group size along each token: 32, 16, -1 (per token), 0 (per tensor)'),
  F('bool', 'act_sym', 'symmetric activations', { sets: { key: 'act_sym', value: true } }),
  F('bool', 'act_asym', 'asymmetric activations', { sets: { key: 'act_sym', value: false } }),
  F('bool', 'act_dynamic', 'activation scales computed on the fly (default for most schemes)', { sets: { key: 'act_dynamic', value: true } }),
  F('bool', 'disable_act_dynamic', 'static activation scales calibrated on data (FP8_STATIC)', { sets: { key: 'act_dynamic', value: false } }),
  F('int', 'super_bits', 'double-quant bits', { unsupported: 'set by the GGUF schemes' }),
  F('int', 'super_group_size', 'double-quant group size', { unsupported: 'set by the GGUF schemes' }),
  F('float', 'avg_bits', 'AutoScheme: the average bits per quantized weight to meet, each layer\'s scheme picked among --options (needs @autoround/autoscheme)'),
  F('string', 'options', 'AutoScheme: the schemes to choose from, comma-separated: W2A16,W4A16 … or gguf:q2_k_s,gguf:q4_k_s …'),
  F('bool', 'ignore_scale_zp_bits', 'AutoScheme: count weight bits only, without scale and zero-point bits', { sets: { key: 'ignore_scale_zp_bits', value: true } }),
  F('string', 'shared_layers', 'AutoScheme: layers that share one scheme within each block, groups separated by ";": q_proj,k_proj,v_proj;gate_proj,up_proj'),
  F('string', 'tasks', 'accuracy tasks after quantizing (of the first output) or with `eval`, comma-separated: hellaswag, lambada_openai, piqa, winogrande, arc_easy, arc_challenge, boolq, openbookqa, mmlu; NAME:PATH reads a local .jsonl/.json/.parquet (the hub\'s schema) or llama.cpp HellaSwag .txt (docs/eval/tasks.md)'),
  F('int', 'limit', 'with --tasks: score the first N documents of each task (llama.cpp protocol: N drawn at random, as llama-perplexity --hellaswag-tasks N)'),
  F('int', 'num_fewshot', 'with --tasks: few-shot examples before each document (default 0)'),
  F('int', 'eval_bs', 'documents --tasks scores in one packed forward (default 32; the scores do not depend on it)'),
  F('string', 'tasks_output', 'with --tasks: also write the results as JSON to this file'),
  F('bool', 'log_samples', 'with --tasks_output FILE.json: also write each document\'s scores and 0/1 metrics to FILE.samples.jsonl (for paired comparisons of two models)', { sets: { key: 'log_samples', value: true } }),
  F('bool', 'quant_nontext_module', 'also quantize the vision tower of a vision-language model', { sets: { key: 'quant_nontext_module', value: true }, unsupported: 'quantizing the vision tower is not implemented yet: the text model is quantized and the vision tower and projector are copied unchanged (docs/vlm.md)' }),
]);

const HOST_ALIASES: Readonly<Record<string, string>> = {
  model_name: 'model',
  model_name_or_path: 'model',
  formats: 'format',
  bs: 'batch_size',
  train_bs: 'batch_size',
  seq_len: 'seqlen',
  nsample: 'nsamples',
  iter: 'iters',
  alg: 'algorithm',
  fp_layers: 'ignore_layers',
  device_map: 'device',
  devices: 'device',
  dtype: 'data_type',
  act_dtype: 'act_data_type',
  target_bits: 'avg_bits',
  task: 'tasks',
};

/** Every flag a run knows: the host's and those the installed algorithms declare. */
export interface FlagTable {
  readonly flags: ReadonlyMap<string, FlagSpec>;
  /** Alias → canonical flag name. */
  readonly aliases: ReadonlyMap<string, string>;
  /** Declarations left out because their flag was taken (a host flag, or an earlier algorithm's), for a warning. */
  readonly clashes: readonly string[];
}

const KIND: Record<AlgorithmOption['type'], FlagKind> = { boolean: 'bool', integer: 'int', number: 'float', string: 'string' };

/** A declaration's --help line: a number default and a switch that is on are said ("(default on)"). */
function declaredHelp(o: AlgorithmOption): string {
  const d = o.default;
  const shown = typeof d === 'number' ? String(d) : d === true ? 'on' : typeof d === 'string' ? d : undefined;
  return shown === undefined ? o.help : `${o.help} (default ${shown})`;
}

/**
 * The host's flags and the options `algorithms` declare (in precedence order; the first declaration of a
 * flag wins, and one that takes a host flag or another algorithm's is left out and reported in `clashes`).
 */
export function flagTable(algorithms: readonly AlgorithmPlugin[] = []): FlagTable {
  const flags = new Map(HOST_FLAGS);
  const aliases = new Map(Object.entries(HOST_ALIASES));
  const clashes: string[] = [];
  const taken = (name: string) => flags.has(name) || aliases.has(name);
  for (const { algorithm, option } of declaredOptions(algorithms)) {
    if (option.flag === undefined) continue;
    const names = [option.flag, ...(option.negation ? [option.negation.flag] : []), ...(option.aliases ?? [])];
    const clash = names.find(taken);
    if (clash !== undefined) {
      clashes.push(`--${clash} of algorithm ${algorithm} (option ${option.name}) is already a flag (${flags.get(aliases.get(clash) ?? clash)?.declared?.algorithm ?? 'the host'}'s): left out`);
      continue;
    }
    const declared = { algorithm, option };
    const bool = option.type === 'boolean';
    flags.set(option.flag, { kind: KIND[option.type], name: option.flag, help: declaredHelp(option), declared, ...(bool ? { sets: { key: option.flag, value: true } } : {}) });
    if (option.negation) flags.set(option.negation.flag, { kind: 'bool', name: option.negation.flag, help: option.negation.help, declared, sets: { key: option.flag, value: false } });
    for (const a of option.aliases ?? []) aliases.set(a, option.flag);
  }
  return { flags, aliases, clashes };
}

/** The packages --plugin names (repeatable, or a comma list), read before the flag table exists: they add flags. */
export function pluginArgs(argv: readonly string[]): string[] {
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--plugin') names.push(argv[++i] ?? '');
    else if (a.startsWith('--plugin=')) names.push(a.slice('--plugin='.length));
  }
  return names
    .join(',')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export type ParsedValue = string | number | boolean;

export interface ParsedArgs {
  command: string;
  positionals: string[];
  values: Map<string, ParsedValue>;
}

/** The CLI's own commands; plugins contribute more (CommandPlugin, e.g. export-gguf's gguf-info), which arrive as the first positional. */
const COMMANDS = new Set(['quantize', 'eval', 'generate', 'list', 'demo', 'help']);

function convert(spec: FlagSpec, raw: string): ParsedValue {
  if (spec.kind === 'int') {
    if (!/^-?\d+$/.test(raw)) throw new AutoRoundError('E_BAD_FLAG', `--${spec.name} expects an integer, got "${raw}"`, { subject: `--${spec.name}` });
    return Number(raw);
  }
  if (spec.kind === 'float') {
    const n = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(n)) throw new AutoRoundError('E_BAD_FLAG', `--${spec.name} expects a number, got "${raw}"`, { subject: `--${spec.name}` });
    return n;
  }
  return raw;
}

/**
 * Parses argv against `table` (default: the host's flags only): `--flag value`, `--flag=value`, switches,
 * aliases; unknown and unsupported flags are errors.
 */
export function parseArgs(argv: string[], table: FlagTable = flagTable()): ParsedArgs {
  const values = new Map<string, ParsedValue>();
  const positionals: string[] = [];
  let command = 'quantize';
  let i = 0;
  if (argv[0] && COMMANDS.has(argv[0])) {
    command = argv[0];
    i = 1;
  }
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    let key = a.slice(2);
    let inline: string | undefined;
    const eq = key.indexOf('=');
    if (eq >= 0) {
      inline = key.slice(eq + 1);
      key = key.slice(0, eq);
    }
    key = key.replace(/-/g, '_');
    key = table.aliases.get(key) ?? key;
    const spec = table.flags.get(key);
    if (!spec) throw new AutoRoundError('E_BAD_FLAG', `unknown flag --${key} (see auto-round --help)`, { subject: `--${key}` });
    if (spec.unsupported) throw new AutoRoundError('E_BAD_FLAG', `--${key} is not supported: ${spec.unsupported}`, { subject: `--${key}` });
    if (spec.kind === 'bool') {
      if (inline !== undefined && !/^(true|false|1|0)$/i.test(inline)) throw new AutoRoundError('E_BAD_FLAG', `--${key} is a switch; got "=${inline}"`, { subject: `--${key}` });
      const on = inline === undefined || /^(true|1)$/i.test(inline);
      if (spec.sets) values.set(spec.sets.key, on ? spec.sets.value : !spec.sets.value);
      continue;
    }
    const raw = inline ?? argv[++i];
    if (raw === undefined) throw new AutoRoundError('E_BAD_FLAG', `--${key} needs a value`, { subject: `--${key}` });
    const prev = values.get(key);
    values.set(key, spec.repeatable && prev !== undefined ? `${String(prev)},${raw}` : convert(spec, raw));
  }
  return { command, positionals, values };
}

/**
 * The help text; `commands` are the subcommands installed plugins contribute, and the flags of `table`
 * that an algorithm declares are listed under it.
 */
export function helpText(bin: string, commands: readonly CommandPlugin[] = [], table: FlagTable = flagTable()): string {
  const row = (f: FlagSpec) => `  --${f.name.padEnd(26)} ${f.help}${f.unsupported ? ` [not supported: ${f.unsupported}]` : ''}`;
  const specs = [...table.flags.values()];
  const byAlgorithm = new Map<string, FlagSpec[]>();
  for (const f of specs) if (f.declared) byAlgorithm.set(f.declared.algorithm, [...(byAlgorithm.get(f.declared.algorithm) ?? []), f]);
  const rows = specs.filter((f) => !f.declared).map(row);
  for (const [algorithm, fs] of byAlgorithm) rows.push('', `options of algorithm ${algorithm}:`, ...fs.map(row));
  return `usage: ${bin} [quantize] --model DIR_OR_HUB_ID [--scheme W4A16] [--iters 0] [--format auto_round] [--output_dir DIR]
       ${bin} eval --model DIR --eval_ppl TEXT_FILE [--eval_seqlen N] [--eval_kld_base REFERENCE_DIR]
       ${bin} eval --model DIR --tasks hellaswag,piqa,…[:FILE] [--limit N] [--num_fewshot K] [--eval_protocol llama.cpp]
       ${bin} generate --model DIR --prompt TEXT [--max_new_tokens 64] [--temperature T --seed S] [--output_ids]
       ${bin} list [plugin|alg|format|arch|dataset|command|backend|evaluator]  (or --list)
       ${bin} demo [--output_dir DIR]                   quantize a small random-weight LLaMA end to end
${commands.map((c) => `       ${`${bin} ${c.name} ${c.usage}`.padEnd(bin.length + 43)}${c.description}\n`).join('')}
flags:
${rows.join('\n')}
`;
}
