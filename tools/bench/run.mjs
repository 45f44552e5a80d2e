#!/usr/bin/env node
// npm run bench -- NAME [args…]: runs tools/bench/NAME.bench.ts against the TypeScript sources.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [name, ...args] = process.argv.slice(2);
const available = readdirSync(here).filter((f) => f.endsWith('.bench.ts')).map((f) => f.replace(/\.bench\.ts$/, ''));
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- NAME [args]\navailable: ${available.join(', ')}`);
  process.exit(2);
}
const file = join(here, `${name}.bench.ts`);
if (!existsSync(file)) process.exit(2);
const r = spawnSync(process.execPath, ['--conditions=source', '--import', 'tsx', file, ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
