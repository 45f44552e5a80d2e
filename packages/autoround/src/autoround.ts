import { existsSync } from 'node:fs';
import {
  ADAM_DEFAULT_LR,
  type AlgorithmPlugin,
  type FormatScheme,
  type LayerSelectionOptions,
  AutoRoundError,
  checkOutput,
  type DecodingCausalLM,
  createLogger,
  type DatasetSourcePlugin,
  isAutoRoundError,
  isDecoding,
  isIntWeightOnly,
  needsActivationCalibration,
  type KernelBackend,
  type Logger,
  type QuantScheme,
  type QuantizeOptions,
  type Registry,
  resolveLayerSchemes,
  resolveScheme,
  type SchemeOverrides,
} from '@autoround/core';
import { parseByteSize } from '@autoround/core-tensor';
import { mulberry32 } from './demo.js';
import { type AutoRoundOptions, DEFAULTS, validateOptions } from './options.js';
import { resolveModelDir } from './model-source.js';
import { type LoadedModel, type PipelineResult, checkFormats, openModel, runPipeline, tokenizerOf } from './pipeline.js';
import { createRegistry } from './registry.js';
import { calibrationWindows, describeProbe, probeBits, sanityProbe } from './sanity.js';

export interface SaveOptions {
  /** One format or several (comma-separated or a list): auto_round, fake, auto_gptq, gguf:q4_k_m … */
  format?: string | string[];
  /** Keep QDQ weights in memory afterwards (for evaluate()). */
  keepQdq?: boolean;
  /** More inputs of the run (an evaluation text …) that the output folder must never hold; the model folder and local --dataset files are always protected. */
  protect?: readonly string[];
}

/** The local files a --dataset value names ("a.txt:concat,b.jsonl:num=5"), so that no output folder may hold them. */
export function datasetPaths(dataset: string | undefined): string[] {
  if (!dataset) return [];
  return dataset.split(',').flatMap((part) => {
    const p = part.trim();
    return [p, p.split(':')[0]!].filter((c) => c && existsSync(c));
  });
}

function parseFormats(f: string | string[] | undefined): string[] {
  const list = (Array.isArray(f) ? f : (f ?? 'auto_round').split(',')).map((s) => s.trim()).filter(Boolean);
  if (list.length === 0) throw new AutoRoundError('E_BAD_FLAG', '--format is empty', { subject: '--format' });
  return [...new Set(list)];
}

/**
 * The toolkit's front door, shaped like the original:
 * `await new AutoRound('path/or/org-name', { scheme: 'W4A16' }).quantizeAndSave('out', { format: 'auto_round' })`.
 */
export class AutoRound {
  readonly model: string;
  readonly options: AutoRoundOptions;
  readonly log: Logger;
  private registryP: Promise<Registry> | undefined;
  private loaded: LoadedModel | undefined;
  private backendInst: KernelBackend | undefined;
  private warnedScheme = false;

  constructor(model: string, options: AutoRoundOptions = {}) {
    // every numeric option's range, before anything is read (the CLI checked them already, naming its flags)
    validateOptions(options);
    this.model = model;
    this.options = options;
    this.log = options.log ?? createLogger(process.env.AUTOROUND_LOG_LEVEL === 'debug' ? 'debug' : 'info');
  }

  registry(): Promise<Registry> {
    this.registryP ??= (
      this.options.registry
        ? Promise.resolve(this.options.registry)
        : createRegistry({ plugins: this.options.plugins ?? [], discover: this.options.discoverPlugins ?? true, log: this.log, ...(this.options.pluginRoots ? { roots: this.options.pluginRoots } : {}), ...(this.options.builtinPlugins ? { builtins: this.options.builtinPlugins } : {}) })
    ).then((r) => {
      // the options the installed algorithms declare, checked once they are known (before anything is read)
      validateOptions(this.options, 'option', r.algorithms);
      return r;
    });
    return this.registryP;
  }

