/**
 * A small stand-in for the Hugging Face hub, for tests: node:http on 127.0.0.1 (random port) serving
 * the endpoints @autoround/hub uses, with fault injection (a cut connection, forced statuses) and a
 * request log. Never used by product code.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type FakeContent = Uint8Array | string;
export interface FakeFileSpec {
  content: FakeContent;
  /** Stored through LFS: served by a redirect to /cdn/<sha256>, with X-Linked-Etag/X-Linked-Size. Default: *.safetensors, *.parquet, *.bin, or over 10 kB. */
  lfs?: boolean;
}
export interface FakeRepoSpec {
  id: string;
  type?: 'model' | 'dataset';
  /** Files at revision "main". */
  files: Record<string, FakeContent | FakeFileSpec>;
  /** Other revisions (branches, tags, "refs/convert/parquet") with their own files. */
  revisions?: Record<string, Record<string, FakeContent | FakeFileSpec>>;
  /** Needs `Authorization: Bearer <token>` (401 without, 403 with another token). */
  gated?: boolean;
}

export interface FakeRequest {
  method: string;
  url: string;
  range?: string;
  authorization?: string;
}

interface StoredFile {
  bytes: Buffer;
  lfs: boolean;
  gitSha: string;
  sha256: string;
}
interface StoredRevision {
  sha: string;
  files: Map<string, StoredFile>;
}
interface StoredRepo {
  spec: FakeRepoSpec;
  revisions: Map<string, StoredRevision>;
}

export interface Fault {
  /** Substring of the request path (e.g. the file name) the fault applies to. */
  match: string;
  /** "cut": send headers and `cutAt` bytes (default half), then destroy the socket; "garble": flip one byte of the body; or an HTTP status. */
  kind: 'cut' | 'garble' | number;
  cutAt?: number;
  /** How many requests it hits (default 1). */
  times?: number;
  methods?: string[];
}

function toBuffer(c: FakeContent): Buffer {
  return typeof c === 'string' ? Buffer.from(c, 'utf8') : Buffer.from(c.buffer, c.byteOffset, c.byteLength);
}

