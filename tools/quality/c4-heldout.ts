// The C4 sample records that no quality run reads (issue #17, docs/autoscheme.md#c4-heldout): the calibration
// data's domain, unseen text. SignRound calibrates on 128 samples of 256 tokens (seed 42), each the first 256
// tokens of one record, and AutoScheme scores on the first 16 of them; every other record is held out.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadCalibration, type CalibTokenizer } from '@autoround/calib-datasets';

export const C4_SAMPLE = join(resolve(import.meta.dirname, '../../../shared'), 'datasets/calibration/c4_sample_1480.text.jsonl');

export interface HeldoutRecord {
  text: string;
  /** The record's tokens as the calibration loader encodes them (BOS first when the tokenizer adds one). */
  ids: number[];
}

/** The records of the C4 sample, in file order, less those whose first `seqlen` tokens are a calibration sample. */
export async function c4HeldoutRecords(tok: CalibTokenizer, calib: { nsamples: number; seqlen: number; seed: number } = { nsamples: 128, seqlen: 256, seed: 42 }): Promise<HeldoutRecord[]> {
  const seen = new Set((await loadCalibration(C4_SAMPLE, tok, calib)).map((s) => s.join(',')));
  const out: HeldoutRecord[] = [];
  let found = 0;
  for (const line of readFileSync(C4_SAMPLE, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const text = (JSON.parse(line) as { text: string }).text;
    const ids = tok.encode(text);
    if (ids.length >= calib.seqlen && seen.has(ids.slice(0, calib.seqlen).join(','))) found++;
    else out.push({ text, ids });
  }
  // every calibration sample must be found among the records (else the samples are cut differently and nothing is held out)
  if (found !== seen.size) throw new Error(`c4-heldout: ${seen.size} calibration samples, ${found} records start with one`);
  return out;
}
