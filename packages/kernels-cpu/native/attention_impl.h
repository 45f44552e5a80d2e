// Fused causal GQA softmax attention (forward with per-row log-sum-exp; flash-style backward),
// included once per instruction set by attention.cc inside namespace ATTN_NS with a target pragma.
// Work unit: forward one (batch, head); backward one (batch, kv head) so that each task owns its
// dK/dV and results do not depend on the number of threads.
namespace ATTN_NS {

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));
constexpr int W = 16;  // columns per vector
constexpr int R = 8;   // query rows per register tile

static inline v16 ld(const float* p) { return *(const v16u*)p; }
static inline void st(float* p, v16 v) { *(v16u*)p = v; }

// e^x, ~1 ulp in float over the range that matters, branch free. The exponent is clamped to
// [−127, 126]: 2^−127 has the bits 0, so e^−∞ (a masked score) is exactly 0, as the TypeScript
// fastExp's result stored in float32; NaN stays NaN (its exponent is read as 0, not converted).
static inline float fexp(float x) {
  float t = x * 1.44269504088896341f;
  t = t < -127.f ? -127.f : (t > 126.f ? 126.f : t);
  const float k = (t + 12582912.f) - 12582912.f;
  const float y = (t - k) * 0.693147180559945309f;
  const float p =
      1.f + y * (1.f + y * (0.5f + y * (0.166666666666666667f + y * (0.0416666666666666667f +
                                    y * (0.00833333333333333333f + y * (0.00138888888888888889f + y * 0.000198412698412698413f))))));
  int bits = ((k == k ? (int)k : 0) + 127) << 23;
  float s;
  __builtin_memcpy(&s, &bits, 4);
  return p * s;
}

// S[r][j] = Σ_d A[r][d]·BT(d, j) for r < R, j < ncols (multiple of W); A is R×D, BT is packed by pack_t in
// strips of W columns (strip j / W holds D rows of W values), so each vector column streams D·W contiguous floats
// (rows Tp floats apart put all D lines of a column in two L1 sets). NB column vectors at a time share each
// broadcast of A[r][d] (R·NB accumulators: NB = 3 with AVX-512's 32 registers, 1 elsewhere); every S[r][j] adds
// its terms in ascending d whatever NB or layout, so neither changes a bit. With rows_times_b's NB = 3 the
// bench-shape forward took 0.88x the CPU time.
template <int NB>
static inline void rows_times_bt_nb(const float* A, int D, const float* BT, int j0, float* S, int Tp) {
  v16 acc[R][NB];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < NB; c++) acc[r][c] = (v16){};
  const float* strip = BT + (size_t)(j0 / W) * D * W;
  for (int d = 0; d < D; d++) {
    v16 b[NB];
    for (int c = 0; c < NB; c++) b[c] = ld(strip + (size_t)c * D * W + (size_t)d * W);
    for (int r = 0; r < R; r++) {
      const float x = A[r * D + d];
      for (int c = 0; c < NB; c++) acc[r][c] += x * b[c];
    }
  }
  for (int r = 0; r < R; r++)
    for (int c = 0; c < NB; c++) st(S + (size_t)r * Tp + j0 + c * W, acc[r][c]);
}
static inline void rows_times_bt(const float* A, int D, const float* BT, int Tp, int ncols, float* S) {
  int j0 = 0;
#ifdef ATTN_REGISTER_BLOCKED
  for (; j0 + 3 * W <= ncols; j0 += 3 * W) rows_times_bt_nb<3>(A, D, BT, j0, S, Tp);
  for (; j0 + 2 * W <= ncols; j0 += 2 * W) rows_times_bt_nb<2>(A, D, BT, j0, S, Tp);
#endif
  for (; j0 < ncols; j0 += W) rows_times_bt_nb<1>(A, D, BT, j0, S, Tp);
}

