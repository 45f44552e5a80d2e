// llama_ftype ids: the file types a GGUF file names in general.file_type (the mix of block types is
// ftype.ts; the block types themselves are @autoround/quant-types).

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
  MOSTLY_MXFP4_MOE: 38,
} as const;
export type LlamaFileType = (typeof LlamaFileType)[keyof typeof LlamaFileType];
