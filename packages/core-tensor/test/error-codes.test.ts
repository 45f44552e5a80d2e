// Issue #14: error codes are one union (src/error-codes.ts). The type checker rejects a code that is not
// in the table; this test rejects a table entry that no source throws any more, so the table stays the list of
// what a caller can actually meet.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../src/index.js';
import { REPO_ROOT } from '@autoround/testing';

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name === 'test') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('error-codes.ts')) out.push(p);
  }
  return out;
}

describe('error codes', () => {
  it('every code of the table is thrown somewhere', () => {
    const text = ['packages', 'examples'].flatMap((d) => sources(join(REPO_ROOT, d))).map((f) => readFileSync(f, 'utf8')).join('\n');
    expect(Object.keys(ERROR_CODES).filter((c) => !text.includes(`'${c}'`))).toEqual([]);
  });

  it('codes are E_ and capitals, each with what the user has to fix', () => {
    for (const [code, what] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^E_[A-Z0-9_]+$/);
      expect(what.length).toBeGreaterThan(8);
    }
  });
});
