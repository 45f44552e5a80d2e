/**
 * Lets the event loop run (signals, timers, I/O) between long synchronous steps. The staging
 * folder's SIGINT/SIGTERM handler (staging.ts) replaces Node's default exit, so a block loop
 * that never yields would make Ctrl-C wait for the whole run and then write the output anyway.
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** A yieldToEventLoop that returns at once unless `ms` have passed since it last yielded. */
export function periodicYield(ms = 100): () => Promise<void> | undefined {
  let last = Date.now();
  return () => {
    const now = Date.now();
    if (now - last < ms) return undefined;
    last = now;
    return yieldToEventLoop();
  };
}
