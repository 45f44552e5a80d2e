import { join } from 'node:path';
import { Checkpoint, Tensor, assertFinite, assertTensorFinite, fromFloat32, isFloatDType } from '@autoround/core-tensor';
import {
  AutoRoundError,
  type AlgorithmPlugin,
  type ExportContext,
  type ExportSession,
  type HFConfig,
  type KernelBackend,
  type Logger,
  type ModelSpec,
  Progress,
  type QuantScheme,
  type QuantizeOptions,
  type QuantizedWeight,
  type QuantizeSession,
  type Registry,
  type LoadOptions,
  type WeightSource,
  checkTensorShape,
  formatBase,
  architectureOf,
  readConfig,
  type TextTokenizer,
  writeAtomically,
} from '@autoround/core';
import type { SanityProbeResult } from './sanity.js';
import { RunResume } from './resume.js';

export interface LoadedModel {
  dir: string;
  config: HFConfig;
  spec: ModelSpec;
  checkpoint: Checkpoint;
}

/** The tokenizer of a model folder, from its architecture plugin (@autoround/models' for the LLaMA family). */
export function tokenizerOf(registry: Registry, model: { dir: string; spec: ModelSpec }): TextTokenizer {
  const arch = registry.architecture(model.spec.architecture, model.dir);
  if (!arch.tokenizer) throw new AutoRoundError('E_NO_TOKENIZER', `${model.dir}: the ${arch.name} architecture plugin reads no tokenizer, which text needs (calibration, evaluation)`, { subject: model.dir });
  return arch.tokenizer(model.dir);
}

/** Reads config.json, finds the architecture plugin, opens the checkpoint and checks every tensor the spec names. */
export function openModel(registry: Registry, dir: string): LoadedModel {
  const config = readConfig(dir);
  const file = join(dir, 'config.json');
  const arch = registry.architecture(architectureOf(config, file), file);
  const spec = arch.describe(config, file);
  const checkpoint = Checkpoint.open(dir);
  const need = [spec.embedding, spec.finalNorm, ...spec.blocks.flatMap((b) => b.tensors)];
  if (!spec.tiedEmbeddings) need.push(spec.lmHead);
  // a quantized folder stores linear weights packed under other names (qweight, weight_packed …)
  const packedPrefixes = config.quantization_config ? new Set(checkpoint.names.map((n) => n.slice(0, n.lastIndexOf('.')))) : new Set<string>();
  for (const n of need) {
    if (!checkpoint.has(n) && !(n.endsWith('.weight') && packedPrefixes.has(n.slice(0, -7)))) {
      checkpoint.close();
      throw new AutoRoundError('E_NO_TENSOR', `${dir}: the checkpoint lacks tensor "${n}", which ${spec.architecture} needs`, { subject: n });
    }
  }
  try {
    // a tied config may still ship lm_head.weight, which GGUF exports use as the output matrix
    checkFloatTensors(checkpoint, spec, spec.tiedEmbeddings && checkpoint.has(spec.lmHead) ? [...need, spec.lmHead] : need);
  } catch (e) {
    checkpoint.close();
    throw e;
  }
  return { dir, config, spec, checkpoint };
}

/**
 * Every tensor the architecture reads as a float weight, as the safetensors headers describe it
 * (no data is read): a floating dtype, and the shape config.json implies. A GGUF folder's tensors
 * live in the .gguf file and are checked as its reader hands them over (LlamaModel); packed
 * linears (qweight …) and scaled ones (weight + weight_scale) are checked by their format's reader.
 */
function checkFloatTensors(checkpoint: Checkpoint, spec: ModelSpec, need: readonly string[]): void {
  for (const n of need) {
    if (!checkpoint.has(n)) continue;
    // a weight with a weight_scale beside it (FP8 bytes, W8A8 int8) is its format's to decode and check
    if (n.endsWith('.weight') && checkpoint.has(`${n.slice(0, -'.weight'.length)}.weight_scale`)) continue;
    const shard = checkpoint.shardOf(n);
    if (!shard.endsWith('.safetensors')) continue;
    const info = checkpoint.info(n);
    if (!isFloatDType(info.dtype)) {
      throw new AutoRoundError('E_DTYPE', `${join(checkpoint.dir, shard)}: tensor ${n} is stored as ${info.dtype}, but ${spec.architecture} reads it as a float weight (F32, F16, BF16, F64, F8_E4M3 or F8_E5M2)`, { subject: n });
    }
    checkTensorShape(spec, n, info.shape, join(checkpoint.dir, shard));
  }
}

