// Inputs found by tools/fuzz (npm run fuzz): each must be an AutoRoundError naming the file, not a TypeError.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Checkpoint, isAutoRoundError } from '../src/index.js';
import { tempDir, thrown } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

describe('model.safetensors.index.json', () => {
  for (const [name, value] of [
    ['null', null],
    ['number', 0],
    ['empty', ''],
    ['list', ['model.safetensors']],
  ] as const) {
    it(`a weight_map value that is ${name} is refused, naming the index and the tensor`, () => {
      const dir = join(work.dir, name);
      mkdirSync(dir);
      const index = join(dir, 'model.safetensors.index.json');
      writeFileSync(index, JSON.stringify({ metadata: {}, weight_map: { 'lm_head.weight': value } }));
      const e = thrown(() => Checkpoint.open(dir));
      expect(isAutoRoundError(e), String(e)).toBe(true);
      expect(e.message).toBe(`${index}: weight_map["lm_head.weight"] is ${JSON.stringify(value)}, expected the file name of a shard in ${dir}`);
    });
  }

  it('a weight_map that is a list is no weight_map', () => {
    const dir = join(work.dir, 'array-map');
    mkdirSync(dir);
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: [null] }));
    expect(thrown(() => Checkpoint.open(dir)).message).toMatch(/no "weight_map" object/);
  });
});
