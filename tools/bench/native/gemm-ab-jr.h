#pragma once
// Loop orders tried in gemm-ab.cc (v2: jr outer, now compute_block(..., true); v3/v4: plus the next B
// micro-panel fetched to L2 / L3 a slice per call, not kept).
namespace gemm {
// compute_block with jr outer, ir inner: each B micro-panel is used by every A micro-panel of the
// block in a row, while the next one is fetched to L2 a slice per call (BPF: 0 none, 1 T1, 2 T2)
template <int BPF>
static void compute_block_jr(const Args& g, const Ops& ops, idx i0, idx mc, idx j0, idx nc, idx kc, float beta,
                          const float* Ap, const float* Bp) {
  const int MR = ops.mr, NR = ops.nr;
  const idx mpanels = (mc + MR - 1) / MR;
  const idx bytes = (idx)NR * kc * 4;  // one B micro-panel
  const idx per = ((bytes / 64 + mpanels - 1) / mpanels) * 64;  // bytes of the next one per call
  for (idx jr = 0; jr < nc; jr += NR) {
    const idx nr = (nc - jr < NR) ? (nc - jr) : NR;
    const float* bp = Bp + jr * kc;
    const char* next = (const char*)(bp + NR * kc);
    const bool has_next = jr + NR < nc;
    idx q = 0;
    for (idx ir = 0; ir < mc; ir += MR) {
      const idx mr = (mc - ir < MR) ? (mc - ir) : MR;
      const float* ap = Ap + ir * kc;
      if (BPF && has_next) {
        for (idx b = 0; b < per && q < bytes; b += 64, q += 64) _mm_prefetch(next + q, BPF == 1 ? _MM_HINT_T1 : _MM_HINT_T2);
      }
      compute_tile(g, ops, i0 + ir, mr, j0 + jr, nr, kc, beta, ap, bp);
    }
  }
}
template <int BPF>
static void rows_jr(const Args& g, const Ops& ops, const Blocking& bl, idx i0, idx m, const float* Bp, float* Ap) {
  const idx npad = round_up(g.n, ops.nr);
  for (idx pc = 0; pc < g.k; pc += bl.kc) {
    const idx kc = (g.k - pc < bl.kc) ? (g.k - pc) : bl.kc;
    const float beta = (pc == 0) ? g.beta : 1.0f;
    ops.pack_a(g, i0, pc, m, kc, Ap);
    for (idx jc = 0; jc < g.n; jc += bl.nc) {
      const idx nc = (g.n - jc < bl.nc) ? (g.n - jc) : bl.nc;
      compute_block_jr<BPF>(g, ops, i0, m, jc, nc, kc, beta, Ap, Bp + pc * npad + jc * kc);
    }
  }
}
}
