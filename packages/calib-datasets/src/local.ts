import { extname } from 'node:path';
import { AutoRoundError, describeSystemError, isAutoRoundError, readUtf8Text } from '@autoround/core-tensor';
import type { ChatMessage } from './tokenizer.js';

/** One calibration record: a text, or a conversation (rendered with the chat template, or joined). */
export type Sample = string | ChatMessage[];

export const LOCAL_EXTENSIONS = ['.txt', '.json', '.jsonl', '.parquet'] as const;

export function localKind(path: string): 'txt' | 'json' | 'jsonl' | 'parquet' | undefined {
  const e = extname(path).toLowerCase();
  if (e === '.txt' || e === '.text') return 'txt';
  if (e === '.json') return 'json';
  if (e === '.jsonl' || e === '.ndjson') return 'jsonl';
  if (e === '.parquet') return 'parquet';
  return undefined;
}

/**
 * The text of one record, as the original's local loader takes it: a string; a dict with one key (its
 * value); a dict with `text`; a dict with `input_ids` (must be a string). With `textField`, that field.
 * A `messages` list of {role, content} is kept as a conversation.
 */
export function recordText(rec: unknown, where: () => string, textField?: string): Sample {
  let v: unknown = rec;
  if (textField !== undefined) {
    if (!rec || typeof rec !== 'object' || Array.isArray(rec) || !(textField in rec)) {
      throw new AutoRoundError('E_DATASET_RECORD', `${where()}: no field "${textField}" (text_field=${textField})`, { subject: where() });
    }
    v = (rec as Record<string, unknown>)[textField];
  } else if (rec && typeof rec === 'object' && !Array.isArray(rec)) {
    const o = rec as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1) v = o[keys[0]!];
    else if ('text' in o) v = o.text;
    else if ('input_ids' in o) v = o.input_ids;
    else if ('messages' in o) v = o.messages;
  }
  if (isConversation(v)) return v;
  if (typeof v !== 'string') {
    const got = v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v;
    throw new AutoRoundError(
      'E_DATASET_RECORD',
      `${where()}: expected a string, or an object with "text" (or one key, or text_field=…), got ${got}` +
        (v && typeof v === 'object' && !Array.isArray(v) ? ` with keys ${Object.keys(v).join(', ')}` : ''),
      { subject: where() },
    );
  }
  return rstrip(v);
}

export function isConversation(v: unknown): v is ChatMessage[] {
  return Array.isArray(v) && v.length > 0 && v.every((m) => m && typeof m === 'object' && typeof (m as ChatMessage).role === 'string' && typeof (m as ChatMessage).content === 'string');
}

/** Python's str.rstrip(): trailing whitespace off. */
export function rstrip(s: string): string {
  let end = s.length;
  while (end > 0 && isPyWhitespace(s.charCodeAt(end - 1))) end--;
  return end === s.length ? s : s.slice(0, end);
}

/** str.isspace() for one UTF-16 unit (the BMP whitespace Python strips). */
function isPyWhitespace(c: number): boolean {
  return (
    (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c === 0x85 || c === 0xa0 || c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000
  );
}

/**
 * A plain-text file: documents separated by blank lines (a line with only whitespace), each right-
 * stripped, empty ones dropped. With `lines`, every non-empty line is a document (the old AutoRound
 * behaviour for .txt).
 */
export function readTextFile(path: string, byLine = false): string[] {
  const text = readUtf8Text(path).replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  const docs = byLine ? text.split('\n') : text.split(/\n(?:[ \t\f\v]*\n)+/);
  return docs.map((d) => rstrip(byLine ? d : d.replace(/^\n+/, ''))).filter((d) => d.trim().length > 0);
}

export function readJsonFile(path: string, textField?: string): Sample[] {
  let data: unknown;
  try {
    data = JSON.parse(readUtf8Text(path).replace(/^\uFEFF/, ''));
  } catch (e) {
    if (isAutoRoundError(e)) throw e; // a UTF-16 file is that, not invalid JSON
    throw new AutoRoundError('E_DATASET_FILE', `${path} is not valid JSON: ${(e as Error).message}`, { subject: path, cause: e });
  }
  let records: unknown[];
  if (Array.isArray(data)) records = data;
  else if (data && typeof data === 'object') records = Object.values(data);
  else throw new AutoRoundError('E_DATASET_FILE', `${path}: expected a JSON list (or an object whose values are the records), got ${typeof data}`, { subject: path });
  return records.map((r, i) => recordText(r, () => `${path} record ${i}`, textField));
}

export function readJsonLinesFile(path: string, textField?: string): Sample[] {
  const text = readUtf8Text(path).replace(/^\uFEFF/, '');
  const out: Sample[] = [];
  let lineNo = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    lineNo++;
    const line = text.slice(start, end);
    start = end + 1;
    if (line.trim() === '') continue;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      throw new AutoRoundError('E_DATASET_FILE', `${path} line ${lineNo} is not valid JSON: ${(e as Error).message}`, { subject: path, cause: e });
    }
    const n = lineNo;
    out.push(recordText(rec, () => `${path} line ${n}`, textField));
  }
  return out;
}

