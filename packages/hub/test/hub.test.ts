import { existsSync, lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync, mkdirSync, truncateSync } from 'node:fs';
import { tmpdir, homedir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { memoryLogger } from '@autoround/core';
import { AutoRoundError } from '@autoround/core-tensor';
import {
  datasetSplitFiles,
  filterPaths,
  hfHubDownload,
  hubEnv,
  parquetListing,
  repoInfo,
  resolveModel,
  snapshotDownload,
  type HubOptions,
} from '../src/index.js';
import { FakeHub, gitBlobSha, sha256Hex } from '../src/testing.js';

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

const WEIGHTS = bytes(300_000, 7);

/** Deep equality on big arrays is slow in vitest; compare bytes directly. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}
const CONFIG = JSON.stringify({ architectures: ['LlamaForCausalLM'], hidden_size: 8 });
const TOKENIZER = JSON.stringify({ version: '1.0', model: { type: 'BPE', vocab: { a: 0 } } });

function makeHub(): FakeHub {
  return new FakeHub([
    {
      id: 'tiny-org/tiny-model',
      files: {
        'config.json': CONFIG,
        'model.safetensors': WEIGHTS,
        'tokenizer.json': TOKENIZER,
        'tokenizer_config.json': '{}',
        'README.md': '# tiny',
        'onnx/model.onnx': 'not wanted',
      },
    },
    { id: 'tiny-org/gated-model', gated: true, files: { 'config.json': CONFIG, 'model.safetensors': bytes(1000, 3) } },
    {
      id: 'tiny-org/tiny-data',
      type: 'dataset',
      files: {
        'README.md': '---\nlicense: mit\n---',
        'data/train-00000-of-00002.parquet': bytes(5000, 11),
        'data/train-00001-of-00002.parquet': bytes(6000, 12),
        'data/test-00000-of-00001.parquet': bytes(700, 13),
      },
    },
    {
      id: 'tiny-org/script-data',
      type: 'dataset',
      files: { 'README.md': 'x', 'script-data.py': 'print(1)' },
      revisions: { 'refs/convert/parquet': { 'default/train/0000.parquet': bytes(900, 21), 'default/validation/0000.parquet': bytes(400, 22) } },
    },
  ]);
}

describe('@autoround/hub against a local fake hub', () => {
  let hub: FakeHub;
  let cache: string;
  let opts: HubOptions;
  let log: ReturnType<typeof memoryLogger>;

  beforeEach(async () => {
    hub = makeHub();
    await hub.start();
    cache = mkdtempSync(join(tmpdir(), 'ar-hub-'));
    log = memoryLogger();
    opts = { env: { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: join(cache, 'hub'), HF_HOME: cache }, log, retryDelayMs: 5, progress: false };
  });
  afterEach(async () => {
    await hub.stop();
    rmSync(cache, { recursive: true, force: true });
  });

  it('downloads a snapshot into the Hugging Face cache layout and checks checksums', async () => {
    const dir = await snapshotDownload({ ...opts, repoId: 'tiny-org/tiny-model', allowPatterns: ['*.json', '*.safetensors'] });
    const commit = hub.commit('tiny-org/tiny-model');
    const repoDir = join(cache, 'hub', 'models--tiny-org--tiny-model');
    expect(dir).toBe(join(repoDir, 'snapshots', commit));
    expect(readFileSync(join(repoDir, 'refs', 'main'), 'utf8')).toBe(commit);
    expect(sameBytes(readFileSync(join(dir, 'model.safetensors')), WEIGHTS)).toBe(true);
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe(CONFIG);
    // LFS blob named by its sha256, regular file by its git blob sha1; snapshot entries are relative symlinks.
    const sha = sha256Hex(WEIGHTS);
    expect(existsSync(join(repoDir, 'blobs', sha))).toBe(true);
    expect(readlinkSync(join(dir, 'model.safetensors'))).toBe(`../../blobs/${sha}`);
    expect(lstatSync(join(dir, 'config.json')).isSymbolicLink()).toBe(true);
    expect(existsSync(join(repoDir, 'blobs', gitBlobSha(Buffer.from(CONFIG))))).toBe(true);
    expect(existsSync(join(dir, 'README.md'))).toBe(false);
    expect(existsSync(join(dir, 'onnx'))).toBe(false);
    // the LFS bytes came from the CDN redirect
    expect(hub.requests.some((r) => r.method === 'GET' && r.url === `/cdn/${sha}`)).toBe(true);
  });

  it('works from the cache with the server stopped, and with HF_HUB_OFFLINE=1', async () => {
    const first = await resolveModel('tiny-org/tiny-model', opts);
    expect(readFileSync(join(first, 'tokenizer.json'), 'utf8')).toBe(TOKENIZER);
    expect(existsSync(join(first, 'onnx'))).toBe(false);
    await hub.stop();
    const second = await resolveModel('tiny-org/tiny-model', opts);
    expect(second).toBe(first);
    expect(log.lines.some((l) => l.includes('using the cached'))).toBe(true);
    const offline = await resolveModel('tiny-org/tiny-model', { ...opts, env: { ...opts.env, HF_HUB_OFFLINE: '1' } });
    expect(offline).toBe(first);
    const file = await hfHubDownload({ ...opts, repoId: 'tiny-org/tiny-model', filename: 'config.json' });
    expect(readFileSync(file, 'utf8')).toBe(CONFIG);
  });

  it('says what to do when offline and nothing is cached', async () => {
    const err = await resolveModel('tiny-org/tiny-model', { ...opts, offline: true }).catch((e) => e);
    expect(err).toBeInstanceOf(AutoRoundError);
    expect(err.code).toBe('E_HUB_OFFLINE');
    expect(err.message).toMatch(/HF_HUB_OFFLINE is set.*model "tiny-org\/tiny-model".*not in the cache/);
    await hub.stop();
    const err2 = await snapshotDownload({ ...opts, repoId: 'tiny-org/tiny-model', retries: 0 }).catch((e) => e);
    expect(err2.code).toBe('E_HUB_NETWORK');
    expect(err2.message).toMatch(/cannot reach .*ECONNREFUSED.*not in the cache/);
  });

  it('resumes an interrupted download with an HTTP Range request (same call)', async () => {
    const sha = sha256Hex(WEIGHTS);
    hub.faults.push({ match: `/cdn/${sha}`, kind: 'cut', cutAt: 100_000 });
    const p = await hfHubDownload({ ...opts, repoId: 'tiny-org/tiny-model', filename: 'model.safetensors' });
    expect(sameBytes(readFileSync(p), WEIGHTS)).toBe(true);
    const gets = hub.requests.filter((r) => r.method === 'GET' && r.url === `/cdn/${sha}`);
    expect(gets.map((g) => g.range)).toEqual([undefined, 'bytes=100000-']);
    expect(log.lines.some((l) => l.includes('interrupted at'))).toBe(true);
  });

  it('keeps the .incomplete file when out of retries and resumes on the next run', async () => {
    const sha = sha256Hex(WEIGHTS);
    hub.faults.push({ match: `/cdn/${sha}`, kind: 'cut', cutAt: 120_000 });
    const err = await hfHubDownload({ ...opts, retries: 0, repoId: 'tiny-org/tiny-model', filename: 'model.safetensors' }).catch((e) => e);
    expect(err.code).toBe('E_HUB_NETWORK');
    expect(err.message).toMatch(/interrupted at .* run again to resume/);
    const partial = join(cache, 'hub', 'models--tiny-org--tiny-model', 'blobs', `${sha}.incomplete`);
    expect(statSync(partial).size).toBe(120_000);
    const p = await hfHubDownload({ ...opts, repoId: 'tiny-org/tiny-model', filename: 'model.safetensors' });
    expect(sameBytes(readFileSync(p), WEIGHTS)).toBe(true);
    expect(existsSync(partial)).toBe(false);
    expect(hub.requests.filter((r) => r.url === `/cdn/${sha}`).map((g) => g.range)).toEqual([undefined, 'bytes=120000-']);
  });

  it('detects a corrupted cached blob (same size or truncated) and fetches it again', async () => {
    const dir = await snapshotDownload({ ...opts, repoId: 'tiny-org/tiny-model', allowPatterns: '*.safetensors' });
    const blob = join(cache, 'hub', 'models--tiny-org--tiny-model', 'blobs', sha256Hex(WEIGHTS));
    const bad = Buffer.from(WEIGHTS);
    bad[1234]! ^= 0xff;
    writeFileSync(blob, bad);
    await snapshotDownload({ ...opts, repoId: 'tiny-org/tiny-model', allowPatterns: '*.safetensors' });
    expect(sameBytes(readFileSync(join(dir, 'model.safetensors')), WEIGHTS)).toBe(true);
    expect(log.lines.some((l) => /does not match its checksum; downloading it again/.test(l))).toBe(true);
    truncateSync(blob, 10);
    await snapshotDownload({ ...opts, repoId: 'tiny-org/tiny-model', revision: hub.commit('tiny-org/tiny-model'), allowPatterns: '*.safetensors' });
    expect(sameBytes(readFileSync(join(dir, 'model.safetensors')), WEIGHTS)).toBe(true);
    expect(hub.requests.filter((r) => r.method === 'GET' && r.url.startsWith('/cdn/')).length).toBe(3);
  });

  it('rejects bytes that do not match the sha256 / git sha1: one more try, then E_HUB_CHECKSUM', async () => {
    const sha = sha256Hex(WEIGHTS);
    hub.faults.push({ match: `/cdn/${sha}`, kind: 'garble', times: 1 });
    const p = await hfHubDownload({ ...opts, repoId: 'tiny-org/tiny-model', filename: 'model.safetensors' });
    expect(sameBytes(readFileSync(p), WEIGHTS)).toBe(true);
    expect(log.lines.some((l) => /is damaged \(sha256 [0-9a-f]{64} instead of/.test(l))).toBe(true);
    hub.faults.push({ match: 'resolve/main/config.json', kind: 'garble', times: 2, methods: ['GET'] });
    const err = await hfHubDownload({ ...opts, repoId: 'tiny-org/tiny-model', filename: 'config.json' }).catch((e) => e);
    expect(err.code).toBe('E_HUB_CHECKSUM');
    expect(err.message).toMatch(/config\.json does not match the hub's checksum \(git sha1 .* instead of .*\), twice/);
  });

  it('draws a progress line only when asked (a terminal)', async () => {
    const { ByteProgress } = await import('../src/progress.js');
    const out: string[] = [];
    const stream = { isTTY: true, write: (s: string) => out.push(s) } as unknown as NodeJS.WriteStream;
    expect(ByteProgress.shouldShow(undefined, false, { isTTY: false } as NodeJS.WriteStream)).toBe(false);
    expect(ByteProgress.shouldShow(undefined, true, stream)).toBe(false);
    const p = new ByteProgress('downloading x', 2048, true, stream);
    p.add(1024);
    p.add(1024);
    p.finish();
    expect(out.at(-1)).toMatch(/^\r\x1b\[Kdownloading x 100% 2\.0 kB\/2\.0 kB .*\/s\n$/);
    const quiet: string[] = [];
    new ByteProgress('q', 10, false, { write: (s: string) => quiet.push(s) } as unknown as NodeJS.WriteStream).finish();
    expect(quiet).toEqual([]);
  });

  it('does not re-download or re-hash an intact cached file', async () => {
    await snapshotDownload({ ...opts, repoId: 'tiny-org/tiny-model' });
    const n = hub.requests.filter((r) => r.method === 'GET').length;
    await snapshotDownload({ ...opts, repoId: 'tiny-org/tiny-model' });
    expect(hub.requests.filter((r) => r.method === 'GET').length).toBe(n + 1); // only the revision API call
  });

  it('gives clear messages for 404, 401/403 and 5xx', async () => {
    const e404 = await snapshotDownload({ ...opts, repoId: 'tiny-org/nope' }).catch((e) => e);
    expect(e404.code).toBe('E_HUB_NOT_FOUND');
    expect(e404.message).toMatch(/model repository "tiny-org\/nope" was not found on http:\/\/127\.0\.0\.1:\d+ \(HTTP 404\)/);
    const eFile = await hfHubDownload({ ...opts, repoId: 'tiny-org/tiny-model', filename: 'nope.bin' }).catch((e) => e);
    expect(eFile.code).toBe('E_HUB_NOT_FOUND');
    expect(eFile.message).toMatch(/file "nope.bin" of model "tiny-org\/tiny-model" was not found at revision "main"/);
    const eRev = await repoInfo({ ...opts, repoId: 'tiny-org/tiny-model', revision: 'v9' }).catch((e) => e);
    expect(eRev.message).toMatch(/revision "v9" of model "tiny-org\/tiny-model" was not found/);

    const e401 = await resolveModel('tiny-org/gated-model', opts).catch((e) => e);
    expect(e401.code).toBe('E_HUB_AUTH');
    expect(e401.message).toMatch(/model "tiny-org\/gated-model" is gated \(HTTP 401\): set HF_TOKEN/);
    const e403 = await resolveModel('tiny-org/gated-model', { ...opts, env: { ...opts.env, HF_TOKEN: 'wrong' } }).catch((e) => e);
    expect(e403.code).toBe('E_HUB_AUTH');
    expect(e403.message).toMatch(/token in HF_TOKEN was refused \(HTTP 403\)/);
    const ok = await resolveModel('tiny-org/gated-model', { ...opts, env: { ...opts.env, HF_TOKEN: hub.token } });
    expect(existsSync(join(ok, 'model.safetensors'))).toBe(true);
    // the token went to the hub, never to the CDN
    expect(hub.requests.filter((r) => r.url.startsWith('/cdn/')).every((r) => !r.authorization)).toBe(true);
    expect(hub.requests.filter((r) => r.url.startsWith('/api/') && r.authorization).length).toBeGreaterThan(0);

    hub.faults.push({ match: '/api/models/tiny-org/tiny-model', kind: 500, times: 10 });
    const e500 = await snapshotDownload({ ...opts, retries: 1, repoId: 'tiny-org/tiny-model' }).catch((e) => e);
    expect(e500.code).toBe('E_HUB_SERVER');
    expect(e500.message).toMatch(/failed with HTTP 500 .*try again later/);
    hub.faults.length = 0;
    hub.faults.push({ match: 'config.json', kind: 503, times: 1 });
    const dir = await snapshotDownload({ ...opts, repoId: 'tiny-org/tiny-model', allowPatterns: 'config.json' });
    expect(readFileSync(join(dir, 'config.json'), 'utf8')).toBe(CONFIG);
  });

  it('resolveModel returns an existing folder as is and rejects a missing path', async () => {
    const local = join(cache, 'local-model');
    mkdirSync(local);
    expect(await resolveModel(local, opts)).toBe(local);
    const err = await resolveModel('./definitely/not/here', opts).catch((e) => e);
    expect(err.code).toBe('E_MODEL_PATH');
    expect(err.message).toMatch(/neither an existing folder nor a Hugging Face repo id/);
    const bad = await resolveModel('bad--id/x', opts).catch((e) => e);
    expect(bad.code).toBe('E_MODEL_PATH');
  });

  it('finds dataset split files in the repository, or in the refs/convert/parquet export', async () => {
    const own = await datasetSplitFiles({ ...opts, repoId: 'tiny-org/tiny-data', split: 'train' });
    expect(own.via).toBe('repo');
    expect(own.repoPaths).toEqual(['data/train-00000-of-00002.parquet', 'data/train-00001-of-00002.parquet']);
    expect(sameBytes(readFileSync(own.paths[1]!), bytes(6000, 12))).toBe(true);
    expect(own.paths[0]).toContain(join('hub', 'datasets--tiny-org--tiny-data', 'snapshots'));
    const test = await datasetSplitFiles({ ...opts, repoId: 'tiny-org/tiny-data', split: 'test' });
    expect(test.repoPaths).toEqual(['data/test-00000-of-00001.parquet']);

    const conv = await datasetSplitFiles({ ...opts, repoId: 'tiny-org/script-data', split: 'validation' });
    expect(conv.via).toBe('parquet-conversion');
    expect(conv.repoPaths).toEqual(['default/validation/0000.parquet']);
    const ref = join(cache, 'hub', 'datasets--tiny-org--script-data', 'refs', 'refs', 'convert', 'parquet');
    expect(readFileSync(ref, 'utf8')).toBe(hub.commit('tiny-org/script-data', 'refs/convert/parquet', 'dataset'));
    const missing = await datasetSplitFiles({ ...opts, repoId: 'tiny-org/script-data', split: 'dev2' }).catch((e) => e);
    expect(missing.code).toBe('E_DATASET_SPLIT');
    expect(missing.message).toMatch(/no data files for split "dev2".*default: train\+validation/);
    const listing = await parquetListing({ ...opts, repoId: 'tiny-org/script-data' });
    expect(listing).toEqual({ default: { train: [expect.stringMatching(/parquet\/default\/train\/0\.parquet$/)], validation: [expect.any(String)] } });

    await hub.stop();
    const offline = await datasetSplitFiles({ ...opts, offline: true, repoId: 'tiny-org/script-data', split: 'validation' });
    expect(offline.paths).toEqual(conv.paths);
    const offline2 = await datasetSplitFiles({ ...opts, retries: 0, repoId: 'tiny-org/tiny-data', split: 'train' });
    expect(offline2.paths).toEqual(own.paths);
  });
});

describe('hub environment', () => {
  it('reads HF_HOME, HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN and HF_HUB_OFFLINE like Hugging Face tools', () => {
    const d = hubEnv({});
    expect(d.home).toBe(join(homedir(), '.cache', 'huggingface'));
    expect(d.cacheDir).toBe(join(homedir(), '.cache', 'huggingface', 'hub'));
    expect(d.endpoint).toBe('https://huggingface.co');
    expect(d.offline).toBe(false);
    const home = mkdtempSync(join(tmpdir(), 'ar-hf-home-'));
    writeFileSync(join(home, 'token'), 'hf_from_file\n');
    const e = hubEnv({ HF_HOME: home, HF_ENDPOINT: 'http://mirror.local/', HF_HUB_OFFLINE: 'TRUE' });
    expect(e.cacheDir).toBe(join(home, 'hub'));
    expect(e.endpoint).toBe('http://mirror.local');
    expect(e.token).toBe('hf_from_file');
    expect(e.offline).toBe(true);
    expect(hubEnv({ HF_HOME: home, HF_HUB_CACHE: '/x/y', HF_TOKEN: 'hf_env' })).toMatchObject({ cacheDir: '/x/y', token: 'hf_env' });
    rmSync(home, { recursive: true });
  });

  it('filters paths with fnmatch semantics', () => {
    const files = ['config.json', 'model-00001-of-00002.safetensors', 'sub/model.safetensors', 'README.md'];
    expect(filterPaths(files, ['*.safetensors'])).toEqual(['model-00001-of-00002.safetensors', 'sub/model.safetensors']);
    expect(filterPaths(files, ['*.safetensors'], ['*/*'])).toEqual(['model-00001-of-00002.safetensors']);
    expect(filterPaths(files, 'sub/')).toEqual(['sub/model.safetensors']);
    expect(filterPaths(files, ['[cR]*'])).toEqual(['config.json', 'README.md']);
  });
});

// Keeps vitest from complaining when this file runs alone with no fixtures needed.
beforeAll(() => {});
afterAll(() => {});
