// The peak resident size of this process, for the benches that run each phase in a child process.
import { readFileSync } from 'node:fs';

/**
 * Peak RSS of this process in MiB: VmHWM on Linux, getrusage's maxRSS elsewhere. On Linux getrusage's maxRSS
 * (process.resourceUsage().maxRSS) is not the child's own peak: it keeps the resident size of the address space the
 * child ran in before exec, the parent's (measured: a child spawned by a process holding 500 MiB reports 503 MiB,
 * its VmHWM 39), so a bench parent's memory leaked into its phases' figures (docs/perf/whole-model.md#gguf-peak).
 */
export function peakRssMiB(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // not Linux: getrusage below
  }
  return process.resourceUsage().maxRSS / 1024;
}
