// Every code an AutoRoundError carries, in one place: a caller may switch on `e.code`, so a code is part of the
// public surface and a near-twin (two names for one kind of failure) is a bug. Grouped by what the user has to fix.

export const ERROR_CODES = {
  // flags and options
  E_BAD_FLAG: 'a flag or API option has a value outside what it accepts',
  E_BITS: 'a bit width no scheme or format supports',
  E_GROUP_SIZE: 'a group size the weight or format cannot use',
  E_UNKNOWN_SCHEME: 'no preset scheme has this name',
  E_UNKNOWN_ALGORITHM: 'no installed plugin provides this algorithm',
  E_FORMAT: 'an unknown output format, or one that cannot hold the run\'s scheme or layers',
  E_NOT_INSTALLED: 'the run needs a plugin package that is not installed',
  E_PLUGIN: 'a plugin package named by --plugin cannot be found or loaded, or is not a plugin',
  E_NO_BACKEND: 'no kernel backend is installed',
  E_UNSUPPORTED: 'a combination this toolkit does not implement (yet)',
  // models and checkpoints
  E_MODEL_PATH: 'the model path is not a model folder',
  E_NO_CONFIG: 'the model folder has no config.json',
  E_BAD_CONFIG: 'config.json is malformed or inconsistent',
  E_UNKNOWN_ARCH: 'no installed plugin understands this architecture',
  E_NO_WEIGHTS: 'the model folder has no weights',
  E_NO_TENSOR: 'a tensor the architecture needs is missing',
  E_SHAPE: 'a tensor or an argument has the wrong shape',
  E_DTYPE: 'a tensor is stored in a dtype the reader cannot use',
  E_BAD_TYPE: 'a value has the wrong type',
  E_SAFETENSORS: 'a malformed .safetensors file',
  E_BAD_INDEX: 'a malformed model.safetensors.index.json',
  E_DUPLICATE: 'a tensor is defined twice',
  E_TOO_LARGE: 'a file or tensor is larger than the reader accepts',
  E_QUANTIZED_INPUT: 'an already quantized folder given as the model to quantize',
  E_GGUF: 'a malformed GGUF file',
  E_GGUF_FOLDER: 'a GGUF output folder without its .gguf file',
  E_GGUF_TENSOR: 'a GGUF tensor whose type, size or data is wrong',
  E_NONFINITE: 'a NaN or infinity in weights, activations or results',
  // tokenizers and text
  E_NO_TOKENIZER: 'the model folder has no tokenizer',
  E_BAD_TOKENIZER: 'a malformed tokenizer.json',
  E_UNSUPPORTED_TOKENIZER: 'a tokenizer kind this toolkit does not implement',
  E_TOKEN: 'a token id outside the vocabulary',
  E_TEXT_ENCODING: 'a text file that is not UTF-8',
  E_SEQLEN: 'a sequence longer than the model allows',
  // calibration data
  E_NO_DATASET: 'no calibration samples',
  E_DATASET_SPEC: 'a malformed --dataset value',
  E_DATASET_FILE: 'a dataset file that cannot be read',
  E_DATASET_RECORD: 'a dataset record without usable text',
  E_DATASET_EMPTY: 'a dataset with no text',
  E_DATASET_CHAT: 'a chat-formatted record the tokenizer cannot template',
  E_DATASET_SPLIT: 'a dataset split that does not exist',
  E_DATASET_NOT_FOUND: 'a named dataset that does not exist',
  E_DATASET_SOURCE: 'a dataset source that failed',
  E_DATASET_UNAVAILABLE: 'a dataset that cannot be fetched here',
  E_DATASET_UNSUPPORTED: 'a dataset file format this toolkit does not read',
  E_DATASET_SELF: '--dataset self cannot sample from this model',
  E_IMATRIX: 'a malformed importance matrix',
  // the hub
  E_HUB_REPO_ID: 'a malformed repository id',
  E_HUB_PATH: 'a file path outside the repository',
  E_HUB_NOT_FOUND: 'the repository, revision or file does not exist',
  E_HUB_AUTH: 'the hub refused the token, or the repository needs one',
  E_HUB_RATE_LIMIT: 'the hub asks to slow down',
  E_HUB_SERVER: 'the hub failed',
  E_HUB_HTTP: 'an unexpected HTTP answer',
  E_HUB_NETWORK: 'the network failed',
  E_HUB_OFFLINE: 'offline, and the file is not cached',
  E_HUB_CHECKSUM: 'a download whose checksum does not match',
  // files and folders
  E_NOT_FOUND: 'a file or folder does not exist',
  E_NOT_A_FILE: 'a path that is not a regular file',
  E_READ: 'a file cannot be read',
  E_WRITE: 'a file cannot be written',
  E_OUTPUT: 'an output folder that may not be written or replaced',
  E_RESUME: 'a saved run state that does not fit this run',
  // evaluation and checks
  E_EVAL: 'evaluation cannot run on this input',
  E_SANITY: 'the quantized output scores far worse than the source (sanity probe)',
  // internal consistency (a caller's programming error)
  E_WORKER: 'a worker thread failed',
  E_NO_GRAD: 'backward from a value that needs no gradient',
  E_BACKWARD_TWICE: 'backward run twice on one tape',
} as const;

/** The code of an AutoRoundError: one of ERROR_CODES. */
export type ErrorCode = keyof typeof ERROR_CODES;
