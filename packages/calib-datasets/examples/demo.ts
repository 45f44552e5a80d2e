// Run from the repository root: node --conditions=source --import tsx packages/calib-datasets/examples/demo.ts
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@autoround/core';
import { loadCalibration, type CalibTokenizer } from '@autoround/calib-datasets';

// Any tokenizer with this shape works; a character-level one keeps the demo self-contained.
const tokenizer: CalibTokenizer = {
  encode: (text, opts) => [...(opts?.addSpecialTokens === false ? [] : [1]), ...[...text].map((c) => 3 + (c.codePointAt(0)! % 500))],
  bosTokenId: 1,
  eosTokenId: 2,
};

const dir = mkdtempSync(join(tmpdir(), 'calib-demo-'));
const stories = Array.from({ length: 20 }, (_, i) => `Story ${i}: once upon a time a little fox found ${i} shiny stones by the river.`);
writeFileSync(join(dir, 'stories.jsonl'), stories.map((text) => JSON.stringify({ text })).join('\n'));
writeFileSync(join(dir, 'notes.txt'), stories.slice(0, 6).join('\n\n'));

const log = createLogger('info');
const a = await loadCalibration(join(dir, 'stories.jsonl'), tokenizer, { nsamples: 4, seqlen: 32, seed: 42, log });
console.log('jsonl:', a.length, 'samples of', a[0]!.length, 'tokens');
const b = await loadCalibration(`${join(dir, 'stories.jsonl')}:num=3,${join(dir, 'notes.txt')}:concat`, tokenizer, { nsamples: 8, seqlen: 64, seed: 42, log });
console.log('mixed:', b.length, 'samples of', b[0]!.length, 'tokens');
rmSync(dir, { recursive: true });
