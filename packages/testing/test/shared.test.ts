// Issue #13 item 16: a fresh clone has no ../shared, and every suite must then skip with a reason instead of
// failing. .ci/run checks that by running the suite with AUTOROUND_SHARED pointing at a missing folder, which
// only works if every test finds the fixtures through @autoround/testing (packages/testing/src/fixtures.ts): this test fails on any other way.
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HAS_SHARED, NO_SHARED_REASON, REPO_ROOT } from '../src/fixtures.js';

/** Every .ts file under dir, skipping node_modules and build output. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** The test sources: every package's and example's test folder, the shared helpers, and tools/' tests. */
function testSources(): string[] {
  const files: string[] = [];
  for (const top of ['packages', 'examples']) {
    for (const e of readdirSync(join(REPO_ROOT, top), { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      try {
        files.push(...tsFiles(join(REPO_ROOT, top, e.name, 'test')));
      } catch {
        // no test folder
      }
    }
  }
  // the shared helpers (@autoround/testing's sources) and tools/' tests
  files.push(...tsFiles(join(REPO_ROOT, 'packages', 'testing', 'src')));
  files.push(...tsFiles(join(REPO_ROOT, 'tools')).filter((f) => f.endsWith('.test.ts') || f.includes(`${join('tools', 'testing')}`)));
  return files;
}

// A string literal that is a path to ../shared ('../shared', "../../shared/models") or the bare folder name
// joined by hand (join(root, '..', 'shared')).
const SHARED_PATH = /['"`](?:\.\.\/)+shared(?:[/'"`])|['"`]shared['"`]/;

describe('tests find ../shared only through @autoround/testing (packages/testing/src/fixtures.ts)', () => {
  it('no other test source builds a path to it', () => {
    // fixtures.ts defines the path; this file only names it in its own examples below
    const allowed = new Set([join(REPO_ROOT, 'packages/testing/src/fixtures.ts'), join(REPO_ROOT, 'packages/testing/test/shared.test.ts')]);
    const offenders: string[] = [];
    for (const f of testSources()) {
      if (allowed.has(f)) continue;
      readFileSync(f, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (!/^\s*(\/\/|\*)/.test(line) && SHARED_PATH.test(line)) offenders.push(`${relative(REPO_ROOT, f)}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(offenders, 'use SHARED / STORIES / LLAMA256 / TINYSTORIES / HAS_SHARED from @autoround/testing').toEqual([]);
  });

  it('the scan sees the test sources (it is not vacuous)', () => {
    const files = testSources().map((f) => relative(REPO_ROOT, f));
    expect(files).toContain(join('packages', 'models', 'test', 'fast-bpe.test.ts'));
    expect(files).toContain(join('packages', 'calib-datasets', 'test', 'helpers.ts'));
    expect(files).toContain(join('packages', 'testing', 'src', 'pair.ts'));
    expect(SHARED_PATH.test("const s = resolve(here, '../../..', '../shared');")).toBe(true);
    expect(SHARED_PATH.test("join(root, '..', 'shared')")).toBe(true);
    expect(SHARED_PATH.test("join(SHARED, 'datasets/x.txt')")).toBe(false);
  });

  it.skipIf(HAS_SHARED)('says why the fixture suites are skipped', () => {
    console.warn(`suites that ${NO_SHARED_REASON} are skipped (clone the fixtures beside the repository to run them)`);
  });
});