/** Where each format goes: the output folder itself for one format, a subfolder per format for several. */
export function formatDirs(formats: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const f of formats) m.set(f, formats.length === 1 ? '' : f.replace(/:/g, '-'));
  return m;
}

export interface PipelineRun {
  registry: Registry;
  model: LoadedModel;
  scheme: QuantScheme;
  layerSchemes: Map<string, QuantScheme | null>;
  algorithm: AlgorithmPlugin;
  options: QuantizeOptions;
  /** Each layer's exact quantization type where an output format fixes it (QuantizeSession.quantTypes). */
  quantTypes?: ReadonlyMap<string, string>;
  quantArgs: Record<string, unknown>;
  backend: KernelBackend;
  log: Logger;
  formats: string[];
  outputDir: string;
  maxShardBytes: number;
  overwrite: boolean;
  /** With overwrite: replace a folder that does not look like an earlier output. */
  force?: boolean;
  /** The run's inputs, which the output folder must never hold. */
  protect?: readonly string[];
  /** Also keep every layer's QDQ weight in memory (for evaluation right after). */
  keepQdq: boolean;
  calibration?: () => Promise<Int32Array[]>;
  /** Continue an interrupted run from its saved state (docs/resume.md); without it, a saved state is discarded. */
  resume?: boolean;
}

export interface PipelineResult {
  outputs: { format: string; dir: string }[];
  quantizedLayers: number;
  fullPrecisionLayers: number;
  seconds: number;
  qdq: Map<string, QuantizedWeight>;
  /** With keepQdq: the full-precision tensors the algorithm changed (tuned norms, biases), as float32. */
  tensors: Map<string, Float32Array>;
  /** The sanity probe's figures (AutoRound.quantizeAndSave; absent with skipSanityCheck or when no output has a reader). */
  sanity?: SanityProbeResult;
}

/** Checks every format against every scheme in use before any work starts. */
export function checkFormats(registry: Registry, formats: string[], layerSchemes: ReadonlyMap<string, QuantScheme | null>, scheme: QuantScheme): void {
  for (const f of formats) {
    const e = registry.exporter(f);
    const schemes = new Set<QuantScheme>([scheme, ...[...layerSchemes.values()].filter((s): s is QuantScheme => !!s)]);
    for (const s of schemes) {
      const why = e.check(s, f);
      if (why) throw new AutoRoundError('E_FORMAT', `--format ${f}: ${why}`, { subject: '--format' });
    }
  }
}

/**
 * load → per-block quantize → export. Exporters write into a staging folder that is renamed
 * into place only when every format finished.
 */