// O[r][:] = Σ_j P[r][j]·Bp[j][:] for r < R over j < nj, and for j ≥ diag only while j ≤ diag + r: the
// causal diagonal, where row r's later columns are zeros that must not be multiplied (0·NaN or 0·Inf
// from a later position's value would reach an earlier row). diag ≥ nj: every column. Bp is nj×Dp
// (Dp multiple of W), O is R×Dp. NB vectors of d at a time share each broadcast of P[r][j]; each
// O[r][d] adds its terms in ascending j whatever NB.
template <int NB>
static inline void rows_times_b_nb(const float* P, int Tp, const float* Bp, int Dp, int nj, int full, int diag, int d0,
                                   float* O) {
  v16 acc[R][NB];
  for (int r = 0; r < R; r++)
    for (int c = 0; c < NB; c++) acc[r][c] = (v16){};
  for (int j = 0; j < full; j++) {
    v16 b[NB];
    for (int c = 0; c < NB; c++) b[c] = ld(Bp + (size_t)j * Dp + d0 + c * W);
    for (int r = 0; r < R; r++) {
      const float x = P[(size_t)r * Tp + j];
      for (int c = 0; c < NB; c++) acc[r][c] += x * b[c];
    }
  }
  for (int j = full; j < nj; j++) {
    v16 b[NB];
    for (int c = 0; c < NB; c++) b[c] = ld(Bp + (size_t)j * Dp + d0 + c * W);
    // a test per row rather than a loop from j − diag: acc stays in registers with constant indices
    for (int r = 0; r < R; r++)
      if (r >= j - diag) {
        const float x = P[(size_t)r * Tp + j];
        for (int c = 0; c < NB; c++) acc[r][c] += x * b[c];
      }
  }
  for (int r = 0; r < R; r++)
    for (int c = 0; c < NB; c++) st(O + (size_t)r * Dp + d0 + c * W, acc[r][c]);
}
static inline void rows_times_b(const float* P, int Tp, const float* Bp, int Dp, int nj, int diag, float* O) {
  const int full = std::min(nj, diag);
  int d0 = 0;
#ifdef ATTN_REGISTER_BLOCKED
  for (; d0 + 3 * W <= Dp; d0 += 3 * W) rows_times_b_nb<3>(P, Tp, Bp, Dp, nj, full, diag, d0, O);
  for (; d0 + 2 * W <= Dp; d0 += 2 * W) rows_times_b_nb<2>(P, Tp, Bp, Dp, nj, full, diag, d0, O);
#endif
  for (; d0 < Dp; d0 += W) rows_times_b_nb<1>(P, Tp, Bp, Dp, nj, full, diag, d0, O);
}

// G[j][:] += Σ_r P[r][j]·X[r][:] for j < nj, rows r ≥ j − diag only (the causal diagonal, as in
// rows_times_b); X is R×Dp, G is nj×Dp. Every G[j][d] adds its terms in ascending r, one fused
// multiply-add each, whatever the loop order around it (so the blocked variant below has the bits of
// the plain one).
template <int RR>
static inline void acc_pt_x_plain(const float* P, int Tp, const float* X, int Dp, int j0, int nj, int diag, int d0,
                                  float* G) {
  for (int j = j0; j < nj; j++) {
    float* g = G + (size_t)j * Dp;
    const int r0 = j < diag ? 0 : j - diag;
    for (int d = d0; d < Dp; d += W) {
      v16 a = ld(g + d);
      for (int r = r0; r < RR; r++) a += P[(size_t)r * Tp + j] * ld(X + r * Dp + d);
      st(g + d, a);
    }
  }
}
#ifdef ATTN_REGISTER_BLOCKED
// With 32 vector registers: JB = 4 rows of G, NV = 4 vectors (64 floats) each, stay in registers across
// the R query rows, so each vector of X is loaded once for four rows of G, and G is loaded and stored
// once per R query rows instead of once per query row: 0.5 loads per FMA instead of 2. On the bench's
// shape (batch 8 x 512, 16/8 heads of 128, causal) the backward took 0.63x the CPU time of the plain
// loop (JB x NV = 2x8: 0.79x, 4x8: 0.70x, 6x4: 0.67x, 8x2: 0.68x; docs/perf/signround-iteration.md),
// 0.55x with the tiled pack_t below.
template <int RR>
static inline void acc_pt_x(const float* P, int Tp, const float* X, int Dp, int nj, int diag, float* G) {
  constexpr int NV = 4, JB = 4;
  int d0 = 0;
  for (; d0 + NV * W <= Dp; d0 += NV * W) {
    int j = 0;
    // JB rows of G at a time that take every query row (above the causal diagonal's rows)
    for (; j + JB <= nj && j + JB <= diag; j += JB) {
      float* g0 = G + (size_t)j * Dp + d0;
      v16 a[JB][NV];
      for (int u = 0; u < JB; u++)
        for (int v = 0; v < NV; v++) a[u][v] = ld(g0 + (size_t)u * Dp + v * W);
      for (int r = 0; r < RR; r++) {
        float p[JB];
        for (int u = 0; u < JB; u++) p[u] = P[(size_t)r * Tp + j + u];
        const float* x = X + r * Dp + d0;
        for (int v = 0; v < NV; v++) {
          const v16 xv = ld(x + v * W);
          for (int u = 0; u < JB; u++) a[u][v] += p[u] * xv;
        }
      }
      for (int u = 0; u < JB; u++)
        for (int v = 0; v < NV; v++) st(g0 + (size_t)u * Dp + v * W, a[u][v]);
    }
    // the rest (up to JB - 1 rows, and the rows on the causal diagonal), one row of G at a time
    for (; j < nj; j++) {
      float* g = G + (size_t)j * Dp + d0;
      const int r0 = j < diag ? 0 : j - diag;
      v16 a[NV];
      for (int v = 0; v < NV; v++) a[v] = ld(g + v * W);
      for (int r = r0; r < RR; r++) {
        const float p = P[(size_t)r * Tp + j];
        const float* x = X + r * Dp + d0;
        for (int v = 0; v < NV; v++) a[v] += p * ld(x + v * W);
      }
      for (int v = 0; v < NV; v++) st(g + v * W, a[v]);
    }
  }
  if (d0 < Dp) acc_pt_x_plain<RR>(P, Tp, X, Dp, 0, nj, diag, d0, G);
}
#else
template <int RR>
static inline void acc_pt_x(const float* P, int Tp, const float* X, int Dp, int nj, int diag, float* G) {
  acc_pt_x_plain<RR>(P, Tp, X, Dp, 0, nj, diag, 0, G);
}
#endif