  async backend(): Promise<KernelBackend> {
    if (!this.backendInst) {
      const r = await this.registry();
      this.backendInst = r.kernelBackend({ ...(this.options.backend ? { forced: this.options.backend } : {}), ...(this.options.threads ? { threads: this.options.threads } : {}) });
      // debug: the CPU backends announce themselves (with their ISA) once per process
      this.log.debug(`kernel backend: ${this.backendInst.name} (${this.backendInst.threads} thread${this.backendInst.threads === 1 ? '' : 's'})`);
    }
    return this.backendInst;
  }

  /** The formats of the last quantizeAndSave call (a gguf:* format picks the scheme). */
  private formats: string[] = [];

  /**
   * The global scheme after overrides. Without --scheme, a format that decides the scheme itself
   * (its exporter's `defaultScheme`: gguf:q4_k_m → GGUF:Q4_K_M, gguf:f16 → 16 bits) selects it, as
   * the original does.
   */
  async scheme(formats: readonly string[] = this.formats): Promise<QuantScheme> {
    const registry = await this.registry();
    let rule: FormatScheme | undefined;
    for (const f of formats) {
      // an unknown format has no say here; quantizeAndSave rejects it
      rule = registry.findExporter(f)?.defaultScheme?.(f);
      if (rule) break;
    }
    return this.schemeWith(rule);
  }

  private schemeWith(rule: FormatScheme | undefined): QuantScheme {
    const o = this.options;
    // As in the original, such a format (a gguf:* format) or a GGUF:* scheme overrides the scheme's
    // fields: --bits, --group_size, --asym … are then ignored, which one warning says (docs/options.md).
    const overrides = schemeOverrideFlags(o);
    const warnOnce = (message: string) => {
      if (this.warnedScheme) return;
      this.warnedScheme = true;
      this.log.warn(message);
    };
    if (rule !== undefined) {
      if (o.scheme === undefined && rule.preset) {
        const s = resolveScheme(rule.preset);
        if (overrides.length) warnOnce(`${overrides.join(', ')} ignored: with --format ${rule.label} ${rule.decides} (${describeScheme(s)})`);
        return s;
      }
      if (o.scheme !== undefined && !o.scheme.toUpperCase().startsWith('GGUF:')) {
        warnOnce(`${[`--scheme ${o.scheme}`, ...overrides].join(', ')} with --format ${rule.label}: ${rule.decides}`);
      }
    }
    if (o.scheme?.trim().toUpperCase().startsWith('GGUF:') && overrides.length) {
      warnOnce(`${overrides.join(', ')} ignored: --scheme ${o.scheme} fixes bits, group_size, sym and data_type (${describeScheme(resolveScheme(o.scheme))})`);
    }
    const ov: SchemeOverrides = {};
    if (o.bits !== undefined) ov.bits = o.bits;
    if (o.groupSize !== undefined) ov.group_size = o.groupSize;
    if (o.sym !== undefined) ov.sym = o.sym;
    if (o.dataType !== undefined) ov.data_type = o.dataType;
    if (o.scaleDtype !== undefined) ov.scale_dtype = o.scaleDtype;
    if (o.groupShape !== undefined) ov.group_shape = o.groupShape;
    if (o.actBits !== undefined) ov.act_bits = o.actBits;
    if (o.actDataType !== undefined) ov.act_data_type = o.actDataType;
    if (o.actGroupSize !== undefined) ov.act_group_size = o.actGroupSize;
    if (o.actSym !== undefined) ov.act_sym = o.actSym;
    if (o.actDynamic !== undefined) ov.act_dynamic = o.actDynamic;
    return resolveScheme(o.scheme ?? DEFAULTS.scheme, ov);
  }

  async load(): Promise<LoadedModel> {
    if (!this.loaded) {
      const dir = await resolveModelDir(this.model, this.log);
      this.loaded = openModel(await this.registry(), dir);
    }
    return this.loaded;
  }

