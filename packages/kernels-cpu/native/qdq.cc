// Compiled for baseline x86-64 on purpose (no FMA to contract into): the results must match the
// TypeScript loops bit for bit. See qdq.h.
#include "qdq.h"

#include <cmath>

#include "gemm_native.h"

namespace qdq {

namespace {
inline void group_span(const Layout& l, long r, long& w0, long& v0, long& n) {
  const long c0 = (r % l.gpr) * l.gs;
  w0 = (r / l.gpr) * l.cols + c0;
  v0 = r * l.gs;
  n = l.cols - c0 < l.gs ? l.cols - c0 : l.gs;
}
// Groups per task: enough work per task to amortise scheduling, enough tasks to balance.
inline long chunk(const Layout& l) {
  const long per = 16384 / (l.gs > 0 ? l.gs : 1);
  return per < 1 ? 1 : per;
}
}  // namespace

void forward(const Layout& l, const float* w, const float* v, const float* scale, const float* zp, float* out,
             int16_t* code, int threads) {
  const long ch = chunk(l);
  const long tasks = (l.num_scales + ch - 1) / ch;
  const double hi = l.qmax + 1;
  gemm::parallel_for(threads, tasks, [&](long t) {
    const long r1 = (t + 1) * ch < l.num_scales ? (t + 1) * ch : l.num_scales;
    for (long r = t * ch; r < r1; r++) {
      long w0, v0, n;
      group_span(l, r, w0, v0, n);
      const float s = scale[r];
      const double z = zp[r];
      for (long c = 0; c < n; c++) {
        const float q = w[w0 + c] / s;
        const float u = q + v[v0 + c];
        double x = std::nearbyint((double)u) + z;
        int code_v;
        if (x != x) code_v = 0;  // NaN: JS `NaN | 0`
        else {
          if (x < -1) x = -1;
          else if (x > hi) x = hi;
          code_v = (int)x;
        }
        code[w0 + c] = (int16_t)code_v;
        const int cl = code_v < 0 ? 0 : code_v > l.qmax ? l.qmax : code_v;
        out[w0 + c] = (float)((double)s * ((double)cl - z));
      }
    }
  });
}

void backward(const Layout& l, const float* w, const float* gw, const int16_t* code, const float* scale,
              const float* zp, float* dv, double* acc, int threads) {
  if (!acc && !dv) return;
  const long ch = chunk(l);
  const long tasks = (l.num_scales + ch - 1) / ch;
  const int qmax = l.qmax;
  gemm::parallel_for(threads, tasks, [&](long t) {
    const long r1 = (t + 1) * ch < l.num_scales ? (t + 1) * ch : l.num_scales;
    for (long r = t * ch; r < r1; r++) {
      long w0, v0, n;
      group_span(l, r, w0, v0, n);
      const double s = scale[r];
      if (!acc) {
        for (long c = 0; c < n; c++) {
          const int q = code[w0 + c];
          if (q >= 0 && q <= qmax) dv[v0 + c] = (float)((double)dv[v0 + c] + (double)gw[w0 + c] * s);
        }
        continue;
      }
      const double z = zp[r];
      double o = 0, divw = 0, sum_in = 0, sum_all = 0;
      for (long c = 0; c < n; c++) {
        const double g = gw[w0 + c];
        const int q = code[w0 + c];
        const double dq = g * s;
        sum_all += dq;
        if (q >= 0 && q <= qmax) {
          o += g * ((double)q - z);
          sum_in += dq;
          divw += dq * (double)w[w0 + c];
          if (dv) dv[v0 + c] = (float)((double)dv[v0 + c] + dq);
        } else {
          o += g * ((double)(q < 0 ? 0 : qmax) - z);
        }
      }
      acc[4 * r] = o;
      acc[4 * r + 1] = divw;
      acc[4 * r + 2] = sum_in;
      acc[4 * r + 3] = sum_all;
    }
  });
}

}  // namespace qdq
