#!/usr/bin/env node
// Creates packages/<name> with the conventions every @autoround package follows.
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const [name, ...deps] = process.argv.slice(2);
if (!name) {
  console.error('usage: node tools/scaffold/new-package.mjs <name> [dep ...]');
  process.exit(2);
}
const dir = join('packages', name);
if (existsSync(dir)) {
  console.error(`${dir} exists`);
  process.exit(1);
}
mkdirSync(join(dir, 'src'), { recursive: true });
mkdirSync(join(dir, 'test'), { recursive: true });
const pkg = {
  name: `@autoround/${name}`,
  version: '0.1.0',
  description: '',
  license: 'Apache-2.0',
  type: 'module',
  main: './dist/index.js',
  types: './dist/index.d.ts',
  exports: {
    '.': { source: './src/index.ts', types: './dist/index.d.ts', import: './dist/index.js' },
    './package.json': './package.json',
  },
  files: ['dist', 'README.md'],
  scripts: {
    build: 'tsup',
    typecheck: 'tsc -p tsconfig.json',
  },
  autoround: { plugin: true },
  dependencies: Object.fromEntries(deps.map((d) => [`@autoround/${d}`, '*'])),
};
writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
writeFileSync(
  join(dir, 'tsconfig.json'),
  JSON.stringify({ extends: '../../tsconfig.base.json', compilerOptions: { noEmit: true }, include: ['src', 'test'] }, null, 2) + '\n',
);
writeFileSync(
  join(dir, 'tsup.config.ts'),
  `import { packageConfig } from '../../tsup.base';\n\nexport default packageConfig();\n`,
);
writeFileSync(join(dir, 'src', 'index.ts'), `export {};\n`);
writeFileSync(join(dir, 'README.md'), `# @autoround/${name}\n`);
console.log(`created ${dir}`);