export async function runPipeline(run: PipelineRun): Promise<PipelineResult> {
  const t0 = Date.now();
  const { model, registry, log } = run;
  const dirs = formatDirs(run.formats);
  const quantizedLayers = [...run.layerSchemes.values()].filter(Boolean).length;
  const qdq = new Map<string, QuantizedWeight>();
  const tensors = new Map<string, Float32Array>();
  // a saved state of another run is an error before anything is written
  const resume = RunResume.open(run.outputDir, run.resume ?? false, { ...run, modelDir: model.dir }, log);
  await writeAtomically(
    run.outputDir,
    async (tmp) => {
      const sessions: ExportSession[] = [];
      for (const f of run.formats) {
        const dir = join(tmp, dirs.get(f)!);
        if (dir !== tmp) (await import('node:fs')).mkdirSync(dir, { recursive: true });
        const ctx: ExportContext = {
          format: f,
          dir,
          sourceDir: model.dir,
          spec: model.spec,
          config: model.config,
          checkpoint: model.checkpoint,
          scheme: run.scheme,
          layerSchemes: run.layerSchemes,
          quantArgs: run.quantArgs,
          maxShardBytes: run.maxShardBytes,
          log,
        };
        sessions.push(registry.exporter(f).open(ctx));
      }
      // tensors kept as they are stream through first, one at a time
      const packed = new Set([...run.layerSchemes].filter(([, s]) => s).map(([n]) => `${n}.weight`));
      // tensors the algorithm changes (tuned norms, biases) come later, through emitTensor
      const replaced = new Set(run.algorithm.replacesTensors?.(run.options, model.spec) ?? []);
      for (const [shard, names] of model.checkpoint.namesByShard()) {
        for (const name of names) {
          if (packed.has(name) || replaced.has(name)) continue;
          const t = model.checkpoint.read(name);
          // a NaN or Inf copied as it is would give an output that evaluates to NaN (the quantized
          // layers' inputs are checked by the algorithms; this is every other tensor written)
          assertTensorFinite(t, name, join(model.checkpoint.dir, shard));
          for (const s of sessions) s.writeTensor(name, t);
        }
        model.checkpoint.release(shard);
      }
      const progress = new Progress('quantizing blocks', model.spec.blocks.length);
      let emitted = 0;
      const session: QuantizeSession = {
        spec: model.spec,
        checkpoint: model.checkpoint,
        layerSchemes: run.layerSchemes,
        scheme: run.scheme,
        options: run.options,
        ...(run.quantTypes ? { quantTypes: run.quantTypes } : {}),
        backend: run.backend,
        log,
        ...(run.calibration ? { calibration: run.calibration } : {}),
        loadModel: (weights?: WeightSource, options?: LoadOptions) => registry.architecture(model.spec.architecture, model.dir).load(model.spec, weights ?? model.checkpoint, run.backend, options),
        emit(layer, q) {
          if (!run.layerSchemes.get(layer)) throw new Error(`algorithm emitted layer ${layer}, which is not to be quantized`);
          // what the algorithm made from finite inputs (a diverged tuning, a scale beyond the scale dtype)
          assertFinite(q.qdq, `${layer}.weight`, `${run.algorithm.name} result`);
          if (q.scales) assertFinite(q.scales, `${layer} scales`, `${run.algorithm.name} result`);
          for (const s of sessions) s.writeQuantized(layer, q);
          if (run.keepQdq) qdq.set(layer, q);
          emitted++;
        },
        emitTensor(name, data) {
          if (!replaced.delete(name)) throw new Error(`algorithm emitted tensor ${name}, which it did not list in replacesTensors (or twice)`);
          assertFinite(data, name, `${run.algorithm.name} result`);
          const info = model.checkpoint.info(name);
          const t = new Tensor(info.dtype, info.shape, fromFloat32(info.dtype, data));
          for (const s of sessions) s.writeTensor(name, t);
          if (run.keepQdq) tensors.set(name, data);
        },
        blockDone: (_i, note) => progress.tick(1, note),
      };
      // a resumed run hands the saved blocks' results to the exporters first, in their order
      resume.replay(session);
      await run.algorithm.run(resume.track(session));
      if (emitted !== quantizedLayers) throw new Error(`algorithm ${run.algorithm.name} emitted ${emitted} of ${quantizedLayers} layers`);
      if (replaced.size > 0) throw new Error(`algorithm ${run.algorithm.name} did not emit ${[...replaced].join(', ')}`);
      for (const s of sessions) await s.finish();
    },
    { overwrite: run.overwrite, force: run.force ?? false, protect: run.protect ?? [model.dir], log },
  );
  resume.finished();
  return {
    outputs: run.formats.map((f) => ({ format: f, dir: join(run.outputDir, dirs.get(f)!) })),
    quantizedLayers,
    fullPrecisionLayers: run.layerSchemes.size - quantizedLayers,
    seconds: (Date.now() - t0) / 1000,
    qdq,
    tensors,
  };
}

export { formatBase };
