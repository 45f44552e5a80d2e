// Native GEMM entry points: ISA dispatch, thread pool, parallel partitioning, FMA ceiling.
#pragma once
#include <functional>

#include "gemm_core.h"

namespace gemm {

enum class Isa { Generic = 0, Avx2 = 1, Avx512 = 2 };

// Best ISA this CPU supports (cpuid via __builtin_cpu_supports).
Isa detect_isa();
// ISA used by subsequent calls; defaults to detect_isa(). Returns false when `isa` can't run here.
bool set_isa(Isa isa);
Isa current_isa();
const char* isa_name(Isa isa);

// Overrides the cache blocking of every ISA (kc <= 0 restores the tuned defaults). For tuning.
void set_blocking(idx kc, idx mc, idx nc);

// Largest padded B (floats) that a team packs whole before splitting rows among members; above it
// the team packs B panel by panel with barriers. Returns the previous limit (floats < 0: just read).
idx set_max_packed_b(idx floats);

// Number of hardware threads (std::thread::hardware_concurrency, at least 1).
int hardware_threads();

// C = alpha·op(A)·op(B) + beta·C on up to `threads` threads of the persistent pool (the calling
// thread is one of them). Safe to call from several threads at once: calls are serialised.
void gemm(const Args& g, int threads);

// Runs fn(task) for task in [0, tasks) on up to `threads` threads of the GEMM pool (dynamic
// scheduling; each task runs on exactly one thread, so per-task results do not depend on the split).
void parallel_for(int threads, long tasks, const std::function<void(long)>& fn);

struct Ceiling {
  double gflops;      // all threads together, per wall-clock second (slowest thread's time)
  double cpu_gflops;  // per CPU-second the threads actually ran (one core's rate when uncontended)
};
// `threads` threads each running the FMA loop of `isa` for about `seconds`.
Ceiling fma_ceiling(Isa isa, int threads, double seconds);

}  // namespace gemm
