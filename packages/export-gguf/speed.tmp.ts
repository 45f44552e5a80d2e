import { quantizeRows } from './src/quants/index.ts';
import { GGMLType } from './src/ggml-types.ts';
const n = 4096*256;
const x = new Float32Array(n); for (let i=0;i<n;i++) x[i] = (Math.random()-0.5)*0.1;
const t = Number(process.argv[2]);
quantizeRows(t, x.subarray(0, 65536), 4096);
const c0 = process.cpuUsage(); quantizeRows(t, x, 4096); const ms = process.cpuUsage(c0).user/1000;
console.log(t, (n*4/1e6/(ms/1000)).toFixed(1), 'MB/s input');
