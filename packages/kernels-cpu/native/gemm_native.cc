#include "gemm_native.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "kernel_generic.h"
#include "kernels_x86.h"

namespace gemm {

// ---------------------------------------------------------------------------------------------------
// Thread pool: persistent workers; the caller runs share 0. Workers spin briefly after each job (so
// back-to-back GEMMs don't pay a futex wake-up), then sleep on a condition variable.
// ---------------------------------------------------------------------------------------------------
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

class ThreadPool {
 public:
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
      gen_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  void run(int n, const std::function<void(int)>& fn) {
    std::lock_guard<std::mutex> serial(dispatch_);
    if (n <= 1) {
      fn(0);
      return;
    }
    while ((int)workers_.size() < n - 1) {
      const int w = (int)workers_.size() + 1;
      const unsigned long seen = gen_.load();  // read here, before this job bumps gen_
      workers_.emplace_back([this, w, seen] { loop(w, seen); });
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = &fn;
      active_ = n;
      pending_.store(n - 1);
      gen_.fetch_add(1, std::memory_order_release);
    }
    cv_.notify_all();
    fn(0);
    const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
    for (int s = 0; pending_.load(std::memory_order_acquire) != 0; s++) {
      cpu_relax();
      if ((s & 63) == 63 && std::chrono::steady_clock::now() > until) {
        std::unique_lock<std::mutex> lk(mu_);
        done_cv_.wait(lk, [this] { return pending_.load() == 0; });
        break;
      }
    }
    job_ = nullptr;
  }

 private:
  void loop(int w, unsigned long seen) {
    for (;;) {
      unsigned long g = gen_.load(std::memory_order_acquire);
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(100);
      for (int s = 0; g == seen; s++) {
        cpu_relax();
        g = gen_.load(std::memory_order_acquire);
        if ((s & 63) == 63 && std::chrono::steady_clock::now() > until) break;
      }
      int active;
      const std::function<void(int)>* job;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return stop_ || gen_.load() != seen; });
        if (stop_) return;
        seen = gen_.load();
        active = active_;
        job = job_;
      }
      if (w < active) {
        (*job)(w);
        if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
          std::lock_guard<std::mutex> lk(mu_);
          done_cv_.notify_one();
        }
      }
    }
  }

  std::vector<std::thread> workers_;
  std::mutex dispatch_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::atomic<unsigned long> gen_{0};
  std::atomic<int> pending_{0};
  const std::function<void(int)>* job_ = nullptr;
  int active_ = 0;
  bool stop_ = false;
};

ThreadPool& pool() {
  static ThreadPool* p = new ThreadPool();  // never destroyed: workers may outlive static teardown
  return *p;
}

}  // namespace

void parallel_for(int threads, long tasks, const std::function<void(long)>& fn) {
  if (tasks <= 0) return;
  const int t = (int)std::max<long>(1, std::min<long>(threads, tasks));
  if (t == 1) {
    for (long i = 0; i < tasks; i++) fn(i);
    return;
  }
  std::atomic<long> next{0};
  std::function<void(int)> work = [&](int) {
    for (long i; (i = next.fetch_add(1, std::memory_order_relaxed)) < tasks;) fn(i);
  };
  pool().run(t, work);
}