  private quantizeOptions(): QuantizeOptions {
    const { algorithmOptions, ...o } = this.options;
    return {
      ...o,
      ...algorithmOptions,
      // --algorithm rtn does not tune: it means iters 0 unless iters is given (then checked in pickAlgorithm)
      iters: o.iters ?? (o.algorithm?.trim().toLowerCase() === 'rtn' ? 0 : DEFAULTS.iters),
      disableOptRtn: o.disableOptRtn ?? false,
      nsamples: o.nsamples ?? DEFAULTS.nsamples,
      seqlen: o.seqlen ?? DEFAULTS.seqlen,
      batchSize: o.batchSize ?? DEFAULTS.batchSize,
      seed: o.seed ?? DEFAULTS.seed,
      ...(o.lr !== undefined ? { lr: o.lr } : {}),
      ...(o.minmaxLr !== undefined ? { minmaxLr: o.minmaxLr } : {}),
    } as QuantizeOptions;
  }

  /**
   * Picks the algorithm as the original does: iters 0 → RTN, or the installed algorithm that
   * replaces it for the scheme (opt-rtn), unless disabled; else the algorithm asked for (SignRound by
   * default) or where it routes the run (AlgorithmPlugin.route), with the quantization_config
   * entries the route decides.
   */
  private async pickAlgorithm(scheme: QuantScheme, qo: QuantizeOptions, fixedTypes: boolean): Promise<{ algorithm: AlgorithmPlugin; quantArgs?: Readonly<Record<string, unknown>> }> {
    const r = await this.registry();
    const asked = this.options.algorithm !== undefined ? r.algorithm(this.options.algorithm) : undefined;
    if (asked?.name === 'rtn' && qo.iters > 0) {
      throw new AutoRoundError('E_BAD_FLAG', `--algorithm ${this.options.algorithm} does not tune, but --iters ${qo.iters} asks for ${qo.iters} tuning iterations: give --iters 0 or leave --iters out`, { subject: '--algorithm' });
    }
    if (qo.iters === 0) {
      if (asked && asked.name !== 'rtn' && asked.name !== 'opt-rtn') {
        this.log.warn(`--algorithm ${this.options.algorithm} with --iters 0: round-to-nearest (RTN) is used, not ${asked.name}; give --iters N (N > 0) to tune with ${asked.name}`);
      }
      // docs/algorithms/opt-rtn.md#when-it-runs: the algorithm that declares it replaces RTN for this scheme (opt-rtn)
      // static activation ranges need the calibrated RTN even with --disable_opt_rtn (it then skips the search)
      if (!qo.disableOptRtn || needsActivationCalibration(scheme)) {
        const opt = r.algorithms.find((a) => a.replacesRtn?.(scheme));
        if (opt) return { algorithm: opt };
        if (isIntWeightOnly(scheme) && scheme.sym && scheme.bits < 8) {
          this.log.warn('optimized RTN (the default for --iters 0 with symmetric int and GGUF k-quant schemes) needs @autoround/algo-signround, which is not installed: running plain RTN (pass --disable_opt_rtn to silence this)');
        }
      }
      return { algorithm: rtnOf(r) };
    }
    const name = this.options.algorithm ?? 'auto_round';
    let algorithm: AlgorithmPlugin;
    try {
      algorithm = r.algorithm(name);
    } catch (e) {
      if (name === 'auto_round') {
        throw new AutoRoundError('E_UNKNOWN_ALGORITHM', `--iters ${qo.iters} selects SignRound tuning, which needs the @autoround/algo-signround plugin (not installed); use --iters 0 for RTN`, { subject: '--iters', cause: e });
      }
      throw e;
    }
    const route = algorithm.route?.({ scheme, options: qo, fixedTypes });
    if (!route) return { algorithm };
    const target = route.algorithm === 'rtn' ? rtnOf(r) : r.algorithm(route.algorithm);
    return { algorithm: route.label ? { ...target, name: route.label } : target, ...(route.quantArgs ? { quantArgs: route.quantArgs } : {}) };
  }

