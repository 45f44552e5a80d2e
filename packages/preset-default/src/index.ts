// The plugins the auto-round CLI ships with. The host (@autoround/autoround) depends on core only
// and registers what it is given and what it discovers; a preset is a plain list to give it.

import type { AutoRoundPlugin } from '@autoround/core';
import rtnPlugin from '@autoround/algo-rtn';
import signroundPlugin from '@autoround/algo-signround';
import calibDatasetsPlugin from '@autoround/calib-datasets';
import exportAutoRoundPlugin from '@autoround/export-autoround';
import exportAwqPlugin from '@autoround/export-awq';
import exportGgufPlugin from '@autoround/export-gguf';
import exportGptqPlugin from '@autoround/export-gptq';
import exportLlmcPlugin from '@autoround/export-llmc';
import exportOnnxPlugin from '@autoround/export-onnx';
import kernelsCpuPlugin from '@autoround/kernels-cpu';
import modelsPlugin from '@autoround/models';
import evalPlugin from '@autoround/eval';
import autoSchemePlugin from '@autoround/autoscheme';
import evalTasksPlugin from '@autoround/eval-tasks';

/**
 * What the host registered on its own before the preset existed (LLaMA-family models, RTN, the
 * safetensors exporters, the CPU kernels), in that order, and the evaluator it imported (perplexity,
 * KL divergence, the sanity probe). The host registers this set when the
 * preset is installed, so that a program written against the bundling host runs unchanged
 * (docs/adr/0019-host-depends-on-core.md).
 */
export const basePlugins: readonly AutoRoundPlugin[] = [modelsPlugin, rtnPlugin, exportAutoRoundPlugin, exportGptqPlugin, exportAwqPlugin, exportLlmcPlugin, kernelsCpuPlugin, evalPlugin];

/**
 * Everything the CLI's defaults need: the base set, SignRound (the default --iters 200 and
 * optimized RTN), GGUF output, the calibration datasets (the default pile-10k comes from the
 * hub through @autoround/calib-datasets), AutoScheme (--avg_bits, --options), the accuracy tasks (`--tasks`,
 * @autoround/eval-tasks) and ONNX output for transformers.js / onnxruntime (its only runtime dependency is the
 * protobuf writer; onnxruntime itself is not one).
 */
export const defaultPlugins: readonly AutoRoundPlugin[] = [...basePlugins, signroundPlugin, exportGgufPlugin, calibDatasetsPlugin, autoSchemePlugin, evalTasksPlugin, exportOnnxPlugin];

export default defaultPlugins;
