import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { DEMO_TEXT, writeDemoModel } from '@autoround/autoround';

/** The one-block demo model the CLI tests corrupt in many ways (small enough to write in milliseconds). */
export const SMALL_DEMO = { hidden: 64, intermediate: 96, layers: 1, heads: 2, kvHeads: 1 } as const;

/**
 * Writes the small demo model (or one of another shape) to `dir`/demo and the demo text to `dir`/eval.txt;
 * `variant` copies the model beside it and applies an edit.
 */
export function demoModel(
  dir: string,
  shape: Parameters<typeof writeDemoModel>[1] = SMALL_DEMO,
): { demo: string; text: string; variant: (name: string, edit: (modelDir: string) => void) => string } {
  const demo = join(dir, 'demo');
  writeDemoModel(demo, shape);
  const text = join(dir, 'eval.txt');
  writeFileSync(text, DEMO_TEXT);
  return {
    demo,
    text,
    variant(name, edit) {
      const d = join(dir, name);
      cpSync(demo, d, { recursive: true });
      edit(d);
      return d;
    },
  };
}
