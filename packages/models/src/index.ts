import { definePlugin } from '@autoround/core';
import { llamaArchitecture } from './llama/index.js';
import { qwen2Architecture } from './qwen2/index.js';
import { qwen3Architecture } from './qwen3/index.js';
import { gemma2Architecture } from './gemma2/index.js';
import { gemma3Architecture } from './gemma3/index.js';
import { phi3Architecture } from './phi3/index.js';
import { qwen2VlArchitecture } from './qwen2vl/index.js';
import { mixtralArchitecture, qwen2MoeArchitecture, qwen3MoeArchitecture } from './moe/index.js';

export { architectureOf, intField, numField, readConfig } from './config.js';
export { applyRope, ropeInvFreq, ropeTables } from './rope.js';
export type { BlockOps, ScatterPart } from './block-ops.js';
export {
  type BlockLinearTensors,
  type BlockTensors,
  type FloatPositions,
  blockAttention,
  blockNorm,
  causalAttention,
  floatOps,
  linearRaw,
  rmsNorm,
} from './float-ops.js';
export { type GraphBlockConfig, type GraphBlockOptions, graphOps } from './graph-ops.js';
export { DenseCausalLM, type DenseDims, type DenseHeadRules, embedRows, loadBlockWeights } from './dense-model.js';
export {
  describeLlama,
  LLAMA,
  llamaArchitecture,
  llamaBlock,
  llamaBlockForward,
  llamaBlockGraph,
  type LlamaBlockShape,
  type LlamaBlockWeights,
  LlamaDecoder,
  llamaDims,
  type LlamaDims,
  llamaFamilyArchitecture,
  LlamaModel,
  type LlamaVariant,
  makeRope,
  type RopeCache,
} from './llama/index.js';
export { QWEN2, qwen2Architecture } from './qwen2/index.js';
export { QWEN3, qwen3Architecture } from './qwen3/index.js';
export {
  describeGemma,
  GEMMA2,
  gemma2Architecture,
  gemmaBlock,
  type GemmaBlockOps,
  type GemmaBlockShape,
  gemmaDims,
  type GemmaDims,
  gemmaFamilyArchitecture,
  GemmaModel,
  type GemmaVariant,
} from './gemma2/index.js';
export { GEMMA3, gemma3Architecture } from './gemma3/index.js';
export { describePhi3, phi3Architecture, phi3Block, type Phi3BlockOps, type Phi3BlockShape, phi3Dims, type Phi3Dims, Phi3Model } from './phi3/index.js';
export { longRope, type LongRope } from './rope.js';
export { type CacheDecodable, KvCacheDecoder, type LayerAttention, packedForward, windowedAttention } from './kv-decoder.js';
export { QWEN2_VL, qwen2VlArchitecture, qwen2VlTextConfig, qwen2VlTextPrefix } from './qwen2vl/index.js';
export {
  describeMoe,
  MIXTRAL,
  mixtralArchitecture,
  moeArchitecture,
  moeBlock,
  type MoeBlockShape,
  type MoeDims,
  moeDims,
  MoeModel,
  type MoeVariant,
  QWEN2_MOE,
  qwen2MoeArchitecture,
  QWEN3_MOE,
  qwen3MoeArchitecture,
  routeTokens,
} from './moe/index.js';
export { loadTokenizer, type TextTokenizer } from './tokenizer.js';
export { createFastEncoder, fastEncoderUnsupported, FastBpeEncoder } from './fast-bpe.js';
// the overlay lives in core (the host builds one for evaluation); re-exported for existing callers
export { OverlayWeights } from '@autoround/core';

// one architecture, one folder (README.md "Adding an architecture"): each registers its Hugging Face names
export const modelsPlugin = definePlugin({ name: '@autoround/models', architectures: [llamaArchitecture, qwen2Architecture, qwen3Architecture, gemma2Architecture, gemma3Architecture, phi3Architecture, qwen2VlArchitecture, qwen3MoeArchitecture, qwen2MoeArchitecture, mixtralArchitecture] });
export default modelsPlugin;
