// Packed, register-blocked, cache-blocked float32 GEMM driver (Goto/BLIS loop nest), header-only.
//
//   C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C      (row-major)
//
// A is stored [m,k] (lda) or, when ta, [k,m]; B is stored [k,n] (ldb) or, when tb, [n,k].
// The driver is parameterised by a micro-kernel (MR rows x NR columns of C held in registers),
// so the same source serves the AVX-512, AVX2+FMA, scalar and WebAssembly SIMD builds. It uses
// no C or C++ library at all (the wasm32 build is freestanding).
//
// Loop nest (ic → pc → jc → ir → jr), the row-major mirror of BLIS's: the broadcast operand's
// micro-panel is the one that stays in L1, the vector operand streams from L2.
//   for ic in M by MC:           A block  op(A)[ic:ic+MC, pc:pc+KC], alpha folded in → Ap (L3)
//     for pc in K by KC:
//       for jc in N by NC:       B panel  op(B)[pc:pc+KC, jc:jc+NC] → Bp (L2), shared by a team
//         for ir in MC by MR:    A micro-panel MR x KC stays in L1 across the jr loop
//           for jr in NC by NR:  micro-kernel: MR x NR accumulators, KC rank-1 updates
// With MC >= M (the default) A is packed exactly once and B once per MC rows. Threads split the
// rows and pack each B panel together (gemm_team).
// Packing pads partial micro-panels with zeros; partial C tiles go through a small stack tile.
#pragma once

#ifndef GEMM_INLINE
#define GEMM_INLINE inline __attribute__((always_inline))
#endif

