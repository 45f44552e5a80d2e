/**
 * Buffers handed out in call order and recycled by `reset()`. A graph that is rebuilt with the
 * same shapes every iteration asks for the same sizes in the same order, so after the first
 * iteration no large array is allocated any more.
 */
export class Arena {
  private readonly bufs: Float32Array[] = [];
  private next = 0;

  /** A buffer of exactly `n` floats; its contents are whatever the slot last held. */
  take(n: number): Float32Array {
    const i = this.next++;
    let b = this.bufs[i];
    if (b === undefined || b.length < n) {
      b = new Float32Array(n);
      this.bufs[i] = b;
    }
    return b.length === n ? b : b.subarray(0, n);
  }

  /** A zero-filled buffer of `n` floats. */
  zeros(n: number): Float32Array {
    const b = this.take(n);
    b.fill(0);
    return b;
  }

  reset(): void {
    this.next = 0;
  }

  /** Floats held across all slots (for diagnostics). */
  get heldFloats(): number {
    let s = 0;
    for (const b of this.bufs) s += b.length;
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
