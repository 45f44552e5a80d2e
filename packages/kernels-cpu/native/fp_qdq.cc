// Floating-point weight and activation QDQ (MX, NVFP4, FP8; issue #15): the element loops of quant-types'
// quantizeFp and of SignRound's straight-through backward (algo-signround fpQdqVar), bit for bit as the
// TypeScript does them (packages/quant-types/src/fp/fp-qdq.ts, docs/perf/fp-qdq.md).
// How exactness is kept: every JS expression is computed here in double in the same order and rounded to
// float32 where the TypeScript calls Math.fround or stores into a Float32Array (one float op rounded through
// double equals the float op, so the float32 steps match); no FMA (baseline x86-64, like qdq.cc); JS's
// ToInt32/ToUint8 conversions of NaN are reproduced (0). Math.log2 becomes std::log2: both return the double
// nearest log2(x) for these arguments, and the result is rounded to float32 before the floor, so they agree
// (docs/perf/fp-qdq.md#exactness).
// Exposed to JS as fpQdq / fpQdqBackward by fpqdq_register, called from addon.cc's Init.
#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "gemm_native.h"
#include "napi_args.h"

namespace fpq {
namespace {

enum Family { MX = 0, NV = 1, FP8 = 2 };
enum Elem { E2M1 = 0, E2M3 = 1, E3M2 = 2, E4M3 = 3, E5M2 = 4, INT4 = 5, INT8 = 6 };

struct Params {
  int family, elem, ebits, mbits, emax;
  double maxNorm;
  bool rceil;
  bool ue5m3;  // NV: UE5M3 group scales (NVFP4_E5M3) instead of E4M3
  double globalScale;
  bool hasTensorMax;
  double tensorMax;
  long rows, cols, gs;
};

struct Io {
  const float* w;
  const float* v;
  const float* maxScale;
  const float* initScale;
  float* out;
  uint8_t* codes;
  float* scales;
  uint8_t* scaleCodes;
  float *tq, *tdx, *tvs, *tp, *tu;
};

inline double f(double x) { return (double)(float)x; }

// JS ToInt32 (NaN and infinities → 0, otherwise modulo 2^32).
inline int32_t to_int32(double x) {
  if (!std::isfinite(x)) return 0;
  const double t = std::trunc(x);
  const double m = std::fmod(t, 4294967296.0);
  int64_t i = (int64_t)m;
  return (int32_t)(uint32_t)(uint64_t)i;
}
inline uint8_t to_u8(double x) { return (uint8_t)(to_int32(x) & 0xff); }

// core-tensor's roundHalfEven.
inline double round_half_even(double x) {
  if (!(std::fabs(x) < 2251799813685248.0)) return x;
  const double r = x + 6755399441055744.0 - 6755399441055744.0;
  return r == 0 ? x * 0 : r;
}

inline double pow2(double e) {
  if (e != e) return e;
  return std::ldexp(1.0, (int)e);
}

inline double js_log2(double x) { return std::log2(x); }

inline uint32_t f32_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}

// quant-types' floorLog2F32.
inline double floor_log2_f32(double a) {
  const uint32_t u = f32_bits((float)a);
  const uint32_t e = (u >> 23) & 0xff;
  if (e == 0 || e == 0xff || (u & 0x7fffff) >= 0x7fffc0) return std::floor(f(js_log2(a)));
  return (double)e - 127;
}

inline double round_even_abs(double t) {
  const double r = round_half_even(std::fabs(t));
  return t < 0 ? -r : t > 0 ? r : 0;
}

inline double quant_element(double x, int ebits, int mbits, double maxNorm) {
  const double up = std::ldexp(1.0, mbits - 2);
  double y;
  if (ebits != 0) {
    double pe = x == 0 ? 0 : floor_log2_f32(std::fabs(x));
    const double minExp = 2 - std::ldexp(1.0, ebits - 1);
    if (pe < minExp) pe = minExp;
    const double p = pow2(pe);
    y = f(f(x / p) * up);
    y = round_even_abs(y);
    y = f(f(y / up) * p);
  } else {
    y = f(x * up);
    y = round_even_abs(y);
    y = f(y / up);
  }
  return y > maxNorm ? maxNorm : y < -maxNorm ? -maxNorm : y;
}

inline double cast_to_fp4(double x) {
  const double a = std::fabs(x);
  double r;
  if (a < 2) r = round_half_even(f(2 * a)) / 2;
  else if (a < 4) r = round_half_even(a);
  else r = 2 * round_half_even(f(a / 2));
  if (r > 6) r = 6;
  return x < 0 ? -r : x > 0 ? r : 0;
}

// core-tensor's f32ToF8E4M3Bits / f32ToF8E5M2Bits and their inverses.
inline int f8e4m3_bits(double v) {
  const uint32_t x = f32_bits((float)v);
  const int sign = (x >> 24) & 0x80;
  const double a = std::fabs(v);
  if (v != v) return 0x7f | sign;
  if (a < 0.015625) {
    const double q = a / 0.001953125;
    double r = std::floor(q);
    const double frac = q - r;
    if (frac > 0.5 || (frac == 0.5 && (((long)r) & 1) == 1)) r++;
    return sign | (int)r;
  }
  const int exp = (int)((x >> 23) & 0xff) - 127;
  const uint32_t mant = x & 0x7fffff;
  int code = ((exp + 7) << 3) | (int)(mant >> 20);
  const uint32_t rem = mant & 0xfffff;
  if (rem > 0x80000 || (rem == 0x80000 && (code & 1) == 1)) code++;
  if (code > 0x7e) return sign | 0x7f;
  return sign | code;
}

inline double f8e4m3_value(int b) {
  const double sign = (b & 0x80) ? -1 : 1;
  const int e = (b >> 3) & 0xf, m = b & 7;
  double v;
  if ((b & 0x7f) == 0x7f) v = NAN;
  else if (e == 0) v = (m / 8.0) * 0.015625;
  else v = (1 + m / 8.0) * std::ldexp(1.0, e - 7);
  return (double)(float)(sign * v);
}

inline int f8e5m2_bits(double v) {
  if (v != v) return 0x7e;
  const uint32_t x = f32_bits((float)v);
  const int sign = (x >> 24) & 0x80;
  const double a = std::fabs(v);
  if (std::isinf(a)) return sign | 0x7c;
  if (a < 6.103515625e-05) {
    const double q = a / 1.52587890625e-05;
    double r = std::floor(q);
    const double frac = q - r;
    if (frac > 0.5 || (frac == 0.5 && (((long)r) & 1) == 1)) r++;
    return sign | (int)r;
  }
  const int exp = (int)((x >> 23) & 0xff) - 127;
  const uint32_t mant = x & 0x7fffff;
  int code = ((exp + 15) << 2) | (int)(mant >> 21);
  const uint32_t rem = mant & 0x1fffff;
  if (rem > 0x100000 || (rem == 0x100000 && (code & 1) == 1)) code++;
  if (code >= 0x7c) return sign | 0x7c;
  return sign | code;
}

// f16BitsToF32(b << 8)
inline double f8e5m2_value(int b) {
  const int h = (b & 0xff) << 8;
  const double sign = (h & 0x8000) ? -1 : 1;
  const int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e == 0) return sign * m * std::ldexp(1.0, -24);
  if (e == 31) return m ? NAN : sign * INFINITY;
  return sign * (1 + m / 1024.0) * std::ldexp(1.0, e - 15);
}