/** Rows of Parquet files (hyparquet, pure JS; gzip/zstd/brotli/lz4 through hyparquet-compressors). */
export async function readParquetRows(path: string, columns?: string[]): Promise<Record<string, unknown>[]> {
  const { parquetReadObjects, parquetSchema } = await import('hyparquet');
  const { compressors } = await import('hyparquet-compressors');
  const { file, metadata } = await openParquet(path);
  const names = parquetSchema(metadata).children.map((c) => c.element.name);
  if (columns) {
    const missing = columns.filter((c) => !names.includes(c));
    if (missing.length) {
      throw new AutoRoundError('E_DATASET_RECORD', `${path} has no column ${missing.map((m) => `"${m}"`).join(', ')} (columns: ${names.join(', ')})`, { subject: path });
    }
  }
  await checkParquetPages(path, file, metadata, columns);
  try {
    return (await parquetReadObjects({ file, metadata, columns, compressors, utf8: true })) as Record<string, unknown>[];
  } catch (e) {
    // a footer that parses over damaged data pages (a file cut or overwritten in the middle)
    throw new AutoRoundError('E_DATASET_FILE', `${path} is not a readable Parquet file: its data cannot be decoded (${(e as Error).message})`, { subject: path, cause: e });
  }
}

/** The file and its footer metadata; anything that is not a whole Parquet file (text, cut short, a folder) is an AutoRoundError. */
async function openParquet(path: string) {
  const { asyncBufferFromFile, parquetMetadataAsync, parquetSchema } = await import('hyparquet');
  try {
    const file = await asyncBufferFromFile(path);
    const metadata = await parquetMetadataAsync(file);
    parquetSchema(metadata); // a footer can parse yet describe no valid schema
    return { file, metadata };
  } catch (e) {
    const why = describeSystemError(e) ?? (e as Error).message;
    throw new AutoRoundError('E_DATASET_FILE', `${path} is not a readable Parquet file: ${why}`, { subject: path, cause: e });
  }
}

/** Column names of a Parquet file, with whether each is a plain string column. */
export async function parquetColumns(path: string): Promise<{ name: string; isString: boolean }[]> {
  const { parquetSchema } = await import('hyparquet');
  const { metadata: md } = await openParquet(path);
  return parquetSchema(md).children.map((c) => ({
    name: c.element.name,
    isString: c.children.length === 0 && c.element.type === 'BYTE_ARRAY' && (c.element.converted_type === 'UTF8' || c.element.logical_type?.type === 'STRING'),
  }));
}

/** Texts of a local Parquet file: `text_field`, else "text", else its only string column. */
export async function readParquetFile(path: string, textField?: string): Promise<Sample[]> {
  const col = textField ?? (await pickTextColumn(path));
  const rows = await readParquetRows(path, [col]);
  return rows.map((r, i) => recordText(r[col], () => `${path} row ${i} column "${col}"`));
}

async function pickTextColumn(path: string): Promise<string> {
  const cols = await parquetColumns(path);
  if (cols.some((c) => c.name === 'text')) return 'text';
  const strings = cols.filter((c) => c.isString);
  if (strings.length === 1) return strings[0]!.name;
  throw new AutoRoundError(
    'E_DATASET_RECORD',
    `${path} has no "text" column and ${strings.length ? 'several' : 'no'} string columns (${cols.map((c) => c.name).join(', ')}): name one with :text_field=NAME`,
    { subject: path },
  );
}

/** Reads any supported local file into samples, in file order. */
export async function readLocalFile(path: string, opts: { textField?: string; lines?: boolean } = {}): Promise<Sample[]> {
  switch (localKind(path)) {
    case 'txt':
      return readTextFile(path, opts.lines);
    case 'json':
      return readJsonFile(path, opts.textField);
    case 'jsonl':
      return readJsonLinesFile(path, opts.textField);
    case 'parquet':
      return readParquetFile(path, opts.textField);
    default:
      throw new AutoRoundError('E_DATASET_FILE', `${path}: unsupported calibration file type (use ${LOCAL_EXTENSIONS.join(', ')})`, { subject: path });
  }
}

/**
 * Walks the page headers of the column chunks to be read and refuses one that hyparquet would trip on: a
 * data page header without its level lengths sends hyparquet's level decoder into an endless loop (reading at
 * offset NaN), and sizes past the chunk make it read other pages' bytes as levels (found by tools/fuzz).
 */
