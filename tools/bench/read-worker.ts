// Child process of read.bench.ts: reads a checkpoint one way and reports time, bytes and peak RSS.
import { closeSync, openSync, readSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Checkpoint } from '@autoround/core-tensor';
import { peakRssMiB } from './peak-rss.js';

const [mode, dir] = process.argv.slice(2) as [string, string];
const t0 = process.hrtime.bigint();
let bytes = 0;
let checksum = 0;
if (mode === 'plain') {
  // the ceiling: one sequential pass over every shard file with a reused 64 MiB buffer
  const buf = Buffer.allocUnsafe(64 << 20);
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.safetensors')).sort()) {
    const fd = openSync(join(dir, f), 'r');
    const size = statSync(join(dir, f)).size;
    let pos = 0;
    while (pos < size) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      checksum = (checksum + buf[0]!) | 0;
      pos += n;
    }
    bytes += size;
    closeSync(fd);
  }
} else {
  const ck = Checkpoint.open(dir);
  for (const { tensor } of ck.stream()) {
    const t = tensor.bytes();
    bytes += t.byteLength;
    checksum = (checksum + t[0]!) | 0;
  }
  ck.close();
}
const sec = Number(process.hrtime.bigint() - t0) / 1e9;
process.stdout.write(JSON.stringify({ mode, sec, bytes, checksum, maxRssBytes: peakRssMiB() * 2 ** 20 }) + '\n');