// miniFloatBits of quant-types (a ≥ 0 on the grid), as a JS number (the caller's `|` converts it).
inline double mini_float_bits(double a, int e, int m) {
  const double bias = std::ldexp(1.0, e - 1) - 1;
  const double minNorm = std::pow(2.0, 1 - bias);
  if (a < minNorm) return a / std::pow(2.0, 1 - bias - m);
  const double ex = std::floor(js_log2(a));
  if (!std::isfinite(ex)) return 0;
  return (double)((to_int32(ex + bias) << m) | to_int32((a / std::pow(2.0, ex) - 1) * std::ldexp(1.0, m)));
}

// encodeElement of quant-types for the MX/NV element grids (x already on the grid).
inline uint8_t encode(double x, int elem) {
  const bool neg = x < 0;
  const double a = std::fabs(x);
  switch (elem) {
    case E2M1: {
      const int k = a <= 2 ? (int)(a * 2) : a == 3 ? 5 : a == 4 ? 6 : 7;
      return (uint8_t)((neg ? 8 : 0) | k);
    }
    case INT4:
      return (uint8_t)((neg ? 8 : 0) | to_int32(a * 4));
    case INT8: {
      const double t = x * 64;
      return to_u8(t != t ? 0 : std::floor(t + 0.5));
    }
    case E4M3:
      return (uint8_t)f8e4m3_bits(x);
    case E5M2:
      return (uint8_t)f8e5m2_bits(x);
    case E2M3:
      return (uint8_t)((neg ? 0x20 : 0) | to_int32(mini_float_bits(a, 2, 3)));
    default:
      return (uint8_t)((neg ? 0x20 : 0) | to_int32(mini_float_bits(a, 3, 2)));
  }
}