async function checkParquetPages(
  path: string,
  file: { byteLength: number; slice(start: number, end?: number): ArrayBuffer | Promise<ArrayBuffer> },
  metadata: import('hyparquet').FileMetaData,
  columns: string[] | undefined,
): Promise<void> {
  const { parquetHeader } = await import('hyparquet/src/column.js');
  const { getMaxDefinitionLevel, getSchemaPath } = await import('hyparquet/src/schema.js');
  const count = (v: unknown) => (typeof v === 'bigint' ? Number(v) : v);
  const isCount = (v: unknown) => Number.isSafeInteger(count(v)) && (count(v) as number) >= 0;
  for (const [g, rg] of metadata.row_groups.entries()) {
    for (const chunk of rg.columns) {
      const meta = chunk.meta_data;
      if (!meta || (columns && !columns.includes(meta.path_in_schema[0] ?? ''))) continue;
      const where = `row group ${g} column "${meta.path_in_schema.join('.')}"`;
      const bad = (what: string) => new AutoRoundError('E_DATASET_FILE', `${path} is not a readable Parquet file: ${where}: ${what} (damaged file?)`, { subject: path });
      const start = Number(meta.dictionary_page_offset || meta.data_page_offset);
      const end = start + Number(meta.total_compressed_size);
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start || end > file.byteLength) {
        throw bad(`its bytes ${start}…${end} are not inside the ${file.byteLength}-byte file`);
      }
      // a negative count made this walk skip every page (found by the 100k-input fuzz run)
      if (!isCount(meta.num_values)) throw bad(`its value count ${String(meta.num_values)} is not a count`);
      const buf = await file.slice(start, end);
      const reader = { view: new DataView(buf), offset: 0 };
      let values = 0;
      while (reader.offset < buf.byteLength) {
        const at = start + reader.offset;
        let h: ReturnType<typeof parquetHeader>;
        try {
          h = parquetHeader(reader);
        } catch (e) {
          if (values >= Number(meta.num_values)) break; // bytes after the last page the chunk holds are not read
          throw bad(`the page header at byte ${at} cannot be read (${(e as Error).message})`);
        }
        const size = count(h.compressed_page_size) as number;
        if (!isCount(h.compressed_page_size) || !isCount(h.uncompressed_page_size) || reader.offset + size > buf.byteLength) {
          throw bad(`the page at byte ${at} has sizes ${String(h.compressed_page_size)} / ${String(h.uncompressed_page_size)} that do not fit the column chunk`);
        }
        const v2 = h.data_page_header_v2;
        if (h.type === 'DATA_PAGE_V2') {
          const fields = v2 && [v2.num_values, v2.num_nulls, v2.num_rows, v2.definition_levels_byte_length, v2.repetition_levels_byte_length];
          if (!v2 || !fields!.every(isCount) || v2.num_nulls > v2.num_values || v2.definition_levels_byte_length + v2.repetition_levels_byte_length > size) {
            throw bad(`the data page at byte ${at} has a header with missing or inconsistent counts and level lengths`);
          }
          const maxDef = getMaxDefinitionLevel(getSchemaPath(metadata.schema, meta.path_in_schema));
          // hyparquet reads runs until it has num_values levels, past the declared length if need be
          const levels = new DataView(buf, reader.offset + v2.repetition_levels_byte_length, size - v2.repetition_levels_byte_length);
          if (maxDef > 0 && !levelRunsFit(levels, 32 - Math.clz32(maxDef), v2.num_values)) {
            throw bad(`the data page at byte ${at} has definition levels whose runs hold more than its ${v2.num_values} values`);
          }
          values += v2.num_values;
        } else if (h.type === 'DATA_PAGE') {
          if (!h.data_page_header || !isCount(h.data_page_header.num_values)) throw bad(`the data page at byte ${at} has no value count`);
          values += h.data_page_header.num_values;
        }
        reader.offset += size;
      }
    }
  }
}

/**
 * Whether the run headers of RLE / bit-packed hybrid levels stay within `n` values (bit-packed runs come in
 * eights). hyparquet writes each run into an array of n without a bound: a run of 400 million (found by the
 * 100k-input fuzz run) grew that array until V8 aborted the process.
 */
function levelRunsFit(v: DataView, width: number, n: number): boolean {
  let off = 0;
  let seen = 0;
  while (seen < n && off < v.byteLength) {
    let header = 0;
    for (let shift = 0; ; shift += 7) {
      if (off >= v.byteLength || shift > 28) return false;
      const b = v.getUint8(off++);
      header += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) break;
    }
    const count = header % 2 ? Math.floor(header / 2) * 8 : Math.floor(header / 2);
    if (count > n - seen + 7) return false;
    off += header % 2 ? (count * width) / 8 : Math.ceil(width / 8);
    seen += count;
  }
  return true;
}
