// Byte- and structure-level mutations of a valid file, as fast-check arbitraries: fast-check draws a short
// list of them for each input and, when an input fails, shrinks the list (fewer, smaller mutations, positions
// towards 0) to the minimal one that still fails.
import fc from 'fast-check';

/** How a seed file is structured, for the mutations that know about structure. */
export type SeedKind = 'binary' | 'json' | 'jsonl' | 'text' | 'safetensors';

/** A JSON value put in place of one node of a parsed JSON document ('delete' removes the node). */
export type JsonMutant = { set: unknown } | 'delete' | 'duplicate' | 'wrap';

export type Mutation =
  | { op: 'flip'; at: number; bit: number }
  | { op: 'byte'; at: number; value: number }
  | { op: 'truncate'; at: number }
  | { op: 'insert'; at: number; bytes: number[] }
  | { op: 'delete'; at: number; length: number }
  /** Overwrite a length- or count-like field of the seed (a small little-endian integer) with a huge or odd value. */
  | { op: 'huge'; field: number; width: 4 | 8; value: bigint }
  /** Replace one node (by walk order) of the file's JSON (its header, for safetensors; one line's, for jsonl). */
  | { op: 'json'; node: number; mutant: JsonMutant };

/** Byte sequences that parsers trip on: BOMs, invalid UTF-8, NUL, CR, JSON punctuation, escapes. */
const DICTIONARY: readonly number[][] = [
  [0xef, 0xbb, 0xbf],
  [0xff, 0xfe],
  [0xfe, 0xff],
  [0xc3, 0x28],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0x00],
  [0x0d],
  [0x0a],
  [0x0d, 0x0a],
  [0x22],
  [0x5c, 0x75],
  [0x7b],
  [0x7d],
  [0x5b],
  [0x5d],
  [0x2c],
  [0x3a],
  [0xff, 0xff, 0xff, 0xff],
  [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
  [0x80],
];

const HUGE: readonly bigint[] = [0n, 1n, 0x7fn, 0xffn, 0x7fffn, 0xffffn, 0x7fffffffn, 0x80000000n, 0xffffffffn, 1n << 32n, 1n << 53n, (1n << 53n) + 1n, 1n << 62n, 1n << 63n, (1n << 64n) - 1n];

const JSON_VALUES: readonly unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1,
  0.5,
  -0.0,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  2 ** 53 + 2,
  1e300,
  -1e300,
  1e-300,
  '',
  'x',
  '0',
  'F32',
  'I32',
  'gptq',
  'awq',
  'compressed-tensors',
  'auto_round',
  'gguf',
  'x'.repeat(5000),
  [],
  [0],
  [-1, 2 ** 53],
  [[[[[[[[[[[]]]]]]]]]]],
  {},
  { a: 1 },
];

const mutantArb: fc.Arbitrary<JsonMutant> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...JSON_VALUES).map((v) => ({ set: v })) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => ({ set: v })) },
  { weight: 2, arbitrary: fc.integer().map((v) => ({ set: v })) },
  { weight: 2, arbitrary: fc.constantFrom<JsonMutant>('delete', 'duplicate', 'wrap') },
);

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('byte' as const), at: fc.nat(), value: fc.nat(255) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('insert' as const),
      at: fc.nat(),
      bytes: fc.oneof(fc.constantFrom(...DICTIONARY), fc.array(fc.nat(255), { minLength: 1, maxLength: 16 })),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant('huge' as const),
      field: fc.nat(),
      width: fc.constantFrom(8 as const, 4 as const),
      value: fc.oneof(fc.constantFrom(...HUGE), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
    }),
  },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('json' as const), node: fc.nat(), mutant: mutantArb }) },
);

/** One fuzz input: which seed, which of its files, and the mutations applied to that file in order. */
export interface FuzzInput {
  seed: number;
  file: number;
  mutations: Mutation[];
}

export const inputArb: fc.Arbitrary<FuzzInput> = fc.record({
  seed: fc.nat(),
  file: fc.nat(),
  mutations: fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
});

/**
 * Offsets of the seed's length- and count-like fields: 8-byte little-endian values in 1…2^24 at 4-byte
 * alignment (GGUF string lengths, array counts, tensor dims, the safetensors header length), at most 4096.
 */
export function lengthFields(bytes: Uint8Array): number[] {
  const out: number[] = [];
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at + 8 <= bytes.length && out.length < 4096; at += 4) {
    const lo = v.getUint32(at, true);
    if (v.getUint32(at + 4, true) === 0 && lo >= 1 && lo <= 1 << 24) out.push(at);
  }
  return out;
}