namespace {

// Per-thread pack buffers, 64-byte aligned, grown on demand.
struct PackBuffers {
  float* a = nullptr;
  float* b = nullptr;
  idx a_cap = 0, b_cap = 0;
  ~PackBuffers() {
    std::free(a);
    std::free(b);
  }
  static float* grow(float* p, idx& cap, idx want) {
    if (want <= cap) return p;
    std::free(p);
    cap = want;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    // Buffers of 1 MiB and more (a whole packed B is 4 MiB at 1024²) on 2 MiB pages where the kernel
    // only gives them on request (THP "madvise"): the micro-kernels stream B through fewer TLB entries,
    // which a VM's two-level page walks make dear. 1024³ alternating with 4 KiB pages (40 pairs, 2
    // threads): 1.019-1.029 of the time.
    if ((size_t)want * sizeof(float) >= ((size_t)1 << 20)) {
      const size_t huge = (size_t)2 << 20;
      const size_t bytes = ((size_t)want * sizeof(float) + huge - 1) & ~(huge - 1);
      void* q = std::aligned_alloc(huge, bytes);
      if (q) madvise(q, bytes, MADV_HUGEPAGE);  // a hint: refused, it is an ordinary buffer
      return (float*)q;
    }
#endif
    const size_t bytes = ((size_t)want * sizeof(float) + 63) & ~(size_t)63;
    return (float*)std::aligned_alloc(64, bytes);
  }
};
thread_local PackBuffers tls_buffers;

struct Impl {
  Ops ops;
  Blocking bl;
};

// Blocking (kc, mc, nc), measured on a 2-core Sapphire Rapids (48 KiB L1d, 2 MiB L2 per core):
// the MR x KC A micro-panel (14 x 384 x 4 B = 21 KiB) stays in L1, the KC x NC B panel
// (384 x 512 x 4 B = 768 KiB) in L2, and MC covers a whole share of rows so A is packed once.
Impl impl_for_isa(Isa isa) {
  switch (isa) {
#ifdef GEMM_X86
    case Isa::Avx512:
      return Impl{Ops{AVX512_MR, AVX512_NR, kernel_avx512, pack_a_avx512, pack_b_avx512}, Blocking{384, 4096, 512}};
    case Isa::Avx2:
      return Impl{Ops{AVX2_MR, AVX2_NR, kernel_avx2, pack_a_generic<AVX2_MR>, pack_b_generic<AVX2_NR>},
                  Blocking{384, 4096, 512}};
#endif
    default:
      return Impl{Ops{GENERIC_MR, GENERIC_NR, kernel_generic, pack_a_generic<GENERIC_MR>, pack_b_generic<GENERIC_NR>},
                  Blocking{256, 4096, 512}};
  }
}

Blocking g_override{0, 0, 0};

Impl impl_for(Isa isa) {
  Impl im = impl_for_isa(isa);
  if (g_override.kc > 0) im.bl = g_override;
  return im;
}

// Sense-reversing spin barrier for one GEMM's team; yields the core after a while so that an
// oversubscribed machine still makes progress.
struct SpinBarrier {
  std::atomic<int> count{0};
  std::atomic<int> phase{0};
  int n = 1;
  static void wait(void* self) {
    SpinBarrier& b = *static_cast<SpinBarrier*>(self);
    const int ph = b.phase.load(std::memory_order_acquire);
    if (b.count.fetch_add(1, std::memory_order_acq_rel) == b.n - 1) {
      b.count.store(0, std::memory_order_relaxed);
      b.phase.store(ph + 1, std::memory_order_release);
      return;
    }
    for (int s = 0; b.phase.load(std::memory_order_acquire) == ph; s++) {
      cpu_relax();
      if (s > 2000) std::this_thread::yield();
    }
  }
};

// Shared B pack buffer of the team; team_mu guards it from the moment it is sized until the team is
// done (the JS thread and libuv workers running gemmAsync may call gemm() at the same time).
PackBuffers shared_b;
std::mutex team_mu;
// Largest B (floats, padded) packed whole for a team: 32 Mi floats = 128 MiB (the pack buffer, kept
// for the next call, is at most that: one copy of the largest B). Every row chunk then streams all of
// B from L3 or memory, against the panel-by-panel scheme's two barriers per B panel.
// History: at 12 MiB (2026-11-27, alternating both schemes in one process at load 1-1.6, 2 threads)
// whole packing won on the 4096-row Qwen3 block shapes (+14% to +26%) and lost 5-7% on the weight
// gradients once B was 16 MiB (1024x1024x4096 TN, 3072x1024x4096 TN). But this 2-core host always
// carries other jobs, and there a member descheduled at a barrier stalls the other, which spins: in
// the SignRound iteration at load 5-6 (docs/perf/signround-iteration.md, "Weight gradients without
// barriers") the TN products took 1.9 CPU s per iteration panel by panel and 0.8 packed whole, at
// half the wall time. Both schemes give the same bits (each C element sums the same k slices in the
// same order), so this is a speed choice only.
std::atomic<idx> g_max_packed_b{(idx)32 << 20};

std::atomic<int> g_isa{-1};

}  // namespace

