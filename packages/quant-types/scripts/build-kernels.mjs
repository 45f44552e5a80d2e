#!/usr/bin/env node
// Assembles src/quants/kernels.wat into src/quants/kernels.wasm.ts (base64), with wabt from npm.
// wabt is needed only when the .wat changes: `npm install --no-save wabt@1.0.39` first.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let wabtInit;
try {
  ({ default: wabtInit } = await import('wabt'));
} catch {
  console.error('build-kernels: wabt is not installed; run `npm install --no-save wabt@1.0.39` first');
  process.exit(1);
}

const dir = join(dirname(fileURLToPath(import.meta.url)), '../src/quants');
const wabt = await wabtInit();
const mod = wabt.parseWat('kernels.wat', readFileSync(join(dir, 'kernels.wat'), 'utf8'), { bulk_memory: true, sat_float_to_int: true });
mod.validate();
const { buffer } = mod.toBinary({});
const b64 = Buffer.from(buffer).toString('base64');
writeFileSync(
  join(dir, 'kernels.wasm.ts'),
  `// Generated from kernels.wat by scripts/build-kernels.mjs — do not edit.\nexport const KERNELS_WASM_BASE64 =\n  '${b64}';\n`,
);
console.log(`kernels.wasm: ${buffer.length} bytes`);