export function gitBlobSha(bytes: Uint8Array): string {
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export class FakeHub {
  readonly requests: FakeRequest[] = [];
  readonly faults: Fault[] = [];
  private readonly repos = new Map<string, StoredRepo>();
  private readonly cdn = new Map<string, Buffer>();
  private servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  /** The hub (API and resolve URLs). */
  endpoint = '';
  /** Where LFS redirects point: another origin, like a real CDN, so tokens must not go there. */
  cdnEndpoint = '';

  constructor(
    repos: FakeRepoSpec[] = [],
    readonly token = 'hf_fake_token',
  ) {
    for (const r of repos) this.addRepo(r);
  }

  addRepo(spec: FakeRepoSpec): void {
    const type = spec.type ?? 'model';
    const revisions = new Map<string, StoredRevision>();
    const all: Record<string, Record<string, FakeContent | FakeFileSpec>> = { main: spec.files, ...(spec.revisions ?? {}) };
    for (const [rev, files] of Object.entries(all)) {
      const stored = new Map<string, StoredFile>();
      const h = createHash('sha1').update(`${type}/${spec.id}@${rev}`);
      for (const [path, f] of Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1))) {
        const fs = typeof f === 'string' || f instanceof Uint8Array ? { content: f } : f;
        const bytes = toBuffer(fs.content);
        const lfs = fs.lfs ?? (/\.(safetensors|parquet|bin)$/.test(path) || bytes.length > 10_240);
        const file = { bytes, lfs, gitSha: gitBlobSha(bytes), sha256: sha256Hex(bytes) };
        stored.set(path, file);
        if (lfs) this.cdn.set(file.sha256, bytes);
        h.update(path).update(file.gitSha);
      }
      revisions.set(rev, { sha: h.digest('hex'), files: stored });
    }
    for (const r of [...revisions.values()]) revisions.set(r.sha, r);
    this.repos.set(`${type}:${spec.id}`, { spec, revisions });
  }

  /** The commit a revision of a repo resolves to. */
  commit(id: string, revision = 'main', type: 'model' | 'dataset' = 'model'): string {
    return this.repos.get(`${type}:${id}`)!.revisions.get(revision)!.sha;
  }

  file(id: string, path: string, revision = 'main', type: 'model' | 'dataset' = 'model'): StoredFile {
    return this.repos.get(`${type}:${id}`)!.revisions.get(revision)!.files.get(path)!;
  }

  async start(): Promise<string> {
    const listen = async () => {
      const server = createServer((req, res) => this.handle(req, res));
      server.on('connection', (s) => {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      this.servers.push(server);
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    };
    this.endpoint = await listen();
    this.cdnEndpoint = await listen();
    return this.endpoint;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((srv) => new Promise<void>((r) => srv.close(() => r()))));
    this.servers = [];
  }

  private takeFault(path: string, method: string): Fault | undefined {
    const f = this.faults.find((x) => path.includes(x.match) && (x.times ?? 1) > 0 && (!x.methods || x.methods.includes(method)));
    if (f) f.times = (f.times ?? 1) - 1;
    return f;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const method = req.method ?? 'GET';
    this.requests.push({ method, url: url.pathname + url.search, range: req.headers.range, authorization: req.headers.authorization });
    const fault = this.takeFault(url.pathname, method);
    if (fault && typeof fault.kind === 'number') return this.error(res, fault.kind, '', 'injected failure');
    try {
      const p = url.pathname;
      if (p.startsWith('/cdn/')) return this.serveBytes(req, res, this.cdn.get(p.slice(5)), {}, fault);
      if (p.startsWith('/api/models/') || p.startsWith('/api/datasets/')) return this.api(req, res, p);
      const m = /^\/(datasets\/)?(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(p);
      if (m) return this.resolve(req, res, m[1] ? 'dataset' : 'model', m[2]!, decodeURIComponent(m[3]!), m[4]!.split('/').map(decodeURIComponent).join('/'), fault);
      this.error(res, 404, '', 'no such endpoint');
    } catch (e) {
      this.error(res, 500, '', String(e));
    }
  }

  private error(res: ServerResponse, status: number, code: string, message: string): void {
    const h: Record<string, string> = { 'content-type': 'application/json', 'x-error-message': message };
    if (code) h['x-error-code'] = code;
    res.writeHead(status, h);
    res.end(JSON.stringify({ error: message }));
  }

  /** Finds a repo, checking access; answers the error itself and returns undefined when it fails. */
  private repo(req: IncomingMessage, res: ServerResponse, type: 'model' | 'dataset', id: string): StoredRepo | undefined {
    const r = this.repos.get(`${type}:${id}`);
    if (!r) {
      this.error(res, 404, 'RepoNotFound', 'Repository not found');
      return undefined;
    }
    if (r.spec.gated) {
      const auth = req.headers.authorization;
      if (!auth) {
        this.error(res, 401, 'GatedRepo', 'Access to this repository is restricted: you must be authenticated');
        return undefined;
      }
      if (auth !== `Bearer ${this.token}`) {
        this.error(res, 403, 'GatedRepo', 'Access to this repository is restricted and you are not in the authorized list');
        return undefined;
      }
    }
    return r;
  }

  private api(req: IncomingMessage, res: ServerResponse, p: string): void {
    const type = p.startsWith('/api/models/') ? 'model' : 'dataset';
    const rest = p.slice(type === 'model' ? '/api/models/'.length : '/api/datasets/'.length);
    let m = /^(.+?)\/revision\/([^/]+)$/.exec(rest);
    if (m) {
      const repo = this.repo(req, res, type, m[1]!);
      if (!repo) return;
      const rev = repo.revisions.get(decodeURIComponent(m[2]!));
      if (!rev) return this.error(res, 404, 'RevisionNotFound', 'Invalid rev id');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: repo.spec.id, sha: rev.sha, siblings: [...rev.files.keys()].map((rfilename) => ({ rfilename })) }));
      return;
    }
    m = /^(.+?)\/parquet(?:\/([^/]+)(?:\/([^/]+))?)?$/.exec(rest);
    if (m && type === 'dataset') {
      const repo = this.repo(req, res, type, m[1]!);
      if (!repo) return;
      const conv = repo.revisions.get('refs/convert/parquet');
      const listing: Record<string, Record<string, string[]>> = {};
      for (const path of conv?.files.keys() ?? []) {
        const [config, split, name] = path.split('/');
        if (!config || !split || !name) continue;
        ((listing[config] ??= {})[split] ??= []).push(`${this.endpoint}/api/datasets/${repo.spec.id}/parquet/${config}/${split}/${Number.parseInt(name, 10)}.parquet`);
      }
      const [config, split] = [m[2], m[3]];
      const body = config ? (split ? listing[config]?.[split] : listing[config]) : listing;
      if (!body) return this.error(res, 404, '', 'config or split not found');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
      return;
    }
    this.error(res, 404, '', 'no such endpoint');
  }

  private resolve(req: IncomingMessage, res: ServerResponse, type: 'model' | 'dataset', id: string, revision: string, path: string, fault: Fault | undefined): void {
    const repo = this.repo(req, res, type, id);
    if (!repo) return;
    const rev = repo.revisions.get(revision);
    if (!rev) return this.error(res, 404, 'RevisionNotFound', 'Invalid rev id');
    const f = rev.files.get(path);
    if (!f) return this.error(res, 404, 'EntryNotFound', 'Entry not found');
    if (f.lfs) {
      res.writeHead(302, {
        location: `${this.cdnEndpoint}/cdn/${f.sha256}`,
        'x-repo-commit': rev.sha,
        etag: `"${f.gitSha}"`,
        'x-linked-etag': `"${f.sha256}"`,
        'x-linked-size': String(f.bytes.length),
        'content-length': '0',
      });
      res.end();
      return;
    }
    this.serveBytes(req, res, f.bytes, { 'x-repo-commit': rev.sha, etag: `"${f.gitSha}"` }, fault);
  }

  private serveBytes(req: IncomingMessage, res: ServerResponse, bytes: Buffer | undefined, headers: Record<string, string>, fault: Fault | undefined): void {
    if (!bytes) return this.error(res, 404, '', 'no such object');
    let start = 0;
    let end = bytes.length - 1;
    let status = 200;
    const range = req.headers.range;
    if (range) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range);
      if (!m || Number(m[1]) >= bytes.length) {
        res.writeHead(416, { 'content-range': `bytes */${bytes.length}` });
        res.end();
        return;
      }
      start = Number(m[1]);
      if (m[2]) end = Math.min(end, Number(m[2]));
      status = 206;
      headers = { ...headers, 'content-range': `bytes ${start}-${end}/${bytes.length}` };
    }
    let body = bytes.subarray(start, end + 1);
    if (fault?.kind === 'garble' && body.length > 0) {
      body = Buffer.from(body);
      body[body.length >> 1]! ^= 0xff;
    }
    res.writeHead(status, { ...headers, 'content-length': String(body.length), 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' });
    if (req.method === 'HEAD') return void res.end();
    if (fault?.kind === 'cut') {
      const at = fault.cutAt ?? Math.floor(body.length / 2);
      res.write(body.subarray(0, at), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  }
}
