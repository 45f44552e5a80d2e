// The README's example runs as written: its ```ts block is run by node (with tsx, on the sources) from this package's folder.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');

describe('README', () => {
  it('the example prints what its comments say', () => {
    const readme = readFileSync(join(pkg, 'README.md'), 'utf8');
    const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(code, 'README has a ```ts block').toBeTruthy();
    const out = execFileSync(process.execPath, ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', code!], { cwd: pkg, encoding: 'utf8' });
    const [first, second] = out.trim().split('\n');
    expect(first).toBe('Q4_K 256 144 4.5 32');
    const [bytes, err] = second!.split(' ').map(Number);
    expect(bytes).toBe(144);
    expect(err).toBeGreaterThan(0);
    expect(err).toBeLessThan(0.01);
  });
});
