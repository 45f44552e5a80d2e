export {
  completeScheme,
  configLayerScheme,
  effectiveGroupSize,
  intWeightOnlyMismatch,
  isIntWeightOnly,
  PRESET_SCHEMES,
  presetNames,
  presetScheme,
  type QuantScheme,
  resolveScheme,
  needsActivationCalibration,
  type ScaleDType,
  scaleDtypeOf,
  schemeDiff,
  schemeEquals,
  type SchemeOverrides,
  validateScheme,
} from './scheme.js';
export {
  type BlockSpec,
  checkTensorShape,
  type ExpectedShape,
  fullName,
  type HFConfig,
  type LinearSpec,
  type ModelSpec,
} from './model-spec.js';
export { architectureOf, readConfig } from './config-file.js';
export { intField, numField, type TransformerDims, transformerDims } from './transformer-dims.js';
export { llama3FreqBand, type RopeScalingFields, ropeScalingOf } from './rope-scaling.js';
export { type FpElement, type FpScaleFormat, numGroups, type QuantizedWeight } from './quantized.js';
export type { KernelBackend, KernelBackendFactory } from '@autoround/core-tensor';
export { createLogger, type Logger, type LogLevel, memoryLogger, silentLogger } from './log.js';
export { fmt, Progress } from './progress.js';
// whole modules of public contracts: the algorithm routing, evaluation and option declarations, the weight overlay
export * from './algorithm-route.js';
export * from './evaluation.js';
export * from './options.js';
export * from './weights.js';
export * from './scheme-planner.js';
export { checkOutput, type OutputOptions, processAlive, writeAtomically } from './staging.js';
export {
  ADAM_DEFAULT_LR,
  type AlgorithmPlugin,
  type ArchitecturePlugin,
  type AutoRoundPlugin,
  type BlockForwardOptions,
  type ActivationQdq,
  type BlockGraphInject,
  type BlockTunableCausalLM,
  type BlockwiseCausalLM,
  type CausalDecoder,
  type CausalLM,
  type CommandIO,
  type CommandPlugin,
  type DatasetRequest,
  type DatasetSourcePlugin,
  type DecodingCausalLM,
  definePlugin,
  type ExportContext,
  type ExporterPlugin,
  type ExportSession,
  type FormatScheme,
  isBlockTunable,
  isBlockwise,
  isDecoding,
  isPacking,
  type PackedSequences,
  type PackingCausalLM,
  type LayerPlanContext,
  type LinearInputHook,
  type LoadOptions,
  PLUGIN_API_VERSION,
  type PackingPlugin,
  type PluginDefinition,
  type QuantizeOptions,
  type QuantizeSession,
  type QuantTypeContext,
  type ResumeState,
  type WeightSource,
} from './plugin.js';
export {
  type CheckpointArray,
  type CheckpointValue,
  fsyncFolder,
  readResumeFile,
  writeResumeFile,
} from './resume-file.js';
export { formatBase, type PluginSource, Registry, type UseOptions } from './registry.js';
export {
  type LayerConfigValue,
  type LayerInfo,
  type LayerSelectionOptions,
  quantizableLayers,
  resolveLayerSchemes,
} from './layer-selection.js';
export {
  AutoRoundError,
  describeSystemError,
  isAutoRoundError,
  systemErrorOf,
  systemErrorWords,
  writing,
} from '@autoround/core-tensor';
export { copySideFiles, writeJson, writeModelConfig } from './export-helpers.js';
export { PyRandom } from './py-random.js';
export { periodicYield, yieldToEventLoop } from './yield.js';
