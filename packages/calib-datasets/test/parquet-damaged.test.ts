// Damaged Parquet files found by tools/fuzz: each must be an AutoRoundError naming the file, never a hang.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { tempDir } from '../../../tools/testing/fixtures.js';

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

  it('the same file undamaged still reads', () => {
    const file = join(work.dir, 'fine.parquet');
    writeFileSync(file, new Uint8Array(parquetWriteBuffer({ columnData: [{ name: 'text', data: ['Once upon a time.', 'second'], type: 'STRING' as const }] })));
    expect(readInChild(file).out).toContain('rows 2');
  });
});