struct Buf {
  std::vector<float> kt, vp, kp, vt, q, qp, dop, dopd, s, p, dp, o, dk, dv;
};
static Buf& buf() {
  static thread_local Buf b;
  return b;
}
static inline float* sized(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// KT(d, j) = X[row0 + j][col + d], zero padded to Tp columns, in strips of W columns: KT + (j / W)·D·W + d·W +
// j % W (rows_times_bt's layout); XP[j][d] likewise, rows padded to Dp. pack_t goes through W x W tiles on the
// stack: read W floats of W rows, write W floats of W rows of KT (a store per element at a stride of Tp floats was
// ~10% of the backward); only the padding is zero-filled. A copy either way: the packed values are the same.
static void pack_t(const float* X, size_t row0, int T, int Tp, int stride, int col, int D, float* KT) {
  int j0 = 0;
  for (; j0 + W <= T; j0 += W) {
    float* strip = KT + (size_t)(j0 / W) * D * W;
    for (int d0 = 0; d0 < D; d0 += W) {
      const int dn = std::min(W, D - d0);
      float t[W][W];
      for (int jj = 0; jj < W; jj++) {
        const float* x = X + (row0 + j0 + jj) * stride + col + d0;
        for (int dd = 0; dd < dn; dd++) t[dd][jj] = x[dd];
      }
      for (int dd = 0; dd < dn; dd++) std::memcpy(strip + (size_t)(d0 + dd) * W, t[dd], sizeof(float) * W);
    }
  }
  if (j0 < Tp) {  // the last, partial strip: its rows, then zeros in the padding columns
    float* strip = KT + (size_t)(j0 / W) * D * W;
    for (int d = 0; d < D; d++) {
      for (int j = j0; j < T; j++) strip[(size_t)d * W + (j - j0)] = X[(row0 + j) * stride + col + d];
      std::fill(strip + (size_t)d * W + (T - j0), strip + (size_t)(d + 1) * W, 0.f);
    }
  }
}
static void pack_p(const float* X, size_t row0, int T, int Tp, int stride, int col, int D, int Dp, float* XP) {
  for (int j = 0; j < T; j++) {
    std::memcpy(XP + (size_t)j * Dp, X + (row0 + j) * stride + col, sizeof(float) * D);
    std::fill(XP + (size_t)j * Dp + D, XP + (size_t)(j + 1) * Dp, 0.f);
  }
  std::fill(XP + (size_t)T * Dp, XP + (size_t)Tp * Dp, 0.f);
}

static inline int round_up(int x, int r) { return (x + r - 1) / r * r; }

// max over s[0..n) of the values that are not NaN (−∞ if none), as the scalar `mx = s[j] > mx ? s[j] : mx`
// gives: W lanes each take that running maximum over their columns, then the lanes are combined the same way.
// Only the choice between equal values can differ (+0 against −0), and no result depends on it: s − (±0) and
// the log-sum-exp's ±0 + log(sum) give the same bits either way.
static inline float row_max(const float* s, int n) {
  v16 m = (v16){} - INFINITY;
  int j = 0;
  for (; j + W <= n; j += W) {
    const v16 x = ld(s + j);
    m = x > m ? x : m;
  }
  float mx = -INFINITY;
  for (int l = 0; l < W; l++) mx = m[l] > mx ? m[l] : mx;
  for (; j < n; j++) mx = s[j] > mx ? s[j] : mx;
  return mx;
}

// Task = `per` consecutive query heads of one batch row (per divides H / KV, so they share one KV head):
// K and V are packed once for all of them. Each head's rows are computed exactly as on their own.
static void forward_task(const AttnArgs& a, long task, int per) {
  const int T = a.T, H = a.H, KV = a.KV, D = a.D;
  const int b = (int)(task / (H / per)), h0 = (int)(task % (H / per)) * per, kh = h0 / (H / KV);
  const int qs = H * D, ks = KV * D;
  const int Tp = round_up(T, W), Dp = round_up(D, W);
  Buf& B = buf();
  float* KT = sized(B.kt, (size_t)D * Tp);
  float* Vp = sized(B.vp, (size_t)Tp * Dp);
  float* Q = sized(B.q, (size_t)R * D);
  float* S = sized(B.s, (size_t)R * Tp);
  float* O = sized(B.o, (size_t)R * Dp);
  const size_t row0 = (size_t)b * T;
  pack_t(a.k, row0, T, Tp, ks, kh * D, D, KT);
  pack_p(a.v, row0, T, Tp, ks, kh * D, D, Dp, Vp);
  for (int h = h0; h < h0 + per; h++)
  for (int i0 = 0; i0 < T; i0 += R) {
    const int nr = std::min(R, T - i0);
    for (int r = 0; r < R; r++) {
      if (r < nr) std::memcpy(Q + r * D, a.q + (row0 + i0 + r) * qs + h * D, sizeof(float) * D);
      else std::fill(Q + r * D, Q + (r + 1) * D, 0.f);
    }
    const int lmax = a.causal ? i0 + nr : T;
    const int nc = round_up(lmax, W);
    rows_times_bt(Q, D, KT, Tp, nc, S);
    bool dead[R];
    float mxs[R];
    for (int r = 0; r < R; r++) {
      float* s = S + (size_t)r * Tp;
      const int t = i0 + r;
      dead[r] = false;
      if (r >= nr) {
        std::fill(s, s + nc, 0.f);
        continue;
      }
      const int lim = a.causal ? t + 1 : T;
      const float* m = a.mask ? a.mask + (row0 + t) * T : nullptr;
      float mx = -INFINITY;
      if (m) {
        for (int j = 0; j < lim; j++) s[j] = s[j] * a.scale + m[j];
      } else {
        for (int j = 0; j < lim; j++) s[j] = s[j] * a.scale;
      }
      mx = row_max(s, lim);
      // The maximum skips NaN: a row with a NaN beside numbers turns NaN through exp(NaN − max) below,
      // but a row of NaN only would look masked out (zeros). Checked here, off the vectorized loop.
      if (mx == -INFINITY)
        for (int j = 0; j < lim; j++)
          if (s[j] != s[j]) {
            mx = s[j];
            break;
          }
      float* l = a.lse + ((size_t)b * H + h) * T + t;
      if (mx == -INFINITY) {
        std::fill(s, s + nc, 0.f);
        *l = -INFINITY;
        dead[r] = true;
        continue;
      }
      for (int j = 0; j < lim; j++) s[j] = fexp(s[j] - mx);
      for (int j = lim; j < nc; j++) s[j] = 0.f;
      mxs[r] = mx;
    }
    // Each row's sum adds its exponentials in column order, as one loop per row would; the tile's rows are
    // interleaved so that their R dependency chains overlap (one chain ran at the add's latency). Columns past a
    // row's limit hold +0 and leave its sum's bits alone (a sum of values >= +0 starting at +0 is never −0).
    float sums[R] = {};
    for (int j = 0; j < nc; j++)
      for (int r = 0; r < R; r++) sums[r] += S[(size_t)r * Tp + j];
    for (int r = 0; r < nr; r++) {
      if (dead[r]) continue;
      float* s = S + (size_t)r * Tp;
      const int lim = a.causal ? i0 + r + 1 : T;
      const float inv = 1.f / sums[r];
      for (int j = 0; j < lim; j++) s[j] *= inv;
      a.lse[((size_t)b * H + h) * T + i0 + r] = mxs[r] + std::log(sums[r]);
    }
    rows_times_b(S, Tp, Vp, Dp, lmax, a.causal ? i0 : lmax, O);
    for (int r = 0; r < nr; r++) {
      float* o = a.out + (row0 + i0 + r) * qs + h * D;
      // a row the mask removes entirely is 0 even where a value is NaN or Inf
      if (dead[r]) std::fill(o, o + D, 0.f);
      else std::memcpy(o, O + (size_t)r * Dp, sizeof(float) * D);
    }
  }
}

static void backward_task(const AttnArgs& a, long task) {
  const int T = a.T, H = a.H, KV = a.KV, D = a.D, nrep = H / KV;
  const int b = (int)(task / KV), kh = (int)(task % KV);
  const int qs = H * D, ks = KV * D;
  const int Tp = round_up(T, W), Dp = round_up(D, W);
  const bool needS = a.gq || a.gk;
  // Tiles of RB = 2R query rows: dK and dV rows are loaded and stored once per RB query rows in acc_pt_x (each
  // of their elements still adds its terms one FMA at a time in ascending query row, as with R-row tiles: the
  // same bits); the products into P, dP and dQ run on R-row halves (their register tiles hold R rows).
  // With pack_t's strips, the bench shape's backward took 0.85x the CPU time (docs/perf/signround-iteration.md,
  // "QDQ and attention loops").
  constexpr int RB = 2 * R;
  Buf& B = buf();
  float* KT = sized(B.kt, (size_t)D * Tp);
  float* Kp = sized(B.kp, (size_t)Tp * Dp);
  float* VT = sized(B.vt, (size_t)D * Tp);
  float* Q = sized(B.q, (size_t)RB * D);
  float* Qp = sized(B.qp, (size_t)RB * Dp);
  float* dO = sized(B.dop, (size_t)RB * D);
  float* dOp = sized(B.dopd, (size_t)RB * Dp);
  float* P = sized(B.p, (size_t)RB * Tp);
  float* dP = sized(B.dp, (size_t)RB * Tp);
  float* dQ = sized(B.o, (size_t)RB * Dp);
  float* dK = sized(B.dk, (size_t)Tp * Dp);
  float* dV = sized(B.dv, (size_t)Tp * Dp);
  const size_t row0 = (size_t)b * T;
  pack_t(a.k, row0, T, Tp, ks, kh * D, D, KT);
  pack_p(a.k, row0, T, Tp, ks, kh * D, D, Dp, Kp);
  pack_t(a.v, row0, T, Tp, ks, kh * D, D, VT);
  std::fill(dK, dK + (size_t)Tp * Dp, 0.f);
  std::fill(dV, dV + (size_t)Tp * Dp, 0.f);
  std::fill(Qp, Qp + (size_t)RB * Dp, 0.f);
  std::fill(dOp, dOp + (size_t)RB * Dp, 0.f);
  float Dv[RB];
  for (int rep = 0; rep < nrep; rep++) {
    const int h = kh * nrep + rep;
    for (int i0 = 0; i0 < T; i0 += RB) {
      const int nr = std::min(RB, T - i0);
      for (int r = 0; r < RB; r++) {
        if (r < nr) {
          const size_t o = (row0 + i0 + r) * qs + h * D;
          std::memcpy(Q + r * D, a.q + o, sizeof(float) * D);
          std::memcpy(Qp + r * Dp, a.q + o, sizeof(float) * D);
          std::memcpy(dO + r * D, a.gout + o, sizeof(float) * D);
          std::memcpy(dOp + r * Dp, a.gout + o, sizeof(float) * D);
          float s = 0.f;
          for (int d = 0; d < D; d++) s += a.gout[o + d] * a.out[o + d];
          Dv[r] = s;
        } else {
          std::fill(Q + r * D, Q + (r + 1) * D, 0.f);
          std::fill(Qp + r * Dp, Qp + (r + 1) * Dp, 0.f);
          std::fill(dO + r * D, dO + (r + 1) * D, 0.f);
          std::fill(dOp + r * Dp, dOp + (r + 1) * Dp, 0.f);
          Dv[r] = 0.f;
        }
      }
      const int lmax = a.causal ? i0 + nr : T;
      const int nc = round_up(lmax, W);
      const int diag = a.causal ? i0 : lmax;
      for (int hh = 0; hh < RB; hh += R) rows_times_bt(Q + hh * D, D, KT, Tp, nc, P + (size_t)hh * Tp);
      bool dead[RB];
      for (int r = 0; r < RB; r++) {
        float* p = P + (size_t)r * Tp;
        const int t = i0 + r;
        const float l = r < nr ? a.lse[((size_t)b * H + h) * T + t] : -INFINITY;
        dead[r] = l == -INFINITY;
        if (dead[r]) {
          // no gradient through a removed row: its dO and q take no part in the products below
          // (0·NaN would otherwise reach dV and dK)
          std::fill(p, p + nc, 0.f);
          std::fill(Qp + r * Dp, Qp + (r + 1) * Dp, 0.f);
          std::fill(dOp + r * Dp, dOp + (r + 1) * Dp, 0.f);
          continue;
        }
        const int lim = a.causal ? t + 1 : T;
        if (a.mask) {
          const float* m = a.mask + (row0 + t) * T;
          for (int j = 0; j < lim; j++) p[j] = fexp(p[j] * a.scale + m[j] - l);
        } else {
          for (int j = 0; j < lim; j++) p[j] = fexp(p[j] * a.scale - l);
        }
        for (int j = lim; j < nc; j++) p[j] = 0.f;
      }
      if (a.gv) acc_pt_x<RB>(P, Tp, dOp, Dp, lmax, diag, dV);
      if (!needS) continue;
      for (int hh = 0; hh < RB; hh += R) rows_times_bt(dO + hh * D, D, VT, Tp, nc, dP + (size_t)hh * Tp);
      for (int r = 0; r < RB; r++) {
        float* dp = dP + (size_t)r * Tp;
        const float* p = P + (size_t)r * Tp;
        const float dl = Dv[r];
        const int lim = dead[r] ? 0 : a.causal ? i0 + r + 1 : T;
        for (int j = 0; j < lim; j++) dp[j] = p[j] * (dp[j] - dl);
        std::fill(dp + lim, dp + nc, 0.f);
      }
      if (a.gq) {
        for (int hh = 0; hh < RB; hh += R) rows_times_b(dP + (size_t)hh * Tp, Tp, Kp, Dp, lmax, diag + hh, dQ + (size_t)hh * Dp);
        const bool fresh = a.fresh & 1;
        for (int r = 0; r < nr; r++) {
          float* g = a.gq + (row0 + i0 + r) * qs + h * D;
          if (dead[r]) {  // 0·K[j] would carry a NaN key into a row without gradient
            if (fresh) std::fill(g, g + D, 0.f);
            continue;
          }
          const float* x = dQ + (size_t)r * Dp;
          if (fresh)
            for (int d = 0; d < D; d++) g[d] = 0.f + a.scale * x[d];
          else
            for (int d = 0; d < D; d++) g[d] += a.scale * x[d];
        }
      }
      if (a.gk) acc_pt_x<RB>(dP, Tp, Qp, Dp, lmax, diag, dK);
    }
  }
  const float gk0 = 0.f, gv0 = 0.f;
  for (int j = 0; j < T; j++) {
    if (a.gk) {
      float* g = a.gk + (row0 + j) * ks + kh * D;
      if (a.fresh & 2)
        for (int d = 0; d < D; d++) g[d] = gk0 + a.scale * dK[(size_t)j * Dp + d];
      else
        for (int d = 0; d < D; d++) g[d] += a.scale * dK[(size_t)j * Dp + d];
    }
    if (a.gv) {
      float* g = a.gv + (row0 + j) * ks + kh * D;
      if (a.fresh & 4)
        for (int d = 0; d < D; d++) g[d] = gv0 + dV[(size_t)j * Dp + d];
      else
        for (int d = 0; d < D; d++) g[d] += dV[(size_t)j * Dp + d];
    }
  }
}

}  // namespace ATTN_NS