Isa detect_isa() {
#ifdef GEMM_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Generic;
}

bool set_isa(Isa isa) {
  if ((int)isa > (int)detect_isa()) return false;
  g_isa.store((int)isa);
  return true;
}

Isa current_isa() {
  int v = g_isa.load();
  if (v < 0) {
    v = (int)detect_isa();
    g_isa.store(v);
  }
  return (Isa)v;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "generic";
  }
}

void set_blocking(idx kc, idx mc, idx nc) { g_override = Blocking{kc, mc, nc}; }

idx set_max_packed_b(idx floats) {
  const idx old = g_max_packed_b.load();
  if (floats >= 0) g_max_packed_b.store(floats);
  return old;
}

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n ? (int)n : 1;
}

void gemm(const Args& g, int threads) {
  if (g.m <= 0 || g.n <= 0) return;
  const Impl im = impl_for(current_isa());
  const int MR = im.ops.mr, NR = im.ops.nr;
  // Below ~2 MFLOP a second thread costs more to wake than it saves.
  const double flops = 2.0 * (double)g.m * (double)g.n * (double)g.k;
  int t = threads < 1 ? 1 : threads;
  if (flops < 2.0e6) t = 1;
  const idx mt = (g.m + MR - 1) / MR, nt = (g.n + NR - 1) / NR;

  if (g.k == 0 || g.alpha == 0.0f) {  // C = beta·C
    scale_c(g);
    return;
  }

  if (t == 1) {
    PackBuffers& pb = tls_buffers;
    pb.a = PackBuffers::grow(pb.a, pb.a_cap, pack_a_floats(im.bl, MR, g.m, g.k));
    pb.b = PackBuffers::grow(pb.b, pb.b_cap, pack_b_floats(im.bl, NR, g.n, g.k));
    gemm_tile(g, im.ops, im.bl, 0, g.m, 0, g.n, pb.a, pb.b);
    return;
  }

  if (mt >= 2 * (idx)t && pack_b_all_floats(g, NR) <= g_max_packed_b.load()) {
    // Enough row panels: the team packs all of B together (one barrier), then each member takes
    // chunks of rows from a shared counter, packs their A and multiplies, with no further
    // synchronisation. Nothing is packed twice, and a member that loses its core to another
    // process holds up only the chunk it is on.
    std::lock_guard<std::mutex> hold(team_mu);
    float* bp = shared_b.a = PackBuffers::grow(shared_b.a, shared_b.a_cap, pack_b_all_floats(g, NR));
    // chunks of up to 16 micro-panels (224 rows for AVX-512), at least ~4 per member
    idx chunk = mt / (4 * (idx)t);
    chunk = (chunk < 1 ? 1 : chunk > 16 ? 16 : chunk) * MR;
    if (chunk > im.bl.mc) chunk = im.bl.mc / MR * MR;
    SpinBarrier bar;
    bar.n = t;
    std::atomic<idx> next{0};
    auto work = [&](int w) {
      pack_b_all(g, im.ops, im.bl, bp, w, t);
      SpinBarrier::wait(&bar);
      PackBuffers& pb = tls_buffers;
      pb.a = PackBuffers::grow(pb.a, pb.a_cap, pack_a_floats(im.bl, MR, chunk, g.k));
      for (;;) {
        const idx i0 = next.fetch_add(1, std::memory_order_relaxed) * chunk;
        if (i0 >= g.m) break;
        gemm_rows_packed_b(g, im.ops, im.bl, i0, (g.m - i0 < chunk) ? g.m - i0 : chunk, bp, pb.a);
      }
    };
    pool().run(t, work);
    return;
  }

  if (mt >= 2 * (idx)t) {
    // B too large to pack whole: the team splits the rows evenly (in whole micro-panels) and packs
    // each B panel together, meeting at a barrier before and after each panel.
    const idx per = (mt + t - 1) / t;  // micro-panels per member
    t = (int)((mt + per - 1) / per);
    const idx m_max = per * MR;
    std::lock_guard<std::mutex> hold(team_mu);
    float* bp = shared_b.a = PackBuffers::grow(shared_b.a, shared_b.a_cap, pack_b_floats(im.bl, NR, g.n, g.k));
    SpinBarrier bar;
    bar.n = t;
    auto work = [&](int w) {
      const idx i0 = (idx)w * m_max;
      const idx m = (g.m - i0 < m_max) ? g.m - i0 : m_max;
      PackBuffers& pb = tls_buffers;
      pb.a = PackBuffers::grow(pb.a, pb.a_cap, pack_a_floats(im.bl, MR, m_max, g.k));
      const Team team{w, t, &SpinBarrier::wait, &bar};
      gemm_team(g, im.ops, im.bl, i0, m, m_max, 0, g.n, pb.a, bp, team);
    };
    pool().run(t, work);
    return;
  }

  // Few rows (m < 2·t·MR): independent column blocks, each member packing its own A and B.
  if (t > nt) t = (int)nt;
  const idx nstep = ((nt + t - 1) / t) * NR;
  t = (int)((g.n + nstep - 1) / nstep);
  auto work = [&](int w) {
    const idx j0 = (idx)w * nstep;
    const idx n = (g.n - j0 < nstep) ? g.n - j0 : nstep;
    PackBuffers& pb = tls_buffers;
    pb.a = PackBuffers::grow(pb.a, pb.a_cap, pack_a_floats(im.bl, MR, g.m, g.k));
    pb.b = PackBuffers::grow(pb.b, pb.b_cap, pack_b_floats(im.bl, NR, n, g.k));
    gemm_tile(g, im.ops, im.bl, 0, g.m, j0, n, pb.a, pb.b);
  };
  pool().run(t, work);
}

