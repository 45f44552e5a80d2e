import { AutoRoundError } from '@autoround/core-tensor';

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
  /** The block's norms by module name within the block ("input_layernorm"), each with a `.weight` tensor. */
  readonly norms?: readonly string[];
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
  /**
   * The shape config.json implies for each tensor the architecture reads, with the config fields
   * it comes from, so that a checkpoint that disagrees with its config fails before any work
   * (checkTensorShape), naming the tensor and the field, instead of deep inside a kernel.
   */
  readonly shapes?: Readonly<Record<string, ExpectedShape>>;
}

/** A tensor's shape as the config implies it; `from` names the fields and their values ("vocab_size 1024, hidden_size 64"). */
export interface ExpectedShape {
  readonly shape: readonly number[];
  readonly from: string;
}

/**
 * Throws E_SHAPE when `shape` is not what `spec.shapes` expects for `name` (tensors it does not list
 * pass); `where` names the checkpoint or file the tensor came from.
 */
export function checkTensorShape(spec: ModelSpec, name: string, shape: readonly number[], where: string): void {
  const e = spec.shapes?.[name];
  if (!e) return;
  if (shape.length === e.shape.length && shape.every((d, i) => d === e.shape[i])) return;
  throw new AutoRoundError(
    'E_SHAPE',
    `${where}: tensor ${name} has shape [${shape.join(', ')}], but config.json implies [${e.shape.join(', ')}] (${e.from}): the checkpoint and its config.json disagree`,
    { subject: name },
  );
}

export function fullName(block: BlockSpec, linear: LinearSpec): string {
  return `${block.prefix}.${linear.name}`;
}
