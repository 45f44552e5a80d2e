import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { definePlugin, memoryLogger } from '@autoround/core';
import { createRegistry, findNamedPlugins, findPlugins } from '../src/index.js';
import { tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

/** Writes node_modules/<name> under `dir`: a package.json (a plugin marker unless `plugin` is false) and an index.js. */
function installed(dir: string, name: string, plugin = true, algorithm = 'rtn'): void {
  const pkg = join(dir, 'node_modules', name);
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name, type: 'module', main: 'index.js', ...(plugin ? { autoround: { plugin: true } } : {}) }));
  writeFileSync(
    join(pkg, 'index.js'),
    `export default { name: ${JSON.stringify(name)}, apiVersion: 1, algorithms: [{ name: ${JSON.stringify(algorithm)}, description: ${JSON.stringify(`from ${name}`)}, needsCalibration: () => false, run: async () => {} }] };\n`,
  );
}

describe('plugin discovery and precedence (plugin contract v1)', () => {
  // outer/node_modules holds a plugin nobody declared; outer/project depends on one of its own
  const outer = join(work.dir, 'outer');
  const project = join(outer, 'project');
  mkdirSync(project, { recursive: true });
  installed(outer, 'autoround-plugin-stray', true, 'stray');
  installed(project, 'autoround-plugin-mine', true, 'rtn');
  installed(project, 'autoround-plugin-named', true, 'named');
  installed(project, 'left-pad-like', false);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'project', dependencies: { 'autoround-plugin-mine': '*', 'left-pad-like': '*' } }));

  it('finds only the plugins the nearest package.json depends on, not every node_modules up the tree', () => {
    mkdirSync(join(project, 'src'), { recursive: true });
    expect(findPlugins([join(project, 'src')]).map((f) => f.name)).toEqual(['autoround-plugin-mine']);
  });

  it('a discovered plugin wins over the built-in one of the same algorithm name, with a warning naming both', async () => {
    const log = memoryLogger();
    const r = await createRegistry({ roots: [project], log });
    expect(r.algorithm('rtn').description).toBe('from autoround-plugin-mine');
    expect(log.lines.join('\n')).toMatch(/algorithm "rtn" is provided by autoround-plugin-mine \(discovered\) and @autoround\/algo-rtn \(builtin\); using autoround-plugin-mine's/);
    expect(() => r.algorithm('stray')).toThrow(/unknown algorithm/);
  });

  it('a plugin the user passes wins over discovered and built-in ones (built-ins no longer overwrite it)', async () => {
    const log = memoryLogger();
    const mine = definePlugin({ name: 'user-rtn', algorithms: [{ name: 'rtn', description: 'user', needsCalibration: () => false, run: async () => {} }] });
    const r = await createRegistry({ plugins: [mine], roots: [project], log });
    expect(r.algorithm('rtn').description).toBe('user');
    expect(r.sourceOf('user-rtn')).toBe('explicit');
    expect(r.sourceOf('@autoround/algo-rtn')).toBe('builtin'); // the project does not depend on it
  });

  it('plugins named by package (--plugin) are loaded from the project; an unknown name is an error', async () => {
    const r = await createRegistry({ plugins: ['autoround-plugin-named'], roots: [project], discover: false, log: memoryLogger() });
    expect(r.algorithm('named').description).toBe('from autoround-plugin-named');
    expect(r.sourceOf('autoround-plugin-named')).toBe('explicit');
    expect(() => findNamedPlugins(['autoround-plugin-nowhere'], [project])).toThrow(/plugin autoround-plugin-nowhere \(--plugin\) is not installed/);
  });
});
