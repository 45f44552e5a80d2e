import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { writeDemoModel } from '@autoround/autoround';

/** The one-block demo model the CLI tests corrupt in many ways (small enough to write in milliseconds). */
export const SMALL_DEMO = { hidden: 64, intermediate: 96, layers: 1, heads: 2, kvHeads: 1 } as const;

/** Writes the small demo model to `dir`/demo; `variant` copies it beside it and applies an edit. */
export function demoModel(dir: string): { demo: string; variant: (name: string, edit: (modelDir: string) => void) => string } {
  const demo = join(dir, 'demo');
  writeDemoModel(demo, SMALL_DEMO);
  return {
    demo,
    variant(name, edit) {
      const d = join(dir, name);
      cpSync(demo, d, { recursive: true });
      edit(d);
      return d;
    },
  };
}
