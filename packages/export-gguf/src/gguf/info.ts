// A `gguf-info` summary: header facts, metadata (arrays abbreviated), tensors, type histogram.

import { ggmlTypeName } from '@autoround/quant-types';
import { GGUF_VALUE_TYPE_NAMES, GgufValueType, type GgufArray, type GgufEntry, type GgufScalar } from './metadata.js';
import { readGguf, type GgufFile } from './reader.js';

const ARRAY_PREVIEW = 6;
const STRING_PREVIEW = 80;

function fmtScalar(v: GgufScalar): string {
  if (typeof v === 'string') {
    const s = v.length > STRING_PREVIEW ? `${v.slice(0, STRING_PREVIEW)}… (${v.length} chars)` : v;
    return JSON.stringify(s);
  }
  return String(v);
}

function fmtEntry(e: GgufEntry): string {
  if (e.type !== GgufValueType.ARRAY) return `${GGUF_VALUE_TYPE_NAMES[e.type]} ${fmtScalar(e.value as GgufScalar)}`;
  const arr = e.value as GgufArray;
  const head = Array.from({ length: Math.min(ARRAY_PREVIEW, arr.length) }, (_, i) => fmtScalar(arr[i] as GgufScalar));
  return `ARRAY<${GGUF_VALUE_TYPE_NAMES[e.itemType!]}>[${arr.length}] [${head.join(', ')}${arr.length > ARRAY_PREVIEW ? ', …' : ''}]`;
}

function fmtBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} kB`;
  return `${n} B`;
}

/** Summarises a parsed GGUF file. */
export function describeGguf(g: GgufFile): string {
  const lines: string[] = [];
  let params = 0;
  let dataBytes = 0;
  const byType = new Map<string, { n: number; params: number; bytes: number }>();
  for (const t of g.tensors) {
    const numel = t.ne.reduce((a, b) => a * b, 1);
    params += numel;
    dataBytes += t.nbytes;
    const k = ggmlTypeName(t.type);
    const s = byType.get(k) ?? { n: 0, params: 0, bytes: 0 };
    s.n++;
    s.params += numel;
    s.bytes += t.nbytes;
    byType.set(k, s);
  }
  lines.push(`file: ${g.path}`);
  lines.push(`GGUF version ${g.version}, alignment ${g.alignment}, ${g.metadata.size} metadata keys, ${g.tensors.length} tensors`);
  lines.push(`size ${fmtBytes(g.fileSize)}, data starts at byte ${g.dataOffset}`);
  lines.push(`parameters ${params.toLocaleString('en-US')}, ${params > 0 ? ((dataBytes * 8) / params).toFixed(3) : '0'} bits per weight`);
  lines.push('');
  lines.push('metadata:');
  const keyWidth = Math.max(0, ...[...g.metadata.keys()].map((k) => k.length));
  for (const [k, e] of g.metadata) lines.push(`  ${k.padEnd(keyWidth)}  ${fmtEntry(e)}`);
  lines.push('');
  lines.push('tensor types:');
  for (const [k, s] of [...byType].sort((a, b) => b[1].bytes - a[1].bytes)) {
    lines.push(`  ${k.padEnd(6)} ${String(s.n).padStart(5)} tensors  ${s.params.toLocaleString('en-US').padStart(15)} params  ${fmtBytes(s.bytes)}`);
  }
  lines.push('');
  lines.push('tensors:');
  const nameWidth = Math.max(0, ...g.tensors.map((t) => t.name.length));
  g.tensors.forEach((t, i) => {
    lines.push(`  ${String(i).padStart(4)}  ${t.name.padEnd(nameWidth)}  ${ggmlTypeName(t.type).padEnd(5)}  [${t.ne.join(', ')}]  ${fmtBytes(t.nbytes)} @ ${t.offset}`);
  });
  return lines.join('\n') + '\n';
}

/** Reads `path` (validating it) and returns a human-readable summary, as `gguf-info` prints it. */
export function formatGgufInfo(path: string): string {
  return describeGguf(readGguf(path));
}