namespace {
double thread_cpu_seconds() {
#if defined(__linux__) || defined(__APPLE__)
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#else
  return 0.0;
#endif
}
}  // namespace

Ceiling fma_ceiling(Isa isa, int threads, double seconds) {
  if (threads < 1) threads = 1;
#ifdef GEMM_X86
  if ((int)isa > (int)detect_isa()) return Ceiling{0.0, 0.0};
  void (*loop)(long) = isa == Isa::Avx512 ? fma_loop_avx512 : isa == Isa::Avx2 ? fma_loop_avx2 : nullptr;
  const long per_iter = isa == Isa::Avx512 ? FMA_LOOP_AVX512_FLOP_PER_ITER : FMA_LOOP_AVX2_FLOP_PER_ITER;
  if (!loop) return Ceiling{0.0, 0.0};
  // calibrate: iterations for ~seconds on one thread
  long iters = 1 << 14;
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    loop(iters);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (dt > 0.02 || iters > (1L << 40)) {
      iters = (long)((double)iters * seconds / dt) + 1;
      break;
    }
    iters *= 4;
  }
  std::atomic<int> ready{0};
  std::vector<std::thread> ts;
  std::vector<double> secs(threads, 0.0), cpu(threads, 0.0);
  // Fresh threads (not the GEMM pool) so the measurement is independent of pool state.
  for (int w = 0; w < threads; w++) {
    ts.emplace_back([&, w] {
      ready.fetch_add(1);
      while (ready.load() < threads) cpu_relax();
      const double c0 = thread_cpu_seconds();
      const auto t0 = std::chrono::steady_clock::now();
      loop(iters);
      secs[w] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      cpu[w] = thread_cpu_seconds() - c0;
    });
  }
  for (auto& t : ts) t.join();
  double slowest = 0.0, cpu_total = 0.0;
  for (int w = 0; w < threads; w++) {
    slowest = secs[w] > slowest ? secs[w] : slowest;
    cpu_total += cpu[w];
  }
  const double flop = (double)per_iter * (double)iters * threads;
  return Ceiling{flop / slowest / 1e9, cpu_total > 0 ? flop / cpu_total / 1e9 : 0.0};
#else
  (void)isa;
  (void)seconds;
  return Ceiling{0.0, 0.0};
#endif
}

}  // namespace gemm
