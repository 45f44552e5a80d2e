// The multiple-choice knapsack AutoScheme solves (docs/autoscheme.md#knapsack): one choice per unit, the
// sum of costs within the budget, the sum of losses smallest. Dynamic programming over the cumulative
// cost, keeping after each unit only the Pareto front (no state is both dearer and no better), which is
// exact: a dominated state can never become part of a better solution than its dominator.

import { AutoRoundError } from '@autoround/core-tensor';

export interface Choice {
  /** Integer cost (bits). */
  readonly cost: number;
  /** Estimated loss increase; non-negative. */
  readonly loss: number;
}

export interface KnapsackResult {
  /** The choice index of every unit. */
  readonly picks: number[];
  readonly cost: number;
  readonly loss: number;
  /** The largest Pareto front held (for the note's time and memory figures). */
  readonly maxStates: number;
}

interface State {
  cost: number;
  loss: number;
  /** Index of the previous unit's state, and the choice taken for this unit. */
  prev: number;
  pick: number;
}

/**
 * The choices (one per unit) of least total loss whose total cost is at most `budget`; among equal
 * losses the cheaper. Throws when even the cheapest choices exceed the budget.
 */
export function solveKnapsack(units: readonly (readonly Choice[])[], budget: number): KnapsackResult {
  const fronts: State[][] = [];
  let front: State[] = [{ cost: 0, loss: 0, prev: -1, pick: -1 }];
  let maxStates = 1;
  // the cheapest cost of the units still to come, so that states that cannot finish within the budget go early
  const rest = new Array<number>(units.length + 1).fill(0);
  for (let u = units.length - 1; u >= 0; u--) rest[u] = rest[u + 1]! + Math.min(...units[u]!.map((c) => c.cost));
  for (let u = 0; u < units.length; u++) {
    const choices = units[u]!;
    if (choices.length === 0) throw new AutoRoundError('E_UNSUPPORTED', `knapsack unit ${u} has no choice`);
    const next: State[] = [];
    front.forEach((s, i) => {
      choices.forEach((c, k) => {
        const cost = s.cost + c.cost;
        if (cost + rest[u + 1]! <= budget) next.push({ cost, loss: s.loss + c.loss, prev: i, pick: k });
      });
    });
    // Pareto front: by cost, then loss; keep a state only when it is strictly better than every cheaper one
    next.sort((a, b) => a.cost - b.cost || a.loss - b.loss);
    const kept: State[] = [];
    for (const s of next) if (kept.length === 0 || s.loss < kept[kept.length - 1]!.loss) kept.push(s);
    if (kept.length === 0) throw new AutoRoundError('E_BAD_FLAG', `no choice of the units fits the budget of ${budget} bits`, { subject: '--avg_bits' });
    fronts.push(kept);
    front = kept;
    maxStates = Math.max(maxStates, kept.length);
  }
  // the front's last state has the least loss (losses fall as cost rises); the first of that loss is the cheapest
  let best = front.length - 1;
  const picks = new Array<number>(units.length).fill(0);
  const end = front[best]!;
  for (let u = units.length - 1; u >= 0; u--) {
    const s = fronts[u]![best]!;
    picks[u] = s.pick;
    best = s.prev;
  }
  return { picks, cost: end.cost, loss: end.loss, maxStates };
}