  /** Quantizes and writes every requested format; the output appears only when complete. */
  async quantizeAndSave(outputDir: string, save: SaveOptions = {}): Promise<PipelineResult> {
    const formats = parseFormats(save.format);
    this.formats = formats;
    const registry = await this.registry();
    const scheme = await this.scheme(formats);
    for (const f of formats) registry.exporter(f); // unknown formats fail before the model is read
    if (this.options.algorithm !== undefined) checkAlgorithm(registry, this.options.algorithm); // so do unknown algorithms
    // a bad output folder fails before the model is read (or downloaded) too; the pipeline checks again
    const outputOptions = { overwrite: this.options.overwrite ?? false, force: this.options.force ?? false };
    checkOutput(outputDir, { ...outputOptions, protect: [this.model, ...datasetPaths(this.options.dataset), ...(save.protect ?? [])] });
    const model = await this.load();
    // an exported folder holds packed or GGUF tensors the algorithms cannot start from
    const qc = model.config.quantization_config as { quant_method?: unknown } | undefined;
    if (qc) {
      throw new AutoRoundError('E_QUANTIZED_INPUT', `--model ${model.dir} is already quantized (quantization_config.quant_method ${JSON.stringify(qc.quant_method ?? null)} in config.json): quantize the full-precision model it was made from (auto-round eval reads this folder)`, { subject: model.dir });
    }
    // the layer selection: core's rules, or the first format's own plan (GGUF stores lm_head and the
    // embedding quantized and has no int packing constraint: the gguf exporter's planLayers)
    const selection: LayerSelectionOptions = {
      ...(this.options.layerConfig ? { layerConfig: this.options.layerConfig } : {}),
      ...(this.options.ignoreLayers ? { ignoreLayers: this.options.ignoreLayers } : {}),
      ...(this.options.quantLmHead !== undefined ? { quantLmHead: this.options.quantLmHead } : {}),
      log: this.log,
    };
    const exporters = formats.map((f) => registry.exporter(f));
    const planner = formats.map((format, i) => ({ format, e: exporters[i]! })).find((x) => x.e.planLayers);
    const layerSchemes = planner
      ? planner.e.planLayers!({ format: planner.format, formats, spec: model.spec, checkpoint: model.checkpoint, scheme, selection })
      : resolveLayerSchemes(model.spec, scheme, { ...selection, quantLmHead: this.options.quantLmHead ?? false });
    checkFormats(registry, formats, layerSchemes, scheme);
    const qo = this.quantizeOptions();
    // a format that fixes each layer's type (GGUF's mix) plans it once the algorithm is known
    const typer = formats.map((format, i) => ({ format, e: exporters[i]! })).find((x) => x.e.layerQuantTypes);
    const picked = await this.pickAlgorithm(scheme, qo, typer !== undefined);
    const algorithm = picked.algorithm;
    const quantTypes = typer?.e.layerQuantTypes!({ format: typer.format, spec: model.spec, checkpoint: model.checkpoint, scheme, layerSchemes, calibrates: algorithm.needsCalibration(qo) });
    this.log.info(`quantizing ${model.spec.architecture} from ${model.dir} with ${algorithm.name}, scheme ${describeScheme(scheme)}, format ${formats.join(', ')}`);
    let calibration: (() => Promise<Int32Array[]>) | undefined;
    let probeCalibration: Int32Array[] | undefined;
    if (algorithm.needsCalibration(qo)) {
      const maxPos = Number(model.config.max_position_embeddings ?? Number.POSITIVE_INFINITY);
      if (qo.seqlen > maxPos && this.options.seqlen === undefined) {
        // the default, not the user's choice: lowered to what the model allows, as the original does (docs/options.md)
        this.log.info(`calibration samples of ${maxPos} tokens: the default --seqlen ${qo.seqlen} is longer than the model allows (max_position_embeddings ${maxPos} in ${model.dir}/config.json); pass --seqlen N to choose another length`);
        qo.seqlen = maxPos;
      } else if (qo.seqlen > maxPos) {
        throw new AutoRoundError('E_BAD_FLAG', `--seqlen ${qo.seqlen} is longer than the model allows (max_position_embeddings ${maxPos} in ${model.dir}/config.json)`, { subject: '--seqlen' });
      }
      calibration = async () => {
        const samples = await this.calibrationSamples(model, qo);
        // the sanity probe's windows come from the samples already loaded (no second read of the dataset)
        probeCalibration = calibrationWindows(samples);
        return samples;
      };
    }
    // AdamRound's default is the original AutoAdamRound's, SignRound's 1/iters
    const defaultLr = this.options.enableAdam ? ADAM_DEFAULT_LR : 1 / qo.iters;
    const quantArgs: Record<string, unknown> = {
      iters: qo.iters,
      lr: qo.lr ?? (qo.iters > 0 ? defaultLr : undefined),
      minmax_lr: qo.minmaxLr ?? qo.lr ?? (qo.iters > 0 ? defaultLr : undefined),
      nsamples: algorithm.needsCalibration(qo) ? qo.nsamples : undefined,
      seqlen: algorithm.needsCalibration(qo) ? qo.seqlen : undefined,
      batch_size: algorithm.needsCalibration(qo) ? qo.batchSize : undefined,
      dataset: algorithm.needsCalibration(qo) ? (this.options.dataset ?? DEFAULTS.dataset) : undefined,
      enable_minmax_tuning: qo.iters > 0 ? (this.options.enableMinmaxTuning ?? true) : undefined,
      enable_quanted_input: qo.iters > 0 ? (this.options.enableQuantedInput ?? true) : undefined,
    };
    // what the algorithm's route decides (GGUF tuning: scales frozen), in the entries' places
    Object.assign(quantArgs, picked.quantArgs);
    const result = await runPipeline({
      registry,
      model,
      scheme,
      layerSchemes,
      algorithm,
      options: qo,
      ...(quantTypes ? { quantTypes } : {}),
      quantArgs,
      backend: await this.backend(),
      log: this.log,
      formats,
      outputDir,
      maxShardBytes: parseByteSize(this.options.maxShardSize ?? DEFAULTS.maxShardSize),
      overwrite: this.options.overwrite ?? false,
      force: this.options.force ?? false,
      protect: [model.dir, ...datasetPaths(this.options.dataset), ...(save.protect ?? [])],
      keepQdq: save.keepQdq ?? false,
      ...(calibration ? { calibration } : {}),
      resume: this.options.resume ?? false,
    });
    if (this.options.skipSanityCheck) return result;
    // the output read back and scored against the source; a failure throws E_SANITY and leaves the output in place
    const sanity = sanityProbe({
      registry,
      model,
      outputs: result.outputs,
      backend: await this.backend(),
      log: this.log,
      ...(probeCalibration ? { calibration: probeCalibration } : {}),
      bits: probeBits(scheme, layerSchemes),
      sampleTokens: sampleTokenBatch,
    });
    if (sanity) this.log.info(describeProbe(sanity));
    return sanity ? { ...result, sanity } : result;
  }