namespace gemm {

typedef long idx;

struct Args {
  bool ta, tb;
  idx m, n, k;
  const float* a;
  idx lda;
  const float* b;
  idx ldb;
  float* c;
  idx ldc;
  float alpha, beta;
};

struct Blocking {
  idx kc, mc, nc;
};

// Micro-kernel contract: Ap is a packed MR x kc micro-panel (for each p, MR consecutive values),
// Bp a packed kc x NR micro-panel (for each p, NR consecutive values). The kernel computes
// acc = Ap·Bp and stores C[i,j] = acc + beta*C[i,j], or C[i,j] = acc when beta == 0
// (so NaN/Inf already in C never leak through a zero beta).
typedef void (*MicroKernel)(idx kc, const float* Ap, const float* Bp, float* C, idx ldc, float beta);

// op(A) block [mc x kc] at (i0, p0) → MR-row micro-panels, scaled by alpha, zero padded.
template <int MR>
static void pack_a_generic(const Args& g, idx i0, idx p0, idx mc, idx kc, float* Ap) {
  const float alpha = g.alpha;
  for (idx ir = 0; ir < mc; ir += MR) {
    const idx mr = (mc - ir < MR) ? (mc - ir) : MR;
    float* dst = Ap + ir * kc;
    if (g.ta) {
      // stored [k, m]: for each p the MR values are contiguous
      const float* src = g.a + p0 * g.lda + (i0 + ir);
      if (mr == MR) {
        for (idx p = 0; p < kc; p++) {
          const float* s = src + p * g.lda;
          float* d = dst + p * MR;
          for (int r = 0; r < MR; r++) d[r] = alpha * s[r];
        }
      } else {
        for (idx p = 0; p < kc; p++) {
          const float* s = src + p * g.lda;
          float* d = dst + p * MR;
          int r = 0;
          for (; r < mr; r++) d[r] = alpha * s[r];
          for (; r < MR; r++) d[r] = 0.0f;
        }
      }
    } else {
      // stored [m, k]: row r is contiguous along p; write with stride MR
      const float* src = g.a + (i0 + ir) * g.lda + p0;
      int r = 0;
      for (; r < mr; r++) {
        const float* s = src + r * g.lda;
        for (idx p = 0; p < kc; p++) dst[p * MR + r] = alpha * s[p];
      }
      for (; r < MR; r++)
        for (idx p = 0; p < kc; p++) dst[p * MR + r] = 0.0f;
    }
  }
}

// op(B) panel [kc x nc] at (p0, j0) → NR-column micro-panels, zero padded.
template <int NR>
static void pack_b_generic(const Args& g, idx p0, idx j0, idx kc, idx nc, float* Bp) {
  for (idx jr = 0; jr < nc; jr += NR) {
    const idx nr = (nc - jr < NR) ? (nc - jr) : NR;
    float* dst = Bp + jr * kc;
    if (!g.tb) {
      // stored [k, n]: for each p the NR values are contiguous
      const float* src = g.b + p0 * g.ldb + (j0 + jr);
      if (nr == NR) {
        for (idx p = 0; p < kc; p++) {
          const float* s = src + p * g.ldb;
          float* d = dst + p * NR;
          for (int j = 0; j < NR; j++) d[j] = s[j];
        }
      } else {
        for (idx p = 0; p < kc; p++) {
          const float* s = src + p * g.ldb;
          float* d = dst + p * NR;
          int j = 0;
          for (; j < nr; j++) d[j] = s[j];
          for (; j < NR; j++) d[j] = 0.0f;
        }
      }
    } else {
      // stored [n, k]: column j of op(B) is contiguous along p; four columns at a time keep the
      // reads sequential and the writes inside one micro-panel.
      const float* src = g.b + (j0 + jr) * g.ldb + p0;
      int j = 0;
      for (; j + 4 <= nr; j += 4) {
        const float* s0 = src + (j + 0) * g.ldb;
        const float* s1 = src + (j + 1) * g.ldb;
        const float* s2 = src + (j + 2) * g.ldb;
        const float* s3 = src + (j + 3) * g.ldb;
        for (idx p = 0; p < kc; p++) {
          float* d = dst + p * NR + j;
          d[0] = s0[p];
          d[1] = s1[p];
          d[2] = s2[p];
          d[3] = s3[p];
        }
      }
      for (; j < nr; j++) {
        const float* s = src + j * g.ldb;
        for (idx p = 0; p < kc; p++) dst[p * NR + j] = s[p];
      }
      for (; j < NR; j++)
        for (idx p = 0; p < kc; p++) dst[p * NR + j] = 0.0f;
    }
  }
}

// C[m,n] = beta*C (used when k == 0 or alpha == 0)
static void scale_c(const Args& g) {
  for (idx i = 0; i < g.m; i++) {
    float* c = g.c + i * g.ldc;
    if (g.beta == 0.0f)
      for (idx j = 0; j < g.n; j++) c[j] = 0.0f;
    else if (g.beta != 1.0f)
      for (idx j = 0; j < g.n; j++) c[j] *= g.beta;
  }
}

typedef void (*PackA)(const Args& g, idx i0, idx p0, idx mc, idx kc, float* Ap);
typedef void (*PackB)(const Args& g, idx p0, idx j0, idx kc, idx nc, float* Bp);

// What one instruction set brings: the micro-kernel, its tile, and packing routines that produce
// the layout the kernel reads (the templates above, or faster ISA-specific ones).
struct Ops {
  int mr, nr;
  MicroKernel kern;
  PackA pack_a;
  PackB pack_b;
};

// Threads that share packed B panels: member `id` of `size`; barrier() returns once every member
// has called it. A team of one needs no barrier.
struct Team {
  int id, size;
  void (*barrier)(void* ctx);
  void* ctx;
  void sync() const {
    if (size > 1) barrier(ctx);
  }
};

// One MR x NR tile of C (+)= micro-panel ap · micro-panel bp; a partial tile goes through a stack tile.
static GEMM_INLINE void compute_tile(const Args& g, const Ops& ops, idx i, idx mr, idx j, idx nr, idx kc, float beta,
                                     const float* ap, const float* bp) {
  float* c = g.c + i * g.ldc + j;
  if (mr == ops.mr && nr == ops.nr) {
    ops.kern(kc, ap, bp, c, g.ldc, beta);
    return;
  }
  alignas(64) float tile[16 * 64];  // MR * NR <= 1024
  const int NR = ops.nr;
  ops.kern(kc, ap, bp, tile, NR, 0.0f);
  for (idx r = 0; r < mr; r++) {
    float* ci = c + r * g.ldc;
    const float* ti = tile + r * NR;
    if (beta == 0.0f)
      for (idx q = 0; q < nr; q++) ci[q] = ti[q];
    else
      for (idx q = 0; q < nr; q++) ci[q] = ti[q] + beta * ci[q];
  }
}

// C[i0:i0+mc, j0:j0+nc] (+)= packed A block (mc x kc) · packed B panel (kc x nc): the ir/jr loops
// around the micro-kernel. Every tile gets the same operations in either loop order.
// b_outer false (ir outer): an A micro-panel meets every B micro-panel of the panel, which the team
// packed into L2 just before. b_outer true (jr outer): a B micro-panel meets every A micro-panel of
// the block in a row. When B is packed whole (gemm_rows_packed_b) each row chunk reads it from L3 or
// memory, and with ir outer the chunk's first A micro-panel streamed the whole panel from there at
// the kernel's pace (~9 bytes a cycle); jr outer reads each B micro-panel from memory once and then
// from L2, while the block's A (at most 16 micro-panels, 344 KiB) stays in L2.
// docs/perf/signround-iteration.md, "Round 4".
static void compute_block(const Args& g, const Ops& ops, idx i0, idx mc, idx j0, idx nc, idx kc, float beta,
                          const float* Ap, const float* Bp, bool b_outer = false) {
  const int MR = ops.mr, NR = ops.nr;
  if (b_outer) {
    for (idx jr = 0; jr < nc; jr += NR) {
      const idx nr = (nc - jr < NR) ? (nc - jr) : NR;
      for (idx ir = 0; ir < mc; ir += MR)
        compute_tile(g, ops, i0 + ir, (mc - ir < MR) ? (mc - ir) : MR, j0 + jr, nr, kc, beta, Ap + ir * kc, Bp + jr * kc);
    }
    return;
  }
  for (idx ir = 0; ir < mc; ir += MR) {
    const idx mr = (mc - ir < MR) ? (mc - ir) : MR;
    for (idx jr = 0; jr < nc; jr += NR)
      compute_tile(g, ops, i0 + ir, mr, j0 + jr, (nc - jr < NR) ? (nc - jr) : NR, kc, beta, Ap + ir * kc, Bp + jr * kc);
  }
}

// C[i0:i0+m, j0:j0+n] of g, for one member of a team. Every member passes the same j0, n and Bp
// (the shared B panel, pack_b_floats), its own rows i0..i0+m and its own Ap (pack_a_floats for
// m_max rows), and m_max = the largest m of any member, so all run the same loop trip counts and
// meet at the same barriers. Members pack the B micro-panels round-robin, wait for each other,
// multiply their own rows, and wait again before the panel is overwritten.
static void gemm_team(const Args& g, const Ops& ops, const Blocking& bl, idx i0, idx m, idx m_max, idx j0, idx n,
                      float* Ap, float* Bp, const Team& team) {
  const int NR = ops.nr;
  if (n <= 0 || m_max <= 0) return;
  if (g.k == 0 || g.alpha == 0.0f) {
    if (m > 0) {
      Args s = g;
      s.m = m;
      s.n = n;
      s.c = g.c + i0 * g.ldc + j0;
      scale_c(s);
    }
    return;
  }
  for (idx ic = 0; ic < m_max; ic += bl.mc) {
    const idx mc = (m - ic < bl.mc) ? (m - ic > 0 ? m - ic : 0) : bl.mc;
    for (idx pc = 0; pc < g.k; pc += bl.kc) {
      const idx kc = (g.k - pc < bl.kc) ? (g.k - pc) : bl.kc;
      const float beta = (pc == 0) ? g.beta : 1.0f;
      if (mc > 0) ops.pack_a(g, i0 + ic, pc, mc, kc, Ap);
      for (idx jc = 0; jc < n; jc += bl.nc) {
        const idx nc = (n - jc < bl.nc) ? (n - jc) : bl.nc;
        const idx panels = (nc + NR - 1) / NR;
        for (idx q = team.id; q < panels; q += team.size) {
          const idx jr = q * NR;
          ops.pack_b(g, pc, j0 + jc + jr, kc, (nc - jr < NR) ? nc - jr : NR, Bp + jr * kc);
        }
        team.sync();
        compute_block(g, ops, i0 + ic, mc, j0 + jc, nc, kc, beta, Ap, Bp);
        team.sync();
      }
    }
  }
}

// All of op(B) packed at once, panel after panel in (pc, jc) order: the panel at (pc, jc) starts at
// Bp + pc * npad + jc * kc (npad = n rounded up to NR). Member `id` of `size` packs the id-th of
// `size` runs of whole micro-panels of every panel, in one pack_b call, so that a packer reading
// B row by row reads runs of rows, not 32-float pieces (docs/perf/signround-iteration.md, "Round 4").
static inline idx round_up(idx x, idx r) { return (x + r - 1) / r * r; }
static inline idx pack_b_all_floats(const Args& g, int NR) { return g.k * round_up(g.n, NR); }
static void pack_b_all(const Args& g, const Ops& ops, const Blocking& bl, float* Bp, int id, int size) {
  const int NR = ops.nr;
  const idx npad = round_up(g.n, NR);
  for (idx pc = 0; pc < g.k; pc += bl.kc) {
    const idx kc = (g.k - pc < bl.kc) ? (g.k - pc) : bl.kc;
    for (idx jc = 0; jc < g.n; jc += bl.nc) {
      const idx nc = (g.n - jc < bl.nc) ? (g.n - jc) : bl.nc;
      const idx panels = (nc + NR - 1) / NR;
      const idx q0 = panels * id / size, q1 = panels * (id + 1) / size;
      if (q1 <= q0) continue;
      const idx j0 = q0 * NR, j1 = q1 * NR < nc ? q1 * NR : nc;
      ops.pack_b(g, pc, jc + j0, kc, j1 - j0, Bp + pc * npad + (jc + j0) * kc);
    }
  }
}

// Rows i0..i0+m (m <= bl.mc) of C against a B packed by pack_b_all: no synchronisation needed, so
// threads can take row chunks from a shared counter.
static void gemm_rows_packed_b(const Args& g, const Ops& ops, const Blocking& bl, idx i0, idx m, const float* Bp,
                               float* Ap) {
  const idx npad = round_up(g.n, ops.nr);
  for (idx pc = 0; pc < g.k; pc += bl.kc) {
    const idx kc = (g.k - pc < bl.kc) ? (g.k - pc) : bl.kc;
    const float beta = (pc == 0) ? g.beta : 1.0f;
    ops.pack_a(g, i0, pc, m, kc, Ap);
    for (idx jc = 0; jc < g.n; jc += bl.nc) {
      const idx nc = (g.n - jc < bl.nc) ? (g.n - jc) : bl.nc;
      compute_block(g, ops, i0, m, jc, nc, kc, beta, Ap, Bp + pc * npad + jc * kc, true);
    }
  }
}

// Single-threaded C[i0:i0+m, j0:j0+n] of g.
static inline void gemm_tile(const Args& g, const Ops& ops, const Blocking& bl, idx i0, idx m, idx j0, idx n,
                             float* Ap, float* Bp) {
  const Team solo{0, 1, nullptr, nullptr};
  gemm_team(g, ops, bl, i0, m, m, j0, n, Ap, Bp, solo);
}

// Pack buffer sizes (floats) for an m x n x k tile under a blocking, rounded up to whole micro-panels.
static inline idx pack_a_floats(const Blocking& bl, int MR, idx m, idx k) {
  const idx mc = m < bl.mc ? m : bl.mc, kc = k < bl.kc ? k : bl.kc;
  return ((mc + MR - 1) / MR) * MR * kc;
}
static inline idx pack_b_floats(const Blocking& bl, int NR, idx n, idx k) {
  const idx nc = n < bl.nc ? n : bl.nc, kc = k < bl.kc ? k : bl.kc;
  return ((nc + NR - 1) / NR) * NR * kc;
}

}  // namespace gemm