/** The nodes of a JSON value in walk order, each as a setter on its parent (the root has none). */
function nodesOf(root: unknown): { parent: unknown; key: string | number }[] {
  const out: { parent: unknown; key: string | number }[] = [];
  const walk = (v: unknown) => {
    if (out.length > 20_000) return;
    if (Array.isArray(v)) {
      // long arrays (token lists, merges) are sampled: their first, last and a few middle entries
      const idx = v.length <= 16 ? v.map((_, i) => i) : [0, 1, 2, Math.floor(v.length / 3), Math.floor(v.length / 2), v.length - 2, v.length - 1];
      for (const i of idx) {
        out.push({ parent: v, key: i });
        walk(v[i]);
      }
    } else if (v && typeof v === 'object') {
      const keys = Object.keys(v);
      const pick = keys.length <= 64 ? keys : [...keys.slice(0, 32), ...keys.slice(-8)];
      for (const k of pick) {
        out.push({ parent: v, key: k });
        walk((v as Record<string, unknown>)[k]);
      }
    }
  };
  walk(root);
  return out;
}

/** The JSON text with one node replaced, or undefined when the text does not parse (an earlier mutation broke it). */
function mutateJsonText(text: string, node: number, mutant: JsonMutant): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return undefined;
  }
  const nodes = nodesOf(doc);
  if (nodes.length === 0) return JSON.stringify(mutant === 'delete' || mutant === 'duplicate' || mutant === 'wrap' ? [doc] : mutant.set);
  const { parent, key } = nodes[node % nodes.length]!;
  const p = parent as Record<string | number, unknown>;
  const list = Array.isArray(parent) ? (parent as unknown[]) : undefined;
  const old = p[key];
  if (mutant === 'delete') {
    if (list) list.splice(key as number, 1);
    else delete p[key];
  } else if (mutant === 'duplicate') {
    if (list) list.splice(key as number, 0, structuredClone(old));
    else p[key] = [old, old];
  } else if (mutant === 'wrap') {
    p[key] = { value: old };
  } else {
    p[key] = mutant.set;
  }
  return JSON.stringify(doc);
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function applyJson(bytes: Uint8Array, kind: SeedKind, node: number, mutant: JsonMutant): Uint8Array {
  if (kind === 'json') {
    const t = mutateJsonText(dec.decode(bytes), node, mutant);
    return t === undefined ? bytes : enc.encode(t);
  }
  if (kind === 'jsonl') {
    const lines = dec.decode(bytes).split('\n');
    const nonEmpty = lines.map((l, i) => [l, i] as const).filter(([l]) => l.trim() !== '');
    if (nonEmpty.length === 0) return bytes;
    const [line, i] = nonEmpty[node % nonEmpty.length]!;
    const t = mutateJsonText(line, Math.floor(node / nonEmpty.length), mutant);
    if (t === undefined) return bytes;
    lines[i] = t;
    return enc.encode(lines.join('\n'));
  }
  if (kind === 'safetensors') {
    if (bytes.length < 8) return bytes;
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = v.getBigUint64(0, true);
    if (n > BigInt(bytes.length - 8)) return bytes;
    const t = mutateJsonText(dec.decode(bytes.subarray(8, 8 + Number(n))), node, mutant);
    if (t === undefined) return bytes;
    const header = enc.encode(t);
    const out = new Uint8Array(8 + header.length + bytes.length - 8 - Number(n));
    new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
    out.set(header, 8);
    out.set(bytes.subarray(8 + Number(n)), 8 + header.length);
    return out;
  }
  return bytes;
}

/** The seed file's bytes with the mutations applied in order (the seed is not changed). */
export function applyMutations(seed: Uint8Array, kind: SeedKind, fields: readonly number[], mutations: readonly Mutation[]): Uint8Array {
  let b = seed;
  for (const m of mutations) {
    switch (m.op) {
      case 'flip':
        if (b.length) {
          b = b.slice();
          const at = m.at % b.length;
          b[at] = b[at]! ^ (1 << m.bit);
        }
        break;
      case 'byte':
        if (b.length) {
          b = b.slice();
          b[m.at % b.length] = m.value;
        }
        break;
      case 'truncate':
        b = b.slice(0, m.at % (b.length + 1));
        break;
      case 'insert': {
        const at = m.at % (b.length + 1);
        const out = new Uint8Array(b.length + m.bytes.length);
        out.set(b.subarray(0, at));
        out.set(m.bytes, at);
        out.set(b.subarray(at), at + m.bytes.length);
        b = out;
        break;
      }
      case 'delete': {
        if (!b.length) break;
        const at = m.at % b.length;
        const out = new Uint8Array(b.length - Math.min(m.length, b.length - at));
        out.set(b.subarray(0, at));
        out.set(b.subarray(at + m.length), at);
        b = out;
        break;
      }
      case 'huge': {
        if (!fields.length) break;
        const at = fields[m.field % fields.length]!;
        if (at + m.width > b.length) break;
        b = b.slice();
        const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
        if (m.width === 8) v.setBigUint64(at, m.value & ((1n << 64n) - 1n), true);
        else v.setUint32(at, Number(m.value & 0xffffffffn), true);
        break;
      }
      case 'json':
        b = applyJson(b, kind, m.node, m.mutant);
        break;
    }
  }
  return b;
}

/** A mutation list as JSON (bigint values as strings), for printing a failing input. */
export function describeMutations(ms: readonly Mutation[]): string {
  return JSON.stringify(ms, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : typeof v === 'string' && v.length > 40 ? `${v.slice(0, 20)}…(${v.length} chars)` : v));
}
