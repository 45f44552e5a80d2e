// Issue #13 item 15: a UTF-16 calibration file is named as such (read as UTF-8 it became NUL-riddled
// text, or "not valid JSON"), for every text format --dataset reads.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { utf16Reason } from '@autoround/core-tensor';
import { loadCalibration } from '../src/index.js';
import { tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

// one token per character: enough for the loader, and no tokenizer fixture needed
const tokenizer = { encode: (t: string) => Array.from(t, (c) => c.charCodeAt(0) % 300) };
const TEXT = 'Once upon a time there was a clock that never stopped ticking.\n\nThe end of the story came much later.';

describe('--dataset files in UTF-16', () => {
  const cases: [string, Buffer][] = [
    ['le-bom.txt', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(TEXT, 'utf16le')])],
    ['be-bom.txt', Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from(TEXT, 'utf16le').swap16()])],
    ['le.jsonl', Buffer.from(`${JSON.stringify({ text: TEXT })}\n`, 'utf16le')],
    ['be.json', Buffer.from(JSON.stringify([TEXT]), 'utf16le').swap16()],
  ];
  for (const [name, bytes] of cases) {
    it(`${name}: "file … is UTF-16; convert it to UTF-8"`, async () => {
      const f = join(work.dir, name);
      writeFileSync(f, bytes);
      await expect(loadCalibration(f, tokenizer, { nsamples: 1, seqlen: 8 })).rejects.toThrow(new RegExp(`file ${f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is UTF-16 \\(.*\\); convert it to UTF-8`));
    });
  }

  it('UTF-8 files (with a UTF-8 byte-order mark, or non-ASCII text) are read as before', async () => {
    const f = join(work.dir, 'utf8.txt');
    writeFileSync(f, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`${TEXT} Ça va? 日本語のテキスト。`, 'utf8')]));
    const s = await loadCalibration(f, tokenizer, { nsamples: 1, seqlen: 8 });
    expect(s.length).toBe(1);
    expect(utf16Reason(Buffer.from('日本語のテキスト。中文文本。', 'utf8'))).toBeUndefined();
    expect(utf16Reason(Buffer.from('plain ascii', 'utf8'))).toBeUndefined();
  });
});
