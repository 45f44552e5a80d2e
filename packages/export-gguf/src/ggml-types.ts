// ggml tensor types (enum ggml_type) with their block geometry, and the llama_ftype file types.
// Numbers as docs/formats/gguf.md#type-table and #general-keys-and-file-type give them.

/** ggml_type ids this package reads and writes, plus the ones it only recognises in a file. */
export const GGMLType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ2_XXS: 16,
  IQ2_XS: 17,
  IQ3_XXS: 18,
  IQ1_S: 19,
  IQ4_NL: 20,
  IQ3_S: 21,
  IQ2_S: 22,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  IQ1_M: 29,
  BF16: 30,
  TQ1_0: 34,
  TQ2_0: 35,
  MXFP4: 39,
  NVFP4: 40,
  Q1_0: 41,
  Q2_0: 42,
} as const;
export type GGMLType = (typeof GGMLType)[keyof typeof GGMLType];

/** Elements per super-block of the K-quants. */
export const QK_K = 256;

interface TypeTraits {
  readonly name: string;
  readonly blockSize: number;
  readonly typeSize: number;
}

/** Block elements and bytes per block for every type id a GGUF file may hold (docs/formats/gguf.md#type-table). */
export const GGML_TYPE_TRAITS: Readonly<Record<number, TypeTraits>> = {
  0: { name: 'F32', blockSize: 1, typeSize: 4 },
  1: { name: 'F16', blockSize: 1, typeSize: 2 },
  2: { name: 'Q4_0', blockSize: 32, typeSize: 18 },
  3: { name: 'Q4_1', blockSize: 32, typeSize: 20 },
  6: { name: 'Q5_0', blockSize: 32, typeSize: 22 },
  7: { name: 'Q5_1', blockSize: 32, typeSize: 24 },
  8: { name: 'Q8_0', blockSize: 32, typeSize: 34 },
  9: { name: 'Q8_1', blockSize: 32, typeSize: 36 },
  10: { name: 'Q2_K', blockSize: 256, typeSize: 84 },
  11: { name: 'Q3_K', blockSize: 256, typeSize: 110 },
  12: { name: 'Q4_K', blockSize: 256, typeSize: 144 },
  13: { name: 'Q5_K', blockSize: 256, typeSize: 176 },
  14: { name: 'Q6_K', blockSize: 256, typeSize: 210 },
  15: { name: 'Q8_K', blockSize: 256, typeSize: 292 },
  16: { name: 'IQ2_XXS', blockSize: 256, typeSize: 66 },
  17: { name: 'IQ2_XS', blockSize: 256, typeSize: 74 },
  18: { name: 'IQ3_XXS', blockSize: 256, typeSize: 98 },
  19: { name: 'IQ1_S', blockSize: 256, typeSize: 50 },
  20: { name: 'IQ4_NL', blockSize: 32, typeSize: 18 },
  21: { name: 'IQ3_S', blockSize: 256, typeSize: 110 },
  22: { name: 'IQ2_S', blockSize: 256, typeSize: 82 },
  23: { name: 'IQ4_XS', blockSize: 256, typeSize: 136 },
  24: { name: 'I8', blockSize: 1, typeSize: 1 },
  25: { name: 'I16', blockSize: 1, typeSize: 2 },
  26: { name: 'I32', blockSize: 1, typeSize: 4 },
  27: { name: 'I64', blockSize: 1, typeSize: 8 },
  28: { name: 'F64', blockSize: 1, typeSize: 8 },
  29: { name: 'IQ1_M', blockSize: 256, typeSize: 56 },
  30: { name: 'BF16', blockSize: 1, typeSize: 2 },
  34: { name: 'TQ1_0', blockSize: 256, typeSize: 54 },
  35: { name: 'TQ2_0', blockSize: 256, typeSize: 66 },
  39: { name: 'MXFP4', blockSize: 32, typeSize: 17 },
  40: { name: 'NVFP4', blockSize: 64, typeSize: 36 },
  41: { name: 'Q1_0', blockSize: 128, typeSize: 18 },
  42: { name: 'Q2_0', blockSize: 64, typeSize: 18 },
};

export function isKnownGgmlType(t: number): boolean {
  return Object.prototype.hasOwnProperty.call(GGML_TYPE_TRAITS, t);
}

export function ggmlTypeName(t: number): string {
  return GGML_TYPE_TRAITS[t]?.name ?? `type#${t}`;
}

export function blockSizeOf(t: number): number {
  const tr = GGML_TYPE_TRAITS[t];
  if (!tr) throw new Error(`unknown ggml type ${t}`);
  return tr.blockSize;
}

export function typeSizeOf(t: number): number {
  const tr = GGML_TYPE_TRAITS[t];
  if (!tr) throw new Error(`unknown ggml type ${t}`);
  return tr.typeSize;
}

/** Bytes of one row of `ne0` elements (ne0 must be a multiple of the block size). */
export function rowBytes(t: number, ne0: number): number {
  return (ne0 / blockSizeOf(t)) * typeSizeOf(t);
}

/** Bytes of a tensor with dims `ne` (innermost first). */
export function tensorBytes(t: number, ne: readonly number[]): number {
  let rows = 1;
  for (let i = 1; i < ne.length; i++) rows *= ne[i]!;
  return rowBytes(t, ne[0]!) * rows;
}

/** Looks a type up by name ("q4_k", "Q4_K", "bf16"). */
export function ggmlTypeByName(name: string): GGMLType | undefined {
  const up = name.trim().toUpperCase();
  for (const [id, tr] of Object.entries(GGML_TYPE_TRAITS)) if (tr.name === up) return Number(id) as GGMLType;
  return undefined;
}

/** llama_ftype: the value of general.file_type (docs/formats/gguf.md#general-keys-and-file-type). */
export const LlamaFileType = {
  ALL_F32: 0,
  MOSTLY_F16: 1,
  MOSTLY_Q4_0: 2,
  MOSTLY_Q4_1: 3,
  MOSTLY_Q8_0: 7,
  MOSTLY_Q5_0: 8,
  MOSTLY_Q5_1: 9,
  MOSTLY_Q2_K: 10,
  MOSTLY_Q3_K_S: 11,
  MOSTLY_Q3_K_M: 12,
  MOSTLY_Q3_K_L: 13,
  MOSTLY_Q4_K_S: 14,
  MOSTLY_Q4_K_M: 15,
  MOSTLY_Q5_K_S: 16,
  MOSTLY_Q5_K_M: 17,
  MOSTLY_Q6_K: 18,
  MOSTLY_Q2_K_S: 21,
  MOSTLY_BF16: 32,
} as const;
export type LlamaFileType = (typeof LlamaFileType)[keyof typeof LlamaFileType];
