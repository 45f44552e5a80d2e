import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AutoRound, findPlugins, silentLogger, writeDemoModel } from '@autoround/autoround';
import plugin from '../src/index.js';
import { REPO_ROOT, tempDir } from '@autoround/testing';

const work = tempDir();
afterAll(() => work.cleanup());

describe('third-party exporter plugin', () => {
  it('is discovered from node_modules by its package.json marker', () => {
    const found = findPlugins([REPO_ROOT]);
    expect(found.map((f) => f.name)).toContain('autoround-plugin-report');
  });

  it('plugs into the pipeline and writes its report', async () => {
    const model = join(work.dir, 'm');
    writeDemoModel(model, { hidden: 64, intermediate: 96, layers: 1, heads: 2, kvHeads: 1 });
    const ar = new AutoRound(model, { bits: 2, groupSize: 32, iters: 0, disableOptRtn: true, log: silentLogger, discoverPlugins: false, plugins: [plugin] });
    await ar.quantizeAndSave(join(work.dir, 'out'), { format: 'report' });
    const report = JSON.parse(readFileSync(join(work.dir, 'out', 'report.json'), 'utf8'));
    expect(report.layers).toHaveLength(7);
    expect(report.layers[0].relError).toBeGreaterThan(0.05); // 2-bit loses a lot
    expect(report.layers[0].relError).toBeGreaterThanOrEqual(report.layers[6].relError);
  });
});
