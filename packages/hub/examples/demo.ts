// Run from the repository root: node --conditions=source --import tsx packages/hub/examples/demo.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveModel } from '@autoround/hub';
import { FakeHub } from '@autoround/hub/testing';

const hub = new FakeHub([{ id: 'demo/tiny', files: { 'config.json': '{"model_type":"llama"}', 'model.safetensors': new Uint8Array(1000) } }]);
await hub.start();
const cache = mkdtempSync(join(tmpdir(), 'hub-demo-'));
const env = { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: cache };
console.log('downloaded:', await resolveModel('demo/tiny', { env }));
await hub.stop();
console.log('offline:   ', await resolveModel('demo/tiny', { env, offline: true }));
rmSync(cache, { recursive: true });
