// Quantizes a tensor's rows on several threads, synchronously: the rows are split into chunks that
// the calling thread and worker threads take from a shared counter (Atomics), and the caller
// blocks (Atomics.wait) until every chunk is done. Workers that cannot start (e.g. a test runner
// that cannot load them) simply take no chunks: the caller then does all the work itself.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { AutoRoundError } from '@autoround/core-tensor';
import { codecOf, rowBytes } from './table.js';
import { quantizeRows } from './quants/index.js';
import { type PendingRows, nativeQuantizer, startNativeRows } from './quants/backend.js';

export interface PoolJob {
  readonly type: number;
  readonly ne0: number;
  readonly nrows: number;
  readonly rowsPerChunk: number;
  readonly nChunks: number;
  readonly rowBytes: number;
  readonly input: SharedArrayBuffer;
  readonly output: SharedArrayBuffer;
  readonly control: SharedArrayBuffer;
  readonly imatrix: Float32Array | null;
}

const CTL_NEXT = 0;
const CTL_DONE = 1;
/** Elements per chunk: small enough to balance, large enough to amortise the hand-off. */
const CHUNK_ELEMENTS = 1 << 14;
/** Below this, a tensor is quantized on the calling thread alone. */
const MIN_PARALLEL_ELEMENTS = 1 << 18;
/** A chunk taken by a worker must finish within this long (ms) or the export fails. */
const STALL_MS = 600_000;

/** Threads to use by default: AUTOROUND_THREADS, else every available core. */
export function defaultThreads(): number {
  const env = Number(process.env.AUTOROUND_THREADS);
  return Number.isInteger(env) && env > 0 ? env : availableParallelism();
}

export class QuantPool {
  private readonly workers: Worker[] = [];
  /** Set to 1 by each worker once it has loaded and warmed up its code (jobs go to ready workers only). */
  private readonly ready: Int32Array;
  private failed = 0;

  private started = false;
  /** Shared buffers reused across calls (every chunk is done when quantizeRows returns). */
  private inBuf: SharedArrayBuffer | null = null;
  private outBuf: SharedArrayBuffer | null = null;

  /** threads counts the calling thread: threads = 1 starts no worker. Workers start with the first large tensor. */
  constructor(readonly threads: number = defaultThreads()) {
    this.ready = new Int32Array(new SharedArrayBuffer(4 * Math.max(1, threads)));
  }

  private start(): void {
    this.started = true;
    const source = import.meta.url.endsWith('.ts');
    const url = new URL(source ? './quant-worker-source.mjs' : './quant-worker.js', import.meta.url);
    for (let i = 1; i < this.threads; i++) {
      try {
        const w = new Worker(url, { workerData: { ready: this.ready.buffer, index: i - 1 } });
        w.on('error', () => this.failed++);
        w.unref();
        this.workers.push(w);
      } catch {
        this.failed++;
      }
    }
  }

  /** quantizeRows, spread over the pool. */
  quantizeRows(type: number, data: Float32Array, ne0: number, imatrix?: Float32Array | null): Uint8Array {
    const c = codecOf(type);
    // the native quantizers bring their own threads: no worker is started for them
    if (nativeQuantizer(type)) return quantizeRows(type, data, ne0, imatrix, this.threads);
    if (this.threads <= 1 || data.length < MIN_PARALLEL_ELEMENTS || ne0 % c.blockSize !== 0) return quantizeRows(type, data, ne0, imatrix);
    if (!this.started) this.start();
    const nrows = data.length / ne0;
    const rb = rowBytes(type, ne0);
    const rowsPerChunk = Math.max(1, Math.floor(CHUNK_ELEMENTS / ne0));
    const nChunks = Math.ceil(nrows / rowsPerChunk);
    if (!this.inBuf || this.inBuf.byteLength < data.byteLength) this.inBuf = new SharedArrayBuffer(data.byteLength);
    if (!this.outBuf || this.outBuf.byteLength < nrows * rb) this.outBuf = new SharedArrayBuffer(nrows * rb);
    const input = this.inBuf;
    const output = this.outBuf;
    new Float32Array(input, 0, data.length).set(data);
    const control = new SharedArrayBuffer(8);
    const job: PoolJob = { type, ne0, nrows, rowsPerChunk, nChunks, rowBytes: rb, input, output, control, imatrix: imatrix ?? null };
    this.workers.forEach((w, i) => {
      if (Atomics.load(this.ready, i) === 1) w.postMessage(job);
    });
    const ctl = new Int32Array(control);
    const x = new Float32Array(input);
    const out = new Uint8Array(output);
    for (;;) {
      const k = Atomics.add(ctl, CTL_NEXT, 1);
      if (k >= nChunks) break;
      const r0 = k * rowsPerChunk;
      const r1 = Math.min(nrows, r0 + rowsPerChunk);
      out.set(quantizeRows(type, x.subarray(r0 * ne0, r1 * ne0), ne0, imatrix), r0 * rb);
      Atomics.add(ctl, CTL_DONE, 1);
    }
    let last = Atomics.load(ctl, CTL_DONE);
    let since = Date.now();
    while (last < nChunks) {
      Atomics.wait(ctl, CTL_DONE, last, 1000);
      const now = Atomics.load(ctl, CTL_DONE);
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (Date.now() - since > STALL_MS) {
        throw new AutoRoundError('E_WORKER', `quantization worker stalled: ${nChunks - now} of ${nChunks} chunks unfinished`);
      }
    }
    return new Uint8Array(output, 0, nrows * rb).slice();
  }

  /**
   * quantizeRows that returns before the work is done where the native quantizers take `type` (they run
   * on a native thread meanwhile: the exporter writes the previous tensor, its caller reads the next);
   * elsewhere the rows are quantized here and wait() just hands them over. `into`: a buffer the native quantizer
   * writes the bytes into (startNativeRows), if it is big enough; the other paths return fresh bytes.
   */
  startRows(type: number, data: Float32Array, ne0: number, imatrix?: Float32Array | null, into?: Uint8Array): PendingRows {
    const c = codecOf(type);
    if (ne0 % c.blockSize === 0 && data.length % ne0 === 0 && (!imatrix || imatrix.length === ne0)) {
      const outBytes = (data.length / ne0) * rowBytes(type, ne0);
      const job = startNativeRows(type, data, ne0, c.usesImatrix ? imatrix ?? null : null, outBytes, this.threads, into && into.byteLength >= outBytes ? into : undefined);
      if (job) return job;
    }
    const bytes = this.quantizeRows(type, data, ne0, imatrix);
    return { wait: () => bytes };
  }

  /** Workers that have started and warmed up. */
  get readyWorkers(): number {
    let n = 0;
    for (let i = 0; i < this.workers.length; i++) n += Atomics.load(this.ready, i);
    return n;
  }

  close(): void {
    for (const w of this.workers) void w.terminate();
    this.workers.length = 0;
    this.inBuf = null;
    this.outBuf = null;
  }
}
