// Units of the knapsack (docs/autoscheme.md#units): each planned layer alone, except layers that must share a
// scheme: within one block, the layers a --shared_layers group names, and all routed experts of the block.

import type { ModelSpec } from '@autoround/core';

export interface Unit {
  /** What the table calls it: the layer, or "<block prefix>.{a,b}" for a group. */
  readonly name: string;
  readonly layers: readonly string[];
}

function matches(name: string, pattern: string): boolean {
  if (name === pattern || name.includes(pattern)) return true;
  try {
    return new RegExp(pattern).test(name);
  } catch {
    return false;
  }
}

const EXPERT = /\.experts\.\d+\./;

/** Groups `layers` (full names, in the spec's order) into units. */
export function unitsOf(spec: ModelSpec, layers: readonly string[], shared: readonly (readonly string[])[] = []): Unit[] {
  const blockOf = (name: string) => spec.blocks.find((b) => name.startsWith(b.prefix + '.'));
  const groups = new Map<string, string[]>();
  const order: string[] = [];
  for (const name of layers) {
    const b = blockOf(name);
    let key = name;
    if (b) {
      const local = name.slice(b.prefix.length + 1);
      const g = shared.findIndex((patterns) => patterns.some((p) => matches(local, p) || matches(name, p)));
      if (g >= 0) key = `${b.prefix}#shared${g}`;
      else if (EXPERT.test(name)) key = `${b.prefix}#experts`;
    }
    if (!groups.has(key)) (groups.set(key, []), order.push(key));
    groups.get(key)!.push(name);
  }
  return order.map((key) => {
    const ls = groups.get(key)!;
    if (ls.length === 1) return { name: ls[0]!, layers: ls };
    const b = blockOf(ls[0]!)!;
    return { name: `${b.prefix}.{${ls.map((l) => l.slice(b.prefix.length + 1)).join(',')}}`, layers: ls };
  });
}