  /** Tokenized calibration samples from --dataset (through @autoround/calib-datasets when installed). */
  async calibrationSamples(model: LoadedModel, qo: QuantizeOptions): Promise<Int32Array[]> {
    const dataset = this.options.dataset ?? DEFAULTS.dataset;
    let cd: CalibDatasetsModule;
    try {
      const spec = '@autoround/calib-datasets';
      cd = (await import(spec)) as CalibDatasetsModule;
    } catch (e) {
      throw new AutoRoundError('E_NOT_INSTALLED', `calibration (--dataset ${dataset}) needs @autoround/calib-datasets, which is not installed`, { subject: '--dataset', cause: e });
    }
    const tokenizer = tokenizerOf(await this.registry(), model);
    const t0 = Date.now();
    let lm: DecodingCausalLM | undefined;
    // The source asks for seeds seed, seed+1, … in turn: decode them SELF_BATCH at a time (same ids as
    // one by one; each sequence has its own random stream).
    const drawn = new Map<string, number[]>();
    const generate = async (nTokens: number, seed: number): Promise<number[]> => {
      lm ??= await this.decodableModel(model);
      const key = `${nTokens}:${seed}`;
      if (!drawn.has(key)) {
        const cacheBytes = lm.kvCacheBytes(nTokens + 1);
        const batch = Math.max(1, Math.min(SELF_BATCH, Math.floor(SELF_CACHE_BYTES / cacheBytes)));
        const seeds = Array.from({ length: batch }, (_, i) => seed + i);
        sampleTokenBatch(lm, tokenizer.bosTokenId, nTokens, seeds).forEach((ids, i) => drawn.set(`${nTokens}:${seeds[i]}`, ids));
      }
      const ids = drawn.get(key)!;
      drawn.delete(key);
      return ids;
    };
    // the installed dataset plugins are asked first (precedence order), then calib-datasets' own sources
    const sources = (await this.registry()).datasets;
    const samples = await cd.loadCalibration(dataset, tokenizer, { nsamples: qo.nsamples, seqlen: qo.seqlen, seed: qo.seed, log: this.log, generate, sources });
    if (samples.length < qo.nsamples) this.log.warn(`--dataset ${dataset} gave ${samples.length} samples of ${qo.seqlen} tokens, fewer than --nsamples ${qo.nsamples}; using what there is`);
    this.log.info(`calibration: ${samples.length} samples of ${qo.seqlen} tokens from ${dataset} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    return samples;
  }

  private async decodableModel(model: LoadedModel): Promise<DecodingCausalLM> {
    const r = await this.registry();
    const lm = r.architecture(model.spec.architecture, model.dir).load(model.spec, model.checkpoint, await this.backend());
    if (!isDecoding(lm)) throw new AutoRoundError('E_UNSUPPORTED', `--dataset self needs token-by-token decoding, which ${model.spec.architecture} does not offer`);
    return lm;
  }
}

/**
 * Fails on an algorithm no installed plugin provides (the registry's error lists the installed ones),
 * saying so when the name is one of an output format's (awq: only the auto_awq file layout is written).
 */
function checkAlgorithm(registry: Registry, name: string): void {
  try {
    registry.algorithm(name);
  } catch (e) {
    const key = name.trim().toLowerCase();
    const format = key.length >= 3 ? registry.exporters.find((x) => [x.name, ...(x.aliases ?? [])].some((n) => n.toLowerCase().includes(key))) : undefined;
    if (!format || !isAutoRoundError(e)) throw e;
    throw new AutoRoundError(e.code, `${e.message}. "${name}" is not implemented as an algorithm here: --format ${format.name} writes its file layout, quantized by one of the algorithms above`, { subject: '--algorithm', cause: e });
  }
}

/** The scheme fields the options override, as the flags that set them ("--bits 8", "--asym"). */
function schemeOverrideFlags(o: AutoRoundOptions): string[] {
  const out: string[] = [];
  if (o.bits !== undefined) out.push(`--bits ${o.bits}`);
  if (o.groupSize !== undefined) out.push(`--group_size ${o.groupSize}`);
  if (o.sym !== undefined) out.push(o.sym ? '--sym' : '--asym');
  if (o.dataType !== undefined) out.push(`--data_type ${o.dataType}`);
  if (o.scaleDtype !== undefined) out.push(`--scale_dtype ${o.scaleDtype}`);
  if (o.actBits !== undefined) out.push(`--act_bits ${o.actBits}`);
  if (o.actDataType !== undefined) out.push(`--act_data_type ${o.actDataType}`);
  if (o.actGroupSize !== undefined) out.push(`--act_group_size ${o.actGroupSize}`);
  if (o.actSym !== undefined) out.push(o.actSym ? '--act_sym' : '--act_asym');
  if (o.actDynamic !== undefined) out.push(o.actDynamic ? '--act_dynamic' : '--disable_act_dynamic');
  return out;
}

/** The RTN algorithm; its absence is an error naming the package that provides it (the host bundles none). */
function rtnOf(r: Registry): AlgorithmPlugin {
  if (!r.algorithms.some((a) => [a.name, ...(a.aliases ?? [])].includes('rtn'))) {
    throw new AutoRoundError('E_NOT_INSTALLED', '--iters 0 selects round-to-nearest (RTN), which needs the @autoround/algo-rtn plugin (not installed): install it, or @autoround/preset-default, or pass it in `plugins`', { subject: '--iters' });
  }
  return r.algorithm('rtn');
}

/** Sequences `--dataset self` decodes together, at most, and the key/value cache they may use. */
const SELF_BATCH = 32;
const SELF_CACHE_BYTES = 512 * 1024 * 1024;

/**
 * sampleTokens for several seeds at once, through a batched decoder: sequence i is what
 * sampleTokens(lm, bos, nTokens, seeds[i]) returns (its own random stream, temperature 1).
 */
export function sampleTokenBatch(lm: DecodingCausalLM, bos: number | undefined, nTokens: number, seeds: readonly number[]): number[][] {
  const B = seeds.length;
  const dec = lm.decoder(nTokens + 1, B);
  const rands = seeds.map((s) => mulberry32(s));
  const out: number[][] = seeds.map(() => [bos ?? 1]);
  const V = lm.spec.vocabSize;
  let logits = dec.stepBatch(Int32Array.from(out, (ids) => ids[0]!));
  const p = new Float64Array(V);
  const next = new Int32Array(B);
  while (out[0]!.length < nTokens) {
    for (let r = 0; r < B; r++) next[r] = drawToken(logits.subarray(r * V, (r + 1) * V), p, rands[r]!);
    for (let r = 0; r < B; r++) out[r]!.push(next[r]!);
    logits = dec.stepBatch(next);
  }
  return out;
}

/** One token from softmax(logits) (temperature 1) with the random stream `rand`. */
function drawToken(logits: Float32Array, p: Float64Array, rand: () => number): number {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += p[i] = Math.exp(logits[i]! - max);
  let u = rand() * sum;
  let next = 0;
  while (next < p.length - 1 && (u -= p[next]!) > 0) next++;
  return next;
}

/** Data-free calibration (`--dataset self`): tokens sampled from the model itself at temperature 1, seeded. */
export function sampleTokens(lm: DecodingCausalLM, bos: number | undefined, nTokens: number, seed: number): number[] {
  return sampleTokenBatch(lm, bos, nTokens, [seed])[0]!;
}

interface CalibDatasetsModule {
  loadCalibration(
    dataset: string,
    tokenizer: { encode(text: string, o?: { addSpecialTokens?: boolean }): number[]; bosTokenId?: number | undefined; eosTokenId?: number | undefined },
    options: { nsamples: number; seqlen: number; seed: number; log: Logger; generate: (n: number, seed: number) => Promise<number[]>; sources: readonly DatasetSourcePlugin[] },
  ): Promise<Int32Array[]>;
}

export function describeScheme(s: QuantScheme): string {
  const g = s.group_size === -1 ? 'per-channel' : s.group_size === 0 ? 'per-tensor' : `g${s.group_size}`;
  return `${s.data_type}${s.bits} ${s.sym ? 'sym' : 'asym'} ${g}${s.act_bits < 16 ? ` act${s.act_bits}` : ''}`;
}
