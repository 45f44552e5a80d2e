/** A Hugging Face config.json as parsed; architectures read the fields they know. */
export type HFConfig = Record<string, unknown> & {
  architectures?: string[];
  model_type?: string;
};

/** One linear layer inside a block, named relative to the block (e.g. "self_attn.q_proj"). */
export interface LinearSpec {
  readonly name: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly bias: boolean;
}

export interface BlockSpec {
  readonly index: number;
  /** Full prefix of the block's tensors, e.g. "model.layers.3". */
  readonly prefix: string;
  readonly linears: readonly LinearSpec[];
  /** Every tensor the block owns (full names), quantizable or not. */
  readonly tensors: readonly string[];
}

/**
 * The declarative description of a causal LM: what its blocks are, which linears are in them,
 * and which tensors live outside blocks. Algorithms and exporters work from this alone.
 */
export interface ModelSpec {
  readonly architecture: string;
  readonly modelType: string;
  readonly config: HFConfig;
  readonly hiddenSize: number;
  readonly vocabSize: number;
  /** Name of the ModuleList holding the blocks ("model.layers"), as block_name_to_quantize. */
  readonly blockListName: string;
  readonly blocks: readonly BlockSpec[];
  readonly embedding: string;
  readonly finalNorm: string;
  /** The output projection's tensor; with tied embeddings it may be absent from the checkpoint. */
  readonly lmHead: string;
  readonly tiedEmbeddings: boolean;
}

export function fullName(block: BlockSpec, linear: LinearSpec): string {
  return `${block.prefix}.${linear.name}`;
}
