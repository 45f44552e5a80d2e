import { readFileSync } from 'node:fs';
import { AutoRoundError } from './errors.js';

/**
 * Why `bytes` are not UTF-8 text but UTF-16, or undefined: a UTF-16 byte-order mark (FF FE, FE FF),
 * or NUL bytes in one of every two positions of the first 64 KiB (UTF-16 without a mark, as some
 * editors write it). Read as UTF-8 such a file turns into NUL-riddled text that tokenizes to nonsense.
 */
export function utf16Reason(bytes: Uint8Array): string | undefined {
  if (bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe) return 'UTF-16 little-endian (byte-order mark FF FE)';
  if (bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff) return 'UTF-16 big-endian (byte-order mark FE FF)';
  const n = Math.min(bytes.length, 65536) & ~1;
  if (n < 4) return undefined;
  let even = 0;
  let odd = 0;
  for (let i = 0; i < n; i += 2) {
    if (bytes[i] === 0) even++;
    if (bytes[i + 1] === 0) odd++;
  }
  // ASCII-range text in UTF-16 has a NUL in nearly every other byte; UTF-8 text has none
  const half = n / 2;
  if (odd > half * 0.3 && even < half * 0.05) return 'UTF-16 little-endian (no byte-order mark; NUL bytes between the characters)';
  if (even > half * 0.3 && odd < half * 0.05) return 'UTF-16 big-endian (no byte-order mark; NUL bytes between the characters)';
  return undefined;
}

/** Bytes of a text file as a string (a UTF-8 byte-order mark kept, as readFileSync(…, 'utf8') keeps it); a UTF-16 file is an error naming it. */
export function decodeUtf8Text(bytes: Uint8Array, path: string): string {
  const why = utf16Reason(bytes);
  if (why) throw new AutoRoundError('E_TEXT_ENCODING', `file ${path} is UTF-16 (${why}); convert it to UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)`, { subject: path });
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

/** readFileSync(path, 'utf8') for text inputs (datasets, evaluation texts), refusing UTF-16 files by name. */
export function readUtf8Text(path: string): string {
  return decodeUtf8Text(readFileSync(path), path);
}