inline double recip(double x) { return x == 0 ? 0 : f(1 / x); }

inline int ue5m3_bits(double x) {
  if (!(x > 0)) return 0;
  if (x >= 6.103515625e-05) {
    double ex = std::floor(js_log2(x)) + 1;
    double m = x / std::pow(2.0, ex);
    if (m >= 1) {
      m /= 2;
      ex += 1;
    } else if (m < 0.5) {
      m *= 2;
      ex -= 1;
    }
    double m3 = round_half_even(f((m - 0.5) * 16));
    m3 = std::fmin(7, std::fmax(0, m3));
    const double e5 = std::fmin(31, std::fmax(0, ex + 14));
    return ((to_int32(e5) << 3) | to_int32(m3)) & 0xff;
  }
  return to_int32(std::fmin(7, std::fmax(1, round_half_even(f(f(x / 6.103515625e-05) * 8)))));
}

inline double ue5m3_value(int b) {
  if (b == 0) return 0;
  const int e = (b >> 3) & 0x1f, m = b & 7;
  if (e == 31 && m == 7) return NAN;
  return e == 0 ? (m / 8.0) * 6.103515625e-05 : (1 + m / 8.0) * std::ldexp(1.0, e - 15);
}

inline double mx_before_beta(double mx, double beta) { return beta == 0 ? mx : mx / beta; }

const double FP8_MIN_E4M3 = (double)(float)(1.0 / (448.0 * 512));
const double FP8_MIN_E5M2 = (double)(float)(1.0 / (57344.0 * 512));

// The element loop of every family (quant-types' fpElements): x = w / sc (NV: w · sc, its reciprocal scale), + V,
// clamped to ±M (inRange false where clamped), rounded on the element grid by round(x, code) (which also gives the
// element's bits, asked for only where codes are written), W_qdq = q · back, and the straight-through trace
// (d q / d x from dx(x, q, inRange)). A template, so each family's loop compiles as before, without indirection.
template <class Round, class Dx>
inline void elements(const Io& io, long base, long n, const float* w, const float* v, float* out, uint8_t* codes, bool divide, double sc, double M,
                     double back, Round round, Dx dx) {
  const bool trace = io.tq != nullptr;
  for (long k = 0; k < n; k++) {
    double x = divide ? f((double)w[k] / sc) : f((double)w[k] * sc);
    if (v) x = f(x + (double)v[k]);
    bool inRange = true;
    if (x > M) x = M, inRange = false;
    else if (x < -M) x = -M, inRange = false;
    uint8_t code = 0;
    const double q = round(x, codes ? &code : nullptr);
    if (codes) codes[k] = code;
    out[k] = (float)(q * back);
    if (trace) {
      io.tq[base + k] = (float)q;
      io.tdx[base + k] = (float)dx(x, q, inRange);
    }
  }
}

