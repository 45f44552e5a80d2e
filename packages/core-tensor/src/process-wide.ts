// A process-wide slot for a native kernel that a kernel package registers (kernels-cpu when its addon loads) and
// TypeScript loops elsewhere use when present. Held on globalThis under a registry symbol so that every copy of the
// module in a process (source and dist builds side by side) sees the same value.

/** The slot named `name`: get() the registered value or null; set(v) registers (null removes) and returns the old one. */
export function processWide<T>(name: string): { get(): T | null; set(value: T | null): T | null } {
  const key = Symbol.for(name);
  const holder = globalThis as { [k: symbol]: unknown };
  return {
    get: () => (holder[key] as T | undefined) ?? null,
    set: (value) => {
      const prev = (holder[key] as T | undefined) ?? null;
      holder[key] = value;
      return prev;
    },
  };
}
