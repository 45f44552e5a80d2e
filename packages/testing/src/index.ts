// @autoround/testing: the helpers every package's tests share (docs/conventions.md, "Test helpers"). Private:
// never published, no build (the exports point at the TypeScript sources). It imports only core-tensor (the bottom
// layer), so any package's tests may use it, core-tensor's included. The independent format readers are in
// '@autoround/testing/formats' (they import vitest's expect).
export {
  REPO_ROOT,
  SHARED,
  STORIES,
  LLAMA256,
  TINYSTORIES,
  HAS_SHARED,
  NO_SHARED_REASON,
  needsShared,
  thrown,
  tempDir,
  xorshiftRandom,
  mulberry32,
  uniformArray,
  randn,
  roundHalfEven,
  centralDifferences,
  llamaCppLogProbs,
  worstLogProbGap,
  llamaCppMeanLogProbs,
  loadNodeLlamaCpp,
  nonFiniteClasses,
  nonFiniteMismatches,
} from './fixtures.js';
export type { NodeLlama, NodeLlamaCpp } from './fixtures.js';
export { llamaCppPerplexity, type LlamaCppPerplexity } from './llama-cpp-perplexity.js';
export { referenceGemm, referenceBackend } from './reference-gemm.js';
export { argmax, relErr } from './compare.js';
export { type DenseFamily, type DenseFixtureOptions, denseFixtureConfig, writeDenseFixture } from './dense-fixtures.js';
export { gemmaReference, mistralReference, phi3Reference, readTensors64, referenceGreedy as greedyOfForward } from './dense-reference.js';
export { ReferenceLlama, referenceGreedy } from './reference-llama.js';
export type { ReferenceLlamaConfig, ReferenceRead } from './reference-llama.js';
export { writeQwen2VlFixture } from './qwen2vl-fixture.js';
export type { Qwen2VlFixtureOptions } from './qwen2vl-fixture.js';
export { type MoeFamily, type MoeFixtureOptions, writeMoeFixture } from './moe-fixture.js';
export { MoeReference } from './moe-reference.js';
export { QWEN25_05B, qwen25ShapedTokenizer, writeQwen25Shaped, writeQwen25ShapedCalibration } from './qwen25-shaped.js';
export type { Qwen25ShapedOptions, Qwen25ShapedResult } from './qwen25-shaped.js';
