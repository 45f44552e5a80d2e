import { closeSync, openSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { AutoRoundError } from '@autoround/core';
import type { DecoderGraph } from './graph.js';
import { encodeModel, onnx, type TensorProto } from './proto.js';

/** protobuf cannot encode a message of 2 GiB or more; onnxruntime refuses such a file. */
export const PROTOBUF_LIMIT = 2 ** 31 - 1;
/** Room kept under the limit for the graph itself (names, nodes, shapes) when deciding whether weights fit. */
const GRAPH_MARGIN = 16 * 2 ** 20;
/** Tensors this small stay inside the .onnx file even with external data (shape constants, tiny vectors). */
const EXTERNAL_MIN_BYTES = 1024;
/** Offsets in the .onnx_data file are aligned so onnxruntime can map tensors in place. */
const ALIGN = 4096;

export type ExternalDataMode = 'auto' | 'on' | 'off';

export interface ModelFileOptions {
  /** 'auto': external data only when the weights would not fit in one protobuf message. */
  readonly externalData: ExternalDataMode;
  /** The size above which 'auto' moves weights out (default: protobuf's limit less a margin); tests lower it. */
  readonly limitBytes?: number;
  readonly producer?: string;
}

export function initializerBytes(g: Pick<DecoderGraph, 'initializers'>): number {
  let n = 0;
  for (const t of g.initializers) n += t.rawData?.length ?? 0;
  return n;
}

export function needsExternalData(weightBytes: number, mode: ExternalDataMode, limitBytes = PROTOBUF_LIMIT - GRAPH_MARGIN): boolean {
  return mode === 'on' || (mode === 'auto' && weightBytes > limitBytes);
}

/**
 * Writes the model to `file` (and its weights to `file + "_data"` when external data is used: onnx's
 * TensorProto.external_data with location, offset and length; transformers.js's naming, docs/formats/onnx.md#files).
 * Returns the files written.
 */
export function writeModelFile(file: string, g: DecoderGraph, opts: ModelFileOptions): string[] {
  const weights = initializerBytes(g);
  const external = needsExternalData(weights, opts.externalData, opts.limitBytes);
  if (!external && weights > PROTOBUF_LIMIT - GRAPH_MARGIN) {
    throw new AutoRoundError('E_TOO_LARGE', `onnx: ${basename(file)} would hold ${weights} bytes of weights, more than protobuf's 2 GiB limit; drop external_data=off from --format`, { subject: '--format' });
  }
  const written = [file];
  let initializers: TensorProto[] = g.initializers;
  let fd: number | null = null;
  if (external) {
    const dataFile = `${file}_data`;
    const location = basename(dataFile);
    fd = openSync(dataFile, 'w');
    written.push(dataFile);
    let offset = 0;
    initializers = g.initializers.map((t) => {
      const raw = t.rawData!;
      if (raw.length < EXTERNAL_MIN_BYTES) return t;
      const pad = (ALIGN - (offset % ALIGN)) % ALIGN;
      if (pad) writeSync(fd!, new Uint8Array(pad));
      offset += pad;
      writeSync(fd!, raw);
      const ext = { ...t, rawData: undefined, dataLocation: onnx.TensorProto.DataLocation.EXTERNAL, externalData: [
        { key: 'location', value: location },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(raw.length) },
      ] };
      offset += raw.length;
      return ext;
    });
    closeSync(fd);
  }
  const bytes = encodeModel({
    irVersion: 8,
    producerName: opts.producer ?? 'autoround-ts',
    opsetImport: [
      { domain: '', version: 17 },
      { domain: 'com.microsoft', version: 1 },
    ],
    graph: { name: 'main_graph', node: g.nodes, initializer: initializers, input: g.inputs, output: g.outputs },
  });
  const out = openSync(file, 'w');
  try {
    writeSync(out, bytes);
  } finally {
    closeSync(out);
  }
  return written;
}
