// Damaged Parquet files found by tools/fuzz: each must be an AutoRoundError naming the file, never a hang.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

/** readLocalFile in a child process, so that a decoder stuck in a loop fails the test instead of hanging it. */
function readInChild(file: string): { status: number | null; out: string } {
  const script = `import { readLocalFile } from '@autoround/calib-datasets';
try { const r = await readLocalFile(${JSON.stringify(file)}); console.log('rows', r.length); }
catch (e) { console.log(e.name + ': ' + e.message); }`;
  const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script], { cwd: join(import.meta.dirname, '..'), encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('damaged Parquet data pages', () => {
  it('a DATA_PAGE_V2 header that lost its repetition-level length is refused, not decoded forever', () => {
    const bytes = new Uint8Array(parquetWriteBuffer({ columnData: [{ name: 'text', data: ['Once upon a time.', 'second', 'third document', ''], type: 'STRING' as const }] }));
    // The page header at byte 4 (thrift compact) ends its data_page_header_v2 with 15 04
    // (definition_levels_byte_length 2) 15 00 (repetition_levels_byte_length 0) 00. Writing 0xf8 over the 04
    // turns the first length into a two-byte varint that swallows the second field's header: the page then
    // has no repetition-level length at all.
    const header = Buffer.from(bytes.subarray(4, 40)).toString('hex');
    const at = header.indexOf('5c1508150015081500150415000000');
    expect(at, header).toBeGreaterThan(0);
    bytes[4 + at / 2 + 10] = 0xf8;
    const file = join(work.dir, 'damaged.parquet');
    writeFileSync(file, bytes);
    const r = readInChild(file);
    expect(r.status, `timed out or crashed: ${r.out}`).toBe(0);
    expect(r.out).toContain(`AutoRoundError: ${file} is not a readable Parquet file: row group 0 column "text": the data page at byte 4 has a header with missing or inconsistent counts and level lengths`);
  });

  it('a column chunk whose value count is negative is refused, not skipped and decoded forever', () => {
    // found by the 100k-input fuzz run: num_values -5 in the footer, and a page header whose num_nulls is a
    // double and whose row count and level lengths are gone
    const file = join(work.dir, 'negative-count.parquet');
    writeFileSync(
      file,
      Buffer.from(
        '5041a93115061580021586025c1508170015081500150415000000030f7ef07d5a0000004f6e63652075706f6e20612074696d65207468657265207761732061206c6974746c6520636c6f636b2e0a4974207469636b65642e0a0a54686520656e642c206e61c3af766520636166c3a920e69db1e4baac20f09f98802e0a060000007365636f6e640e000000746869726420646f63756d656e74000000001504192c4804726f6f74150200150c25021804746578742500001608191c191c26081c150c191500191804746578741502160916ae0216b40226083c3600280e746869726420646f63756d656e74180000191c15061500150200000016ae02160836b402002809687970617271756574191c1c0000007600000050415231',
        'hex',
      ),
    );
    const r = readInChild(file);
    expect(r.status, `timed out or crashed: ${r.out}`).toBe(0);
    expect(r.out).toContain(`AutoRoundError: ${file} is not a readable Parquet file: row group 0 column "text": its value count -5 is not a count`);
  });

  it('definition levels with a run of 400 million in a page of 4 values are refused, not decoded until V8 aborts', () => {
    // found by the 100k-input fuzz run: f4 90 80 80 inserted at the start of the page's levels
    const bytes = new Uint8Array(parquetWriteBuffer({ columnData: [{ name: 'text', data: ['Once upon a time.', 'second', 'third document', ''], type: 'STRING' as const }] }));
    const header = Buffer.from(bytes.subarray(4, 40)).toString('hex');
    const end = header.indexOf('5c1508150015081500150415000000') / 2 + 4 + 15; // the page header's last byte + 1
    expect(end, header).toBeGreaterThan(19);
    const file = join(work.dir, 'long-run.parquet');
    writeFileSync(file, Buffer.concat([bytes.subarray(0, end), Uint8Array.from([0xf4, 0x90, 0x80, 0x80]), bytes.subarray(end)]));
    const r = readInChild(file);
    expect(r.status, `timed out or crashed: ${r.out}`).toBe(0);
    expect(r.out).toContain(`AutoRoundError: ${file} is not a readable Parquet file: row group 0 column "text": the data page at byte 4 has definition levels whose runs hold more than its 4 values`);
  });

  it('the same file undamaged still reads', () => {
    const file = join(work.dir, 'fine.parquet');
    writeFileSync(file, new Uint8Array(parquetWriteBuffer({ columnData: [{ name: 'text', data: ['Once upon a time.', 'second'], type: 'STRING' as const }] })));
    expect(readInChild(file).out).toContain('rows 2');
  });
});
