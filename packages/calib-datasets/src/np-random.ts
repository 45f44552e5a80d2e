/**
 * NumPy's `np.random.default_rng(seed).permutation(n)`: SeedSequence → PCG64 (XSL-RR 128/64) →
 * Generator.shuffle (Fisher–Yates from the end, `random_interval` with a bit mask and rejection,
 * 32-bit draws buffered from 64-bit outputs). This is what `datasets.Dataset.shuffle(seed=…)` uses, so
 * hub datasets come out in the order the original AutoRound sees.
 */
const MASK64 = (1n << 64n) - 1n;
const MASK128 = (1n << 128n) - 1n;
const PCG_MULT = (2549297995355413924n << 64n) + 4865540595714422341n;

const INIT_A = 0x43b0d7e5;
const MULT_A = 0x931e8875;
const INIT_B = 0x8b51f9dd;
const MULT_B = 0x58f38ded;
const MIX_MULT_L = 0xca01f9dd;
const MIX_MULT_R = 0x4973f715;
const XSHIFT = 16;
const POOL_SIZE = 4;

/** numpy.random.SeedSequence(entropy).generate_state(nWords, uint32). */
export function seedSequenceState(entropy: number | bigint, nWords32: number): Uint32Array {
  let v = BigInt(entropy);
  if (v < 0n) throw new RangeError('SeedSequence entropy must be non-negative');
  const ent: number[] = [];
  while (v > 0n) {
    ent.push(Number(v & 0xffffffffn));
    v >>= 32n;
  }
  if (ent.length === 0) ent.push(0);

  let hashConst = INIT_A;
  const hashmix = (value: number): number => {
    value = (value ^ hashConst) >>> 0;
    hashConst = Math.imul(hashConst, MULT_A) >>> 0;
    value = Math.imul(value, hashConst) >>> 0;
    value = (value ^ (value >>> XSHIFT)) >>> 0;
    return value;
  };
  const mix = (x: number, y: number): number => {
    let r = (Math.imul(MIX_MULT_L, x) - Math.imul(MIX_MULT_R, y)) >>> 0;
    r = (r ^ (r >>> XSHIFT)) >>> 0;
    return r;
  };
  const pool = new Uint32Array(POOL_SIZE);
  for (let i = 0; i < POOL_SIZE; i++) pool[i] = hashmix(i < ent.length ? ent[i]! : 0);
  for (let src = 0; src < POOL_SIZE; src++) {
    for (let dst = 0; dst < POOL_SIZE; dst++) {
      if (src !== dst) pool[dst] = mix(pool[dst]!, hashmix(pool[src]!));
    }
  }
  for (let src = POOL_SIZE; src < ent.length; src++) {
    for (let dst = 0; dst < POOL_SIZE; dst++) pool[dst] = mix(pool[dst]!, hashmix(ent[src]!));
  }
  const out = new Uint32Array(nWords32);
  let hb = INIT_B;
  for (let i = 0; i < nWords32; i++) {
    let d = pool[i % POOL_SIZE]!;
    d = (d ^ hb) >>> 0;
    hb = Math.imul(hb, MULT_B) >>> 0;
    d = Math.imul(d, hb) >>> 0;
    d = (d ^ (d >>> XSHIFT)) >>> 0;
    out[i] = d;
  }
  return out;
}

/** numpy's PCG64 bit generator seeded through SeedSequence(seed). */
export class NpPCG64 {
  private state = 0n;
  private inc = 0n;
  private hasUint32 = false;
  private uinteger = 0;

  constructor(seed: number | bigint) {
    const w = seedSequenceState(seed, 8);
    const u64 = (k: number) => (BigInt(w[2 * k + 1]!) << 32n) | BigInt(w[2 * k]!);
    const initstate = (u64(0) << 64n) | u64(1);
    const initseq = (u64(2) << 64n) | u64(3);
    this.inc = ((initseq << 1n) | 1n) & MASK128;
    this.state = 0n;
    this.step();
    this.state = (this.state + initstate) & MASK128;
    this.step();
  }

  private step(): void {
    this.state = (this.state * PCG_MULT + this.inc) & MASK128;
  }

  /** next_uint64. */
  nextUint64(): bigint {
    this.step();
    const s = this.state;
    const x = ((s >> 64n) ^ s) & MASK64;
    const rot = Number(s >> 122n);
    return ((x >> BigInt(rot)) | (x << BigInt((64 - rot) & 63))) & MASK64;
  }

  /** next_uint32: the low half of a 64-bit draw, then its high half. */
  nextUint32(): number {
    if (this.hasUint32) {
      this.hasUint32 = false;
      return this.uinteger;
    }
    const n = this.nextUint64();
    this.hasUint32 = true;
    this.uinteger = Number(n >> 32n);
    return Number(n & 0xffffffffn);
  }

  /** random_interval(max): uniform in [0, max]. */
  interval(max: number): number {
    if (max === 0) return 0;
    if (max <= 0xffffffff) {
      let mask = max;
      mask |= mask >>> 1;
      mask |= mask >>> 2;
      mask |= mask >>> 4;
      mask |= mask >>> 8;
      mask |= mask >>> 16;
      mask >>>= 0;
      let v: number;
      while ((v = (this.nextUint32() & mask) >>> 0) > max);
      return v;
    }
    let mask = BigInt(max);
    for (const s of [1n, 2n, 4n, 8n, 16n, 32n]) mask |= mask >> s;
    let v: bigint;
    while ((v = this.nextUint64() & mask) > BigInt(max));
    return Number(v);
  }
}

/** np.random.default_rng(seed).permutation(n). */
export function npPermutation(n: number, seed: number | bigint): number[] {
  const g = new NpPCG64(seed);
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = g.interval(i);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}
