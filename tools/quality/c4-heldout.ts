// The C4 sample records that no quality run reads (issue #17, docs/autoscheme.md#c4-heldout): the calibration
// data's domain, unseen text. A run calibrates on the first 256 tokens of records drawn with its seed (SignRound:
// 128 of them; AutoScheme scores on 16 drawn the same way); every record that no given draw takes is held out.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadCalibration, type CalibTokenizer } from '@autoround/calib-datasets';

export const C4_SAMPLE = join(resolve(import.meta.dirname, '../../../shared'), 'datasets/calibration/c4_sample_1480.text.jsonl');

export interface C4Record {
  text: string;
  /** The record's tokens as the calibration loader encodes them (BOS first when the tokenizer adds one). */
  ids: number[];
}

/** One calibration draw: loadCalibration's samples for these options. */
export interface CalibrationDraw {
  nsamples: number;
  seqlen: number;
  seed: number;
}

/** Every record of the C4 sample, in file order, with its tokens. */
export function c4Records(tok: CalibTokenizer): C4Record[] {
  return readFileSync(C4_SAMPLE, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => {
      const text = (JSON.parse(line) as { text: string }).text;
      return { text, ids: tok.encode(text) };
    });
}

/** The records of the C4 sample, in file order, less those whose first tokens are a sample of any of the draws. */
export async function c4HeldoutRecords(tok: CalibTokenizer, draws: readonly CalibrationDraw[] = [{ nsamples: 128, seqlen: 256, seed: 42 }]): Promise<C4Record[]> {
  const key = (ids: ArrayLike<number>) => `${ids.length}:${Array.from(ids).join(',')}`;
  const seen = new Set<string>();
  for (const d of draws) for (const s of await loadCalibration(C4_SAMPLE, tok, d)) seen.add(key(s));
  const lengths = [...new Set(draws.map((d) => d.seqlen))];
  const out: C4Record[] = [];
  const found = new Set<string>();
  for (const r of c4Records(tok)) {
    const hit = lengths.map((n) => key(r.ids.slice(0, n))).find((k) => seen.has(k));
    if (hit) found.add(hit);
    else out.push(r);
  }
  // every calibration sample must be found among the records (else the samples are cut differently and nothing is held out)
  if (found.size !== seen.size) throw new Error(`c4-heldout: ${seen.size} calibration samples, ${found.size} found at the start of a record`);
  return out;
}
