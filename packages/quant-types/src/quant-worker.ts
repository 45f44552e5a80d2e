// Worker side of QuantPool: grabs chunks of rows from a shared counter and quantizes them.
import { parentPort, workerData } from 'node:worker_threads';
import { quantizeRows, setNativeQuantizers } from './quants/index.js';
import { QUANT_TYPES } from './table.js';
import type { PoolJob } from './pool.js';

// Workers serve the WebAssembly/TypeScript codecs only: the pool hands native types to the addon, which
// has its own threads (and a worker terminated inside a native call would take the process down).
setNativeQuantizers(false);

const CTL_NEXT = 0;
const CTL_DONE = 1;

parentPort?.on('message', (job: PoolJob) => {
  const ctl = new Int32Array(job.control);
  const x = new Float32Array(job.input, 0, job.nrows * job.ne0);
  const out = new Uint8Array(job.output, 0, job.nrows * job.rowBytes);
  for (;;) {
    const c = Atomics.add(ctl, CTL_NEXT, 1);
    if (c >= job.nChunks) break;
    const r0 = c * job.rowsPerChunk;
    const r1 = Math.min(job.nrows, r0 + job.rowsPerChunk);
    out.set(quantizeRows(job.type, x.subarray(r0 * job.ne0, r1 * job.ne0), job.ne0, job.imatrix), r0 * job.rowBytes);
    Atomics.add(ctl, CTL_DONE, 1);
    Atomics.notify(ctl, CTL_DONE);
  }
});

// Warm the quantizers up before taking real work: a cold (interpreted) worker holding a chunk
// would keep the calling thread waiting. Then tell the pool this worker is ready.
{
  const x = new Float32Array(256 * 32).map((_, i) => Math.sin(i * 0.37) * 0.1);
  const im = new Float32Array(256).fill(1);
  for (let rep = 0; rep < 3; rep++) {
    for (const t of QUANT_TYPES) {
      if (!t.quantize || t.ggml === undefined) continue;
      quantizeRows(t.ggml, x, 256);
      if (t.usesImatrix) quantizeRows(t.ggml, x, 256, im);
    }
  }
  const w = workerData as { ready?: SharedArrayBuffer; index?: number } | undefined;
  if (w?.ready) Atomics.store(new Int32Array(w.ready), w.index ?? 0, 1);
}