void group(const Params& P, const Io& io, long g) {
  const long per = (P.cols + P.gs - 1) / P.gs;
  const long row = g / per, c0 = (g % per) * P.gs;
  const long base = row * P.cols + c0;
  const long n = P.cols - c0 < P.gs ? P.cols - c0 : P.gs;
  const float* w = io.w + base;
  const float* v = io.v ? io.v + g * P.gs : nullptr;
  float* out = io.out + base;
  uint8_t* codes = io.codes ? io.codes + base : nullptr;
  const bool trace = io.tq != nullptr;
  double mx = 0;
  if (P.hasTensorMax) mx = f(P.tensorMax);
  else
    for (long k = 0; k < n; k++) {
      const double a = std::fabs((double)w[k]);
      if (!(a <= mx)) mx = a;
    }
  if (P.family == MX) {
    if (io.initScale) mx = f(mx * io.initScale[g]);
    if (io.maxScale) mx = f(mx * io.maxScale[g]);
  } else {
    if (io.maxScale) mx = f(mx * io.maxScale[g]);
    if (io.initScale) mx = f(mx * io.initScale[g]);
  }
  const double M = P.maxNorm;
  if (P.family == MX) {
    double e;
    if (mx == 0) e = P.rceil ? 1 : 1 - P.emax;
    else if (P.rceil) e = std::ceil(f(js_log2(f(mx / M))));
    else e = std::floor(f(js_log2(mx))) - P.emax;
    const double raw = e;
    if (e < -127) e = -127;
    else if (e > 127) e = 127;
    const double scale = pow2(e);
    io.scales[g] = (float)scale;
    if (io.scaleCodes) io.scaleCodes[g] = to_u8(e + 127);
    if (trace) {
      const bool inside = mx != 0 && raw >= -127 && raw <= 127;
      const double dsdb = inside && io.maxScale && io.maxScale[g] != 0 ? scale / (double)io.maxScale[g] : 0;
      io.tvs[g] = (float)scale;
      io.tp[g] = (float)dsdb;
      io.tu[g] = (float)(-dsdb / scale);
    }
    const double minExp = 2 - std::ldexp(1.0, P.ebits - 1);
    const bool e2m1 = P.elem == E2M1;
    elements(
        io, base, n, w, v, out, codes, true, scale, M, scale,
        [&](double x, uint8_t* code) {
          const double q = e2m1 ? cast_to_fp4(x) : quant_element(x, P.ebits, P.mbits, M);
          if (code) *code = encode(q, P.elem);
          return q;
        },
        [&](double x, double q, bool inRange) {
          if (!inRange || x == 0) return 0.0;
          return P.ebits != 0 && floor_log2_f32(std::fabs(x)) >= minExp ? q / x : 1.0;
        });
  } else if (P.family == NV) {
    const double gsc = P.globalScale;
    double s = f(gsc * f(mx * recip(6)));
    int sc;
    if (!P.ue5m3) {
      if (s > 448) s = 448;
      else if (s < -448) s = -448;
      sc = f8e4m3_bits(s);
      s = f8e4m3_value(sc);
    } else {
      if (s > 114688) s = 114688;
      else if (!(s >= 0)) s = 0;
      sc = ue5m3_bits(s);
      s = ue5m3_value(sc);
    }
    io.scales[g] = (float)s;
    if (io.scaleCodes) io.scaleCodes[g] = (uint8_t)sc;
    const double outScale = recip(f(s * recip(gsc)));
    const double back = recip(outScale);
    if (trace) {
      const double raw = f(gsc * f(mx * recip(6)));
      const double lim = P.ue5m3 ? 114688 : 448;
      const double dsdb = io.maxScale && std::fabs(raw) <= lim && (!P.ue5m3 || raw >= 0) ? (gsc * mx_before_beta(mx, io.maxScale[g])) / 6 : 0;
      const double rg = recip(gsc);
      const double dodb = s != 0 ? (-1 / (s * s * rg)) * dsdb : 0;
      io.tvs[g] = (float)back;
      io.tp[g] = (float)(-back * back * dodb);
      io.tu[g] = (float)(back * dodb);
    }
    elements(
        io, base, n, w, v, out, codes, false, outScale, 6, back,
        [](double x, uint8_t* code) {
          const double q = cast_to_fp4(x);
          if (code) *code = encode(q, E2M1);
          return q;
        },
        [](double x, double, bool inRange) { return inRange && x != 0 ? 1.0 : 0.0; });
  } else {
    const bool e4 = P.elem == E4M3;
    double scale = f(mx / M);
    const double minScale = e4 ? FP8_MIN_E4M3 : FP8_MIN_E5M2;
    if (!(scale >= minScale)) scale = scale != scale ? scale : minScale;
    io.scales[g] = (float)scale;
    if (trace) {
      const double dsdb = io.maxScale && scale != minScale ? mx_before_beta(mx, io.maxScale[g]) / M : 0;
      io.tvs[g] = (float)scale;
      io.tp[g] = (float)dsdb;
      io.tu[g] = (float)(-dsdb / scale);
    }
    elements(
        io, base, n, w, v, out, codes, true, scale, M, scale,
        [&](double x, uint8_t* code) {
          const int b = e4 ? f8e4m3_bits(x) : f8e5m2_bits(x);
          if (code) *code = (uint8_t)b;
          return e4 ? f8e4m3_value(b) : f8e5m2_value(b);
        },
        [](double, double, bool inRange) { return inRange ? 1.0 : 0.0; });
  }
}

