// Paired comparison of two models on the same documents (`--log_samples` files; docs/eval/tasks.md#paired).
// Two models scored on the same tasks differ mostly on the documents both get wrong or both get right: the
// per-document difference has a much smaller spread than either accuracy, so its standard error separates two
// models that the unpaired ± of each accuracy cannot.
import { AutoRoundError, type TaskSample } from '@autoround/core';

export interface PairedDifference {
  readonly task: string;
  readonly metric: string;
  /** Documents present in both files. */
  readonly n: number;
  /** Mean of b − a (the accuracy difference). */
  readonly diff: number;
  /** Standard error of that mean: the sample standard deviation of the per-document differences over √n. */
  readonly stderr: number | undefined;
  /** Documents only b gets right, and only a gets right (McNemar's discordant pairs). */
  readonly bOnly: number;
  readonly aOnly: number;
  /** Two-sided exact McNemar p-value: the binomial(bOnly + aOnly, ½) tail of the smaller count, doubled (≤ 1). */
  readonly pValue: number;
}

/** P(X ≤ k) for X ~ Binomial(n, ½), summed in log space so that large n neither overflows nor underflows. */
export function binomialHalfCdf(k: number, n: number): number {
  if (k < 0) return 0;
  if (k >= n) return 1;
  let s = 0;
  let lc = 0; // ln C(n, 0)
  for (let i = 0; i <= k; i++) {
    if (i > 0) lc += Math.log(n - i + 1) - Math.log(i);
    s += Math.exp(lc - n * Math.LN2);
  }
  return Math.min(1, s);
}

/** Per task and metric, b − a over the documents both files scored (matched by task and doc_id). */
export function pairedDifferences(a: readonly TaskSample[], b: readonly TaskSample[]): PairedDifference[] {
  const key = (s: TaskSample) => `${s.task}\u0000${s.doc_id}`;
  const byKey = new Map(a.map((s) => [key(s), s]));
  const groups = new Map<string, { task: string; metric: string; d: number[]; bOnly: number; aOnly: number }>();
  for (const sb of b) {
    const sa = byKey.get(key(sb));
    if (!sa) continue;
    if (sa.target !== sb.target) throw new AutoRoundError('E_DATASET_RECORD', `${sb.task} document ${sb.doc_id}: the two files disagree on its gold choice (${sa.target} vs ${sb.target}): not the same documents`);
    for (const [metric, vb] of Object.entries(sb.metrics)) {
      const va = sa.metrics[metric];
      if (va === undefined) continue;
      const g = `${sb.task}\u0000${metric}`;
      if (!groups.has(g)) groups.set(g, { task: sb.task, metric, d: [], bOnly: 0, aOnly: 0 });
      const e = groups.get(g)!;
      e.d.push(vb - va);
      if (vb > va) e.bOnly++;
      else if (va > vb) e.aOnly++;
    }
  }
  return [...groups.values()].map(({ task, metric, d, bOnly, aOnly }) => {
    const n = d.length;
    const diff = d.reduce((s, x) => s + x, 0) / n;
    const stderr = n < 2 ? undefined : Math.sqrt(d.reduce((s, x) => s + (x - diff) * (x - diff), 0) / (n - 1) / n);
    const m = bOnly + aOnly;
    const pValue = m === 0 ? 1 : Math.min(1, 2 * binomialHalfCdf(Math.min(bOnly, aOnly), m));
    return { task, metric, n, diff, stderr, bOnly, aOnly, pValue };
  });
}

/** Reads a `--log_samples` file (one JSON sample per line); a malformed line names the file and line. */
export function parseSamples(text: string, where: string): TaskSample[] {
  const out: TaskSample[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new AutoRoundError('E_DATASET_RECORD', `${where}:${i + 1}: not a JSON line`, { subject: where });
    }
    const s = v as Partial<TaskSample>;
    for (const f of ['task', 'doc_id', 'target', 'scores', 'metrics'] as const) {
      if (s[f] === undefined) throw new AutoRoundError('E_DATASET_RECORD', `${where}:${i + 1}: field "${f}" is missing (a --log_samples line has task, doc_id, target, scores, metrics)`, { subject: f });
    }
    out.push(s as TaskSample);
  });
  return out;
}
