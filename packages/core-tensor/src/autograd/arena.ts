/**
 * Buffers handed out in call order and recycled by `reset()`. A graph that is rebuilt with the
 * same shapes every iteration asks for the same sizes in the same order, so after the first
 * iteration no large array is allocated any more.
 */
export class Arena<T extends Float32Array | Int16Array = Float32Array> {
  private readonly bufs: T[] = [];
  private next = 0;
  private readonly make: (n: number) => T;

  constructor(make?: (n: number) => T) {
    this.make = make ?? ((n: number) => new Float32Array(n) as T);
  }

  /** A buffer of exactly `n` elements; its contents are whatever the slot last held. */
  take(n: number): T {
    const i = this.next++;
    let b = this.bufs[i];
    if (b === undefined || b.length < n) {
      b = this.make(n);
      this.bufs[i] = b;
    }
    return b.length === n ? b : (b.subarray(0, n) as T);
  }

  /** A zero-filled buffer of `n` elements. */
  zeros(n: number): T {
    const b = this.take(n);
    b.fill(0);
    return b;
  }

  reset(): void {
    this.next = 0;
  }

  /** Bytes held across all slots (for diagnostics). */
  get heldBytes(): number {
    let s = 0;
    for (const b of this.bufs) s += b.byteLength;
    return s;
  }
}

/** Named scratch buffers that only grow; shared by ops that run one after another. */
export class Scratch {
  private readonly bufs = new Map<string, Float32Array>();

  get(name: string, n: number): Float32Array {
    let b = this.bufs.get(name);
    if (b === undefined || b.length < n) {
      b = new Float32Array(n);
      this.bufs.set(name, b);
    }
    return b.length === n ? b : b.subarray(0, n);
  }
}