// Groups per task: about 16k elements of work each.
inline long chunk(long gs) {
  const long per = 16384 / (gs > 0 ? gs : 1);
  return per < 1 ? 1 : per;
}

void forward(const Params& P, const Io& io, int threads) {
  const long nGroups = P.rows * ((P.cols + P.gs - 1) / P.gs);
  const long ch = chunk(P.gs);
  const long tasks = (nGroups + ch - 1) / ch;
  if (tasks <= 1 || threads <= 1) {
    for (long g = 0; g < nGroups; g++) group(P, io, g);
    return;
  }
  gemm::parallel_for(threads, tasks, [&](long t) {
    const long g1 = (t + 1) * ch < nGroups ? (t + 1) * ch : nGroups;
    for (long g = t * ch; g < g1; g++) group(P, io, g);
  });
}

// fpQdqVar's backward: dV[g·gs + k] += g·vScale·dx; dβ[g] += Σ g·(q·p + dx·W·u), in double in element order.
void backward(long rows, long cols, long gs, const float* w, const float* gy, const float* q, const float* dx, const float* vs,
              const float* p, const float* u, float* vGrad, float* betaGrad, int threads) {
  const long per = (cols + gs - 1) / gs;
  const long nGroups = rows * per;
  auto one = [&](long g) {
    const long row = g / per, c0 = (g % per) * gs;
    const long base = row * cols + c0;
    const long n = cols - c0 < gs ? cols - c0 : gs;
    const double vsc = vs[g], pp = p[g], uu = u[g];
    float* vg = vGrad ? vGrad + g * gs : nullptr;
    double acc = 0;
    for (long k = 0; k < n; k++) {
      const long i = base + k;
      const double gi = gy[i], d = dx[i];
      if (vg) vg[k] = (float)((double)vg[k] + gi * vsc * d);
      acc += gi * ((double)q[i] * pp + d * (double)w[i] * uu);
    }
    if (betaGrad) betaGrad[g] = (float)((double)betaGrad[g] + acc);
  };
  const long ch = chunk(gs);
  const long tasks = (nGroups + ch - 1) / ch;
  if (tasks <= 1 || threads <= 1) {
    for (long g = 0; g < nGroups; g++) one(g);
    return;
  }
  gemm::parallel_for(threads, tasks, [&](long t) {
    const long g1 = (t + 1) * ch < nGroups ? (t + 1) * ch : nGroups;
    for (long g = t * ch; g < g1; g++) one(g);
  });
}

// ---- N-API ----------------------------------------------------------------------------------------------------

using napi_args::fail;

// A typed array of type t with at least `need` elements, or (optional) null/undefined → nullptr.
constexpr auto arr = napi_args::typed_or_null;

bool dims3(const Napi::Value& v, long* rows, long* cols, long* gs) {
  if (!v.IsArray()) return false;
  Napi::Array a = v.As<Napi::Array>();
  double d[3];
  for (uint32_t i = 0; i < 3; i++) {
    d[i] = a.Get(i).ToNumber().DoubleValue();
    if (!(d[i] >= 0 && d[i] == (double)(long)d[i]) || d[i] > 1e15) return false;
  }
  *rows = (long)d[0], *cols = (long)d[1], *gs = (long)d[2];
  return *gs >= 1 && *gs <= (*cols > 0 ? *cols : 1);
}

// fpQdq(params[11], [rows, cols, gs], weight, v|null, maxScale|null, initScale|null, out, codes|null, scales,
//       scaleCodes|null, trace [q, dx, vScale, p, u] | null, threads)
// params = [family, elem, ebits, mbits, emax, maxNorm, rceil, ue5m3, globalScale, hasTensorMax, tensorMax]
Napi::Value FpQdq(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 12 || !info[0].IsArray()) return fail(env, "fpQdq: expected 12 arguments");
  Napi::Array pa = info[0].As<Napi::Array>();
  if (pa.Length() < 11) return fail(env, "fpQdq: params has 11 numbers");
  double pv[11];
  for (uint32_t i = 0; i < 11; i++) pv[i] = pa.Get(i).ToNumber().DoubleValue();
  Params P{(int)pv[0], (int)pv[1], (int)pv[2], (int)pv[3], (int)pv[4], pv[5], pv[6] != 0, pv[7] != 0, pv[8], pv[9] != 0, pv[10], 0, 0, 0};
  if (P.family < 0 || P.family > 2 || P.elem < 0 || P.elem > 6 || P.ebits < 0 || P.ebits > 5 || P.mbits < 2 || P.mbits > 8)
    return fail(env, "fpQdq: bad params");
  if (!dims3(info[1], &P.rows, &P.cols, &P.gs)) return fail(env, "fpQdq: dims must be [rows, cols, groupSize] with 1 ≤ groupSize ≤ cols");
  const long per = (P.cols + P.gs - 1) / P.gs;
  const double n = (double)P.rows * P.cols, ng = (double)P.rows * per;
  Io io{};
  void *w, *v, *ms, *is, *out, *codes, *sc, *scc;
  bool ok = arr(info[2], napi_float32_array, n, false, &w) && arr(info[3], napi_float32_array, ng * P.gs, true, &v) &&
            arr(info[4], napi_float32_array, ng, true, &ms) && arr(info[5], napi_float32_array, ng, true, &is) &&
            arr(info[6], napi_float32_array, n, false, &out) && arr(info[7], napi_uint8_array, n, true, &codes) &&
            arr(info[8], napi_float32_array, ng, false, &sc) && arr(info[9], napi_uint8_array, ng, true, &scc);
  if (!ok) return fail(env, "fpQdq: an array has the wrong type or too few elements");
  io.w = (const float*)w, io.v = (const float*)v, io.maxScale = (const float*)ms, io.initScale = (const float*)is;
  io.out = (float*)out, io.codes = (uint8_t*)codes, io.scales = (float*)sc, io.scaleCodes = (uint8_t*)scc;
  if (!info[10].IsNull() && !info[10].IsUndefined()) {
    if (!info[10].IsArray()) return fail(env, "fpQdq: trace must be [q, dx, vScale, p, u]");
    Napi::Array t = info[10].As<Napi::Array>();
    void* tp[5];
    for (uint32_t i = 0; i < 5; i++)
      if (!arr(t.Get(i), napi_float32_array, i < 2 ? n : ng, false, &tp[i])) return fail(env, "fpQdq: a trace array has the wrong type or too few elements");
    io.tq = (float*)tp[0], io.tdx = (float*)tp[1], io.tvs = (float*)tp[2], io.tp = (float*)tp[3], io.tu = (float*)tp[4];
  }
  const int threads = napi_args::thread_count(info[11]);
  forward(P, io, threads);
  return env.Undefined();
}

// fpQdqBackward([rows, cols, gs], weight, gy, q, dx, vScale, p, u, vGrad|null, betaGrad|null, threads)
Napi::Value FpQdqBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 11) return fail(env, "fpQdqBackward: expected 11 arguments");
  long rows, cols, gs;
  if (!dims3(info[0], &rows, &cols, &gs)) return fail(env, "fpQdqBackward: dims must be [rows, cols, groupSize] with 1 ≤ groupSize ≤ cols");
  const long per = (cols + gs - 1) / gs;
  const double n = (double)rows * cols, ng = (double)rows * per;
  void *w, *gy, *q, *dx, *vs, *p, *u, *vg, *bg;
  const bool ok = arr(info[1], napi_float32_array, n, false, &w) && arr(info[2], napi_float32_array, n, false, &gy) &&
                  arr(info[3], napi_float32_array, n, false, &q) && arr(info[4], napi_float32_array, n, false, &dx) &&
                  arr(info[5], napi_float32_array, ng, false, &vs) && arr(info[6], napi_float32_array, ng, false, &p) &&
                  arr(info[7], napi_float32_array, ng, false, &u) && arr(info[8], napi_float32_array, ng * gs, true, &vg) &&
                  arr(info[9], napi_float32_array, ng, true, &bg);
  if (!ok) return fail(env, "fpQdqBackward: an array has the wrong type or too few elements");
  const int threads = napi_args::thread_count(info[10]);
  backward(rows, cols, gs, (const float*)w, (const float*)gy, (const float*)q, (const float*)dx, (const float*)vs, (const float*)p,
           (const float*)u, (float*)vg, (float*)bg, threads);
  return env.Undefined();
}

}  // namespace
}  // namespace fpq

void fpqdq_register(Napi::Env env, Napi::Object exports) {
  exports.Set("fpQdq", Napi::Function::New(env, fpq::FpQdq, "fpQdq"));
  exports.Set("fpQdqBackward", Napi::Function::New(env, fpq::FpQdqBackward, "fpQdqBackward"));
}
