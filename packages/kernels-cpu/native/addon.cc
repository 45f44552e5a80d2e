// N-API binding (node-addon-api, C++ exceptions off): gemm, gemmAsync, ISA control, FMA ceiling.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <thread>
#include <string>

#include "attention.h"
#ifdef AUTOROUND_CBLAS_REF
// the gemm benchmark's OpenBLAS reference: only in the bench build (binding.gyp bench_reference=1), never shipped
#include "cblas_ref.h"
#endif
#include "elementwise.h"
#include "gemm_native.h"
#include "ggml_quants.h"
#include "napi_args.h"
#include "qdq.h"

namespace srfused {
// signround_fused.cc: addInto, accumulate, mse, signStep.
void register_exports(Napi::Env env, Napi::Object exports);
}  // namespace srfused
// fp_qdq.cc: the floating-point QDQ (fpQdq, fpQdqBackward)
void fpqdq_register(Napi::Env env, Napi::Object exports);

namespace {

struct Call {
  gemm::Args args;
  int threads;
};

// Optional trailing argument of the attention and element backwards: bit i set = the i-th gradient buffer is fresh (its
// contents are ignored and it receives 0 + value, as a zero-filled one would).
int fresh_arg(const Napi::CallbackInfo& info, size_t i) {
  return info.Length() > i && info[i].IsNumber() ? info[i].ToNumber().Int32Value() : 0;
}

bool is_f32(const Napi::Value& v) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array;
}

// Reads (transA, transB, m, n, k, a, b, c, alpha, beta, threads) and checks every size; on a bad
// argument it throws a JS error and returns false.
bool parse(const Napi::CallbackInfo& info, Call& call) {
  Napi::Env env = info.Env();
  if (info.Length() < 8) {
    Napi::TypeError::New(env, "gemm(transA, transB, m, n, k, a, b, c, alpha?, beta?, threads?)")
        .ThrowAsJavaScriptException();
    return false;
  }
  const double m = info[2].ToNumber().DoubleValue();
  const double n = info[3].ToNumber().DoubleValue();
  const double k = info[4].ToNumber().DoubleValue();
  if (!(m >= 0 && n >= 0 && k >= 0) || m != (double)(long)m || n != (double)(long)n || k != (double)(long)k) {
    Napi::RangeError::New(env, "gemm: m, n and k must be non-negative integers").ThrowAsJavaScriptException();
    return false;
  }
  for (int i = 5; i < 8; i++) {
    if (!is_f32(info[i])) {
      Napi::TypeError::New(env, std::string("gemm: ") + "abc"[i - 5] + " must be a Float32Array")
          .ThrowAsJavaScriptException();
      return false;
    }
  }
  Napi::Float32Array a = info[5].As<Napi::Float32Array>();
  Napi::Float32Array b = info[6].As<Napi::Float32Array>();
  Napi::Float32Array c = info[7].As<Napi::Float32Array>();
  const double need[3] = {m * k, k * n, m * n};
  const size_t have[3] = {a.ElementLength(), b.ElementLength(), c.ElementLength()};
  for (int i = 0; i < 3; i++) {
    if ((double)have[i] < need[i]) {
      Napi::RangeError::New(env, std::string("gemm: ") + "abc"[i] + " has " + std::to_string(have[i]) +
                                     " elements, needs " + std::to_string((long)need[i]))
          .ThrowAsJavaScriptException();
      return false;
    }
  }
  gemm::Args& g = call.args;
  g.ta = info[0].ToBoolean().Value();
  g.tb = info[1].ToBoolean().Value();
  g.m = (gemm::idx)m;
  g.n = (gemm::idx)n;
  g.k = (gemm::idx)k;
  g.a = a.Data();
  g.b = b.Data();
  g.c = c.Data();
  g.lda = g.ta ? g.m : g.k;
  g.ldb = g.tb ? g.k : g.n;
  g.ldc = g.n;
  g.alpha = info.Length() > 8 && !info[8].IsUndefined() ? (float)info[8].ToNumber().DoubleValue() : 1.0f;
  g.beta = info.Length() > 9 && !info[9].IsUndefined() ? (float)info[9].ToNumber().DoubleValue() : 0.0f;
  call.threads = info.Length() > 10 && !info[10].IsUndefined() ? info[10].ToNumber().Int32Value()
                                                               : gemm::hardware_threads();
  if (call.threads < 1) call.threads = 1;
  return true;
}

Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Call call;
  if (!parse(info, call)) return info.Env().Undefined();
  gemm::gemm(call.args, call.threads);
  return info.Env().Undefined();
}

#ifdef AUTOROUND_CBLAS_REF
// Benchmark reference: cblasLoad(path) → { core, config } (throws with dlerror's message), then
// cblasGemm with gemm's arguments runs the library's cblas_sgemm.
Napi::Value CblasLoad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "cblasLoad(path): path must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  const cblas_ref::Loaded l = cblas_ref::load(path.c_str());
  if (!l.error.empty()) {
    Napi::Error::New(env, "cblasLoad: " + l.error).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("core", Napi::String::New(env, l.core));
  out.Set("config", Napi::String::New(env, l.config));
  return out;
}

Napi::Value CblasGemm(const Napi::CallbackInfo& info) {
  Call call;
  if (!parse(info, call)) return info.Env().Undefined();
  if (!cblas_ref::loaded()) {
    Napi::Error::New(info.Env(), "cblasGemm: no CBLAS loaded (call cblasLoad first)").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  cblas_ref::sgemm(call.args, call.threads);
  return info.Env().Undefined();
}

#endif

// An AsyncWorker whose end settles a promise: resolved with undefined, or rejected with the error Execute() set.
// A subclass holds its arguments (and references keeping their buffers alive) and does the work in Execute().
class PromiseWorker : public Napi::AsyncWorker {
 public:
  // Queues the worker and returns its promise (the worker deletes itself when done).
  Napi::Promise Start() {
    Napi::Promise p = deferred_.Promise();
    Queue();
    return p;
  }

 protected:
  PromiseWorker(Napi::Env env, const char* name) : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}
  void OnOK() override { deferred_.Resolve(Env().Undefined()); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
};

// Runs the GEMM on a libuv worker thread (which then drives the pool), keeping a, b and c alive.
class GemmWorker : public PromiseWorker {
 public:
  GemmWorker(Napi::Env env, const Call& call, const Napi::CallbackInfo& info) : PromiseWorker(env, "autoround:gemm"), call_(call) {
    a_ = Napi::Persistent(info[5].As<Napi::Object>());
    b_ = Napi::Persistent(info[6].As<Napi::Object>());
    c_ = Napi::Persistent(info[7].As<Napi::Object>());
  }
  void Execute() override { gemm::gemm(call_.args, call_.threads); }

 private:
  Call call_;
  Napi::ObjectReference a_, b_, c_;
};

Napi::Value GemmAsync(const Napi::CallbackInfo& info) {
  Call call;
  if (!parse(info, call)) return info.Env().Undefined();
  return (new GemmWorker(info.Env(), call, info))->Start();
}

bool isa_from(const std::string& s, gemm::Isa& out) {
  if (s == "avx512") out = gemm::Isa::Avx512;
  else if (s == "avx2") out = gemm::Isa::Avx2;
  else if (s == "generic") out = gemm::Isa::Generic;
  else return false;
  return true;
}

Napi::Value Isa(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), gemm::isa_name(gemm::current_isa()));
}

Napi::Value DetectIsa(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), gemm::isa_name(gemm::detect_isa()));
}

Napi::Value SetIsa(const Napi::CallbackInfo& info) {
  gemm::Isa isa;
  if (info.Length() < 1 || !info[0].IsString() || !isa_from(info[0].As<Napi::String>().Utf8Value(), isa)) {
    Napi::TypeError::New(info.Env(), "setIsa: expected 'avx512', 'avx2' or 'generic'").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return Napi::Boolean::New(info.Env(), gemm::set_isa(isa));
}

Napi::Value HardwareThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), gemm::hardware_threads());
}

// alignOffset(arrayBuffer, alignment): the bytes from the buffer's first byte to the next multiple of `alignment` (a
// power of two) in memory. Node's large ArrayBuffers start 16 bytes into a page (the allocator's header), so a
// float32 view of them is not 64-byte aligned; kernels read whole cache lines and 64-byte vectors (the native
// backend's `allocate`, docs/perf/signround-iteration.md, "Aligned buffers").
Napi::Value AlignOffset(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArrayBuffer() || !info[1].IsNumber())
    return napi_args::fail(env, "alignOffset: expected (ArrayBuffer, alignment)");
  const int64_t al = info[1].As<Napi::Number>().Int64Value();
  if (al <= 0 || (al & (al - 1)) != 0) return napi_args::fail(env, "alignOffset: the alignment must be a power of two");
  const uintptr_t p = reinterpret_cast<uintptr_t>(info[0].As<Napi::ArrayBuffer>().Data());
  return Napi::Number::New(env, (double)((uintptr_t)(al - (int64_t)(p % (uintptr_t)al)) % (uintptr_t)al));
}

Napi::Value FmaCeiling(const Napi::CallbackInfo& info) {
  gemm::Isa isa = gemm::detect_isa();
  if (info.Length() > 0 && info[0].IsString() && !isa_from(info[0].As<Napi::String>().Utf8Value(), isa)) {
    Napi::TypeError::New(info.Env(), "fmaCeiling: expected 'avx512' or 'avx2'").ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  const int threads = info.Length() > 1 ? info[1].ToNumber().Int32Value() : gemm::hardware_threads();
  const double seconds = info.Length() > 2 ? info[2].ToNumber().DoubleValue() : 0.5;
  const gemm::Ceiling c = gemm::fma_ceiling(isa, threads, seconds);
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("gflops", Napi::Number::New(info.Env(), c.gflops));
  out.Set("cpuGflops", Napi::Number::New(info.Env(), c.cpu_gflops));
  return out;
}

// For tests and tuning: the B size (floats) above which a team packs B panel by panel.
Napi::Value SetMaxPackedB(const Napi::CallbackInfo& info) {
  const double v = info.Length() > 0 ? info[0].ToNumber().DoubleValue() : -1;
  return Napi::Number::New(info.Env(), (double)gemm::set_max_packed_b((gemm::idx)v));
}

// attention(q, k, v, out, lse, gOut|null, gq|null, gk|null, gv|null, mask|null, [B, T, H, KV, D], causal,
// scale, threads, backward): gOut null runs the forward (writes out and lse), else the backward.
Napi::Value Attention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 15) {
    Napi::TypeError::New(env, "attention: expected 15 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const bool bwd = info[14].ToBoolean().Value();
  if (!info[10].IsArray()) {
    Napi::TypeError::New(env, "attention: dims must be [B, T, H, KV, D]").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Array dims = info[10].As<Napi::Array>();
  double dv[5];
  for (uint32_t i = 0; i < 5; i++) {
    dv[i] = dims.Get(i).ToNumber().DoubleValue();
    if (!(dv[i] >= 1 && dv[i] == (double)(long)dv[i]) || dv[i] > 2147483647.0) {
      Napi::RangeError::New(env, "attention: B, T, H, KV, D must be positive integers").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  attn::AttnArgs a{};
  a.B = (int)dv[0]; a.T = (int)dv[1]; a.H = (int)dv[2]; a.KV = (int)dv[3]; a.D = (int)dv[4];
  if (a.H % a.KV != 0) {
    Napi::RangeError::New(env, "attention: numHeads must be a multiple of numKvHeads").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const double rows = (double)a.B * a.T;
  const double need[10] = {rows * a.H * a.D, rows * a.KV * a.D, rows * a.KV * a.D, rows * a.H * a.D,
                           (double)a.B * a.H * a.T, rows * a.H * a.D, rows * a.H * a.D, rows * a.KV * a.D,
                           rows * a.KV * a.D, rows * a.T};
  float* ptr[10] = {};
  static const char* names[10] = {"q", "k", "v", "out", "lse", "gOut", "gq", "gk", "gv", "mask"};
  for (int i = 0; i < 10; i++) {
    const bool optional = i >= 5 && !(bwd && i == 5);
    if (optional && (info[i].IsNull() || info[i].IsUndefined())) continue;
    if (i >= 5 && i <= 8 && !bwd) continue;
    if (!is_f32(info[i])) {
      Napi::TypeError::New(env, std::string("attention: ") + names[i] + " must be a Float32Array").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    Napi::Float32Array t = info[i].As<Napi::Float32Array>();
    if ((double)t.ElementLength() < need[i]) {
      Napi::RangeError::New(env, std::string("attention: ") + names[i] + " has " + std::to_string(t.ElementLength()) +
                                     " elements, needs " + std::to_string((long)need[i]))
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    ptr[i] = t.Data();
  }
  a.q = ptr[0]; a.k = ptr[1]; a.v = ptr[2]; a.out = ptr[3]; a.lse = ptr[4];
  a.gout = ptr[5]; a.gq = ptr[6]; a.gk = ptr[7]; a.gv = ptr[8]; a.mask = ptr[9];
  a.causal = info[11].ToBoolean().Value();
  a.scale = (float)info[12].ToNumber().DoubleValue();
  int threads = info[13].IsUndefined() ? gemm::hardware_threads() : info[13].ToNumber().Int32Value();
  if (threads < 1) threads = 1;
  a.fresh = bwd ? fresh_arg(info, 15) : 0;
  if (bwd) attn::backward(a, threads);
  else attn::forward(a, threads);
  return env.Undefined();
}

using napi_args::f32;
using napi_args::fail;
using napi_args::thread_count;
using napi_args::typed;

// qdq(backward, weight, V, scale, zp, code, outOrGw, dV|null, acc|null, [rows, cols, gs, gpr, numScales, qmax], threads)
Napi::Value Qdq(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 11 || !info[9].IsArray()) {
    Napi::TypeError::New(env, "qdq: expected 11 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const bool bwd = info[0].ToBoolean().Value();
  Napi::Array dims = info[9].As<Napi::Array>();
  double d[6];
  for (uint32_t i = 0; i < 6; i++) {
    d[i] = dims.Get(i).ToNumber().DoubleValue();
    if (!(d[i] >= 0 && d[i] == (double)(long)d[i]) || d[i] > 1e15) {
      Napi::RangeError::New(env, "qdq: dims must be non-negative integers").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  qdq::Layout l{(long)d[0], (long)d[1], (long)d[2], (long)d[3], (long)d[4], (int)d[5]};
  if (l.gs < 1 || l.gpr < 1 || l.num_scales != (l.rows * ((l.cols + l.gs - 1) / l.gs)) || l.gpr * l.gs < l.cols || l.qmax > 32766) {
    Napi::RangeError::New(env, "qdq: inconsistent layout").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const double n = (double)l.rows * l.cols, ns = (double)l.num_scales, nv = ns * l.gs;
  void *w, *v = nullptr, *sc, *zp, *code, *og, *dv = nullptr, *acc = nullptr;
  bool ok = typed(info[1], napi_float32_array, n, &w) && typed(info[3], napi_float32_array, ns, &sc) &&
            typed(info[4], napi_float32_array, ns, &zp) && typed(info[5], napi_int16_array, n, &code) &&
            typed(info[6], napi_float32_array, n, &og);
  if (ok && !bwd) ok = typed(info[2], napi_float32_array, nv, &v);
  if (ok && bwd && !info[7].IsNull() && !info[7].IsUndefined()) ok = typed(info[7], napi_float32_array, nv, &dv);
  if (ok && bwd && !info[8].IsNull() && !info[8].IsUndefined()) ok = typed(info[8], napi_float64_array, 4 * ns, &acc);
  if (!ok) {
    Napi::TypeError::New(env, "qdq: an array has the wrong type or too few elements").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int threads = thread_count(info[10]);
  if (bwd)
    qdq::backward(l, (const float*)w, (const float*)og, (const int16_t*)code, (const float*)sc, (const float*)zp, (float*)dv,
                  (double*)acc, threads);
  else
    qdq::forward(l, (const float*)w, (const float*)v, (const float*)sc, (const float*)zp, (float*)og, (int16_t*)code, threads);
  return env.Undefined();
}


// rtn dims [rows, cols, gs]: positive integers; groups = rows · ⌈cols / gs⌉. False when they are not.
struct RtnDims {
  long rows, cols, gs;
  double groups;
};
bool rtn_dims(const Napi::Value& dv, RtnDims& r) {
  if (!dv.IsArray() || dv.As<Napi::Array>().Length() != 3) return false;
  Napi::Array a = dv.As<Napi::Array>();
  double d[3];
  for (uint32_t i = 0; i < 3; i++) {
    d[i] = a.Get(i).ToNumber().DoubleValue();
    if (!(d[i] >= 1 && d[i] == (double)(long)d[i]) || d[i] > 1e15) return false;
  }
  r = {(long)d[0], (long)d[1], (long)d[2], d[0] * std::ceil(d[1] / d[2])};
  return true;
}

// intRtnMinMax(w, [rows, cols, gs], mn, mx, threads) and intRtnElements(w, v|null, [rows, cols, gs], scale, zp (f64),
// maxq, sym, codes (u8), qdq, threads): quant-types' quantizeInt loops (qdq.h).
Napi::Value IntRtnMinMax(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RtnDims d;
  if (info.Length() < 5) return napi_args::fail(env, "intRtnMinMax: expected 5 arguments");
  if (!rtn_dims(info[1], d)) return napi_args::fail(env, "intRtnMinMax: dims must be [rows, cols, groupSize], positive integers");
  void *w, *mn, *mx;
  if (!typed(info[0], napi_float32_array, (double)d.rows * d.cols, &w) || !typed(info[2], napi_float32_array, d.groups, &mn) ||
      !typed(info[3], napi_float32_array, d.groups, &mx))
    return napi_args::fail(env, "intRtnMinMax: an array has the wrong type or too few elements");
  qdq::rtn_minmax((const float*)w, d.rows, d.cols, d.gs, (float*)mn, (float*)mx, thread_count(info[4]));
  return env.Undefined();
}

Napi::Value IntRtnElements(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RtnDims d;
  if (info.Length() < 10) return napi_args::fail(env, "intRtnElements: expected 10 arguments");
  if (!rtn_dims(info[2], d)) return napi_args::fail(env, "intRtnElements: dims must be [rows, cols, groupSize], positive integers");
  const double n = (double)d.rows * d.cols, maxq = info[5].ToNumber().DoubleValue();
  if (!(maxq >= 1 && maxq <= 255 && maxq == (double)(long)maxq))
    return napi_args::fail(env, "intRtnElements: maxq must be an integer in [1, 255] (8-bit codes)");
  void *w, *v = nullptr, *sc, *zp, *codes, *out;
  bool ok = typed(info[0], napi_float32_array, n, &w) && typed(info[3], napi_float32_array, d.groups, &sc) &&
            typed(info[4], napi_float64_array, d.groups, &zp) && typed(info[7], napi_uint8_array, n, &codes) &&
            typed(info[8], napi_float32_array, n, &out);
  if (ok && !info[1].IsNull() && !info[1].IsUndefined()) ok = typed(info[1], napi_float32_array, d.groups * d.gs, &v);
  if (!ok) return napi_args::fail(env, "intRtnElements: an array has the wrong type or too few elements");
  qdq::rtn_elements((const float*)w, (const float*)v, d.rows, d.cols, d.gs, (const float*)sc, (const double*)zp, maxq,
                    info[6].ToBoolean().Value(), (uint8_t*)codes, (float*)out, thread_count(info[9]));
  return env.Undefined();
}

bool count_arg(const Napi::Value& v, double* out) {
  const double x = v.ToNumber().DoubleValue();
  if (!(x >= 0 && x == (double)(long)x) || x > 1e15) return false;
  *out = x;
  return true;
}

// swiglu(backward, gate, up, outOrGy, gGate|null, gUp|null, threads)
Napi::Value Swiglu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 7 || !info[1].IsTypedArray()) return fail(env, "swiglu: expected 7 arguments");
  const bool bwd = info[0].ToBoolean().Value();
  const double n = info[1].As<Napi::TypedArray>().ElementLength();
  float *g, *u, *o, *gg = nullptr, *gu = nullptr;
  bool ok = f32(info[1], n, &g, true) && g && f32(info[2], n, &u, true) && u && f32(info[3], n, &o, true) && o;
  if (ok && bwd) ok = f32(info[4], n, &gg, true) && f32(info[5], n, &gu, true);
  if (!ok) return fail(env, "swiglu: an array has the wrong type or too few elements");
  const int t = thread_count(info[6]);
  const int fresh = fresh_arg(info, 7);
  if (bwd) elementwise::swiglu_backward(g, u, o, gg, gu, (long)n, t, fresh & 1, fresh & 2);
  else elementwise::swiglu_forward(g, u, o, (long)n, t);
  return env.Undefined();
}

// rmsNorm(backward, x, w, outOrGy, rstd, gx|null, gw|null, rows, eps, threads)
Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 10 || !info[2].IsTypedArray()) return fail(env, "rmsNorm: expected 10 arguments");
  const bool bwd = info[0].ToBoolean().Value();
  const double d = info[2].As<Napi::TypedArray>().ElementLength();
  double rows;
  if (!count_arg(info[7], &rows) || d < 1) return fail(env, "rmsNorm: rows must be a non-negative integer and w non-empty");
  const double n = rows * d;
  float *x, *w, *o, *rstd, *gx = nullptr, *gw = nullptr;
  bool ok = f32(info[1], n, &x, true) && x && f32(info[2], d, &w, true) && w && f32(info[3], n, &o, true) && o &&
            f32(info[4], rows, &rstd, true) && rstd;
  if (ok && bwd) ok = f32(info[5], n, &gx, true) && f32(info[6], d, &gw, true);
  if (!ok) return fail(env, "rmsNorm: an array has the wrong type or too few elements");
  const int t = thread_count(info[9]);
  if (bwd) elementwise::rmsnorm_backward(x, w, rstd, o, gx, gw, (long)rows, (long)d, t, fresh_arg(info, 10) & 1);
  else elementwise::rmsnorm_forward(x, w, o, rstd, (long)rows, (long)d, info[8].ToNumber().DoubleValue(), t);
  return env.Undefined();
}

// rope(backward, src, dst, cos, sin, pos (Int32Array, one per row), [heads, headDim, rotaryDim], threads)
Napi::Value Rope(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 8 || !info[6].IsArray() || !info[5].IsTypedArray() || !info[3].IsTypedArray())
    return fail(env, "rope: expected 8 arguments");
  Napi::Array dims = info[6].As<Napi::Array>();
  double dm[3];
  for (uint32_t i = 0; i < 3; i++)
    if (!count_arg(dims.Get(i), &dm[i])) return fail(env, "rope: dims must be non-negative integers");
  const long heads = (long)dm[0], hd = (long)dm[1], rot = (long)dm[2];
  if (hd < 1 || rot % 2 != 0 || rot > hd) return fail(env, "rope: inconsistent dims");
  const double rows = info[5].As<Napi::TypedArray>().ElementLength();
  const double n = rows * heads * hd;
  const double table = info[3].As<Napi::TypedArray>().ElementLength();
  void* pos;
  float *src, *dst, *cs, *sn;
  bool ok = typed(info[5], napi_int32_array, rows, &pos) && f32(info[1], n, &src, true) && src &&
            f32(info[2], n, &dst, true) && dst && f32(info[3], table, &cs, true) && cs && f32(info[4], table, &sn, true) && sn;
  if (!ok) return fail(env, "rope: an array has the wrong type or too few elements");
  const long positions = (long)table / hd;
  const int32_t* p = (const int32_t*)pos;
  for (long r = 0; r < (long)rows; r++)
    if (p[r] < 0 || p[r] >= positions) return fail(env, "rope: a position is outside the cos/sin tables");
  const bool bwd = info[0].ToBoolean().Value();
  elementwise::rope(bwd, src, dst, cs, sn, p, (long)rows, heads, hd, rot, thread_count(info[7]), bwd && (fresh_arg(info, 8) & 1));
  return env.Undefined();
}

// ---- GGML block quantizers (ggml_quants.cc)

struct QuantCall {
  int type;
  const float* src;
  void* dst;
  int64_t nrows, ne0;
  const float* imatrix;
  int threads;
};

// Reads (type, src, ne0, imatrix|null, out, threads); on a bad argument throws and returns false.
bool parse_quant(const Napi::CallbackInfo& info, const char* name, QuantCall& c) {
  Napi::Env env = info.Env();
  auto fail = [&](const std::string& m) {
    Napi::TypeError::New(env, std::string(name) + ": " + m).ThrowAsJavaScriptException();
    return false;
  };
  if (info.Length() < 6) return fail("expected (type, src, ne0, imatrix, out, threads)");
  c.type = info[0].ToNumber().Int32Value();
  if (!ggmlq::supports(c.type)) return fail("ggml type " + std::to_string(c.type) + " has no native quantizer");
  double ne0;
  if (!count_arg(info[2], &ne0) || ne0 < 1) return fail("ne0 must be a positive integer");
  if (!is_f32(info[1])) return fail("src must be a Float32Array");
  Napi::TypedArray src = info[1].As<Napi::TypedArray>();
  const double n = (double)src.ElementLength();
  if (std::fmod(n, ne0) != 0) return fail("src is not whole rows of ne0");
  c.ne0 = (int64_t)ne0;
  c.nrows = (int64_t)(n / ne0);
  const size_t rb = ggmlq::row_bytes(c.type, c.ne0);
  if (rb == 0) return fail("ne0 is not a multiple of the block size");
  float* im;
  if (!f32(info[3], ne0, &im, true)) return fail("imatrix must be null or a Float32Array of ne0 weights");
  void* out;
  if (!typed(info[4], napi_uint8_array, (double)rb * (double)c.nrows, &out)) return fail("out must be a Uint8Array of rows x rowBytes bytes");
  c.src = (const float*)((uint8_t*)src.ArrayBuffer().Data() + src.ByteOffset());
  c.imatrix = im;
  c.dst = out;
  c.threads = thread_count(info[5]);
  return true;
}

// ggmlQuantize(type, src, ne0, imatrix|null, out, threads): quantizes on the calling thread (and the pool).
Napi::Value GgmlQuantize(const Napi::CallbackInfo& info) {
  QuantCall c;
  if (!parse_quant(info, "ggmlQuantize", c)) return info.Env().Undefined();
  const char* err = ggmlq::quantize(c.type, c.src, c.dst, c.nrows, c.ne0, c.imatrix, c.threads);
  if (err) return fail(info.Env(), err);
  return info.Env().Undefined();
}

// The same on a libuv worker thread (which drives the pool), keeping src, imatrix and out alive: the
// exporter quantizes the next tensor while the current one is written.
class QuantWorker : public PromiseWorker {
 public:
  QuantWorker(Napi::Env env, const QuantCall& c, const Napi::CallbackInfo& info) : PromiseWorker(env, "autoround:ggmlQuantize"), c_(c) {
    src_ = Napi::Persistent(info[1].As<Napi::Object>());
    if (info[3].IsObject()) im_ = Napi::Persistent(info[3].As<Napi::Object>());
    out_ = Napi::Persistent(info[4].As<Napi::Object>());
  }
  void Execute() override {
    const char* err = ggmlq::quantize(c_.type, c_.src, c_.dst, c_.nrows, c_.ne0, c_.imatrix, c_.threads);
    if (err) SetError(err);
  }

 private:
  QuantCall c_;
  Napi::ObjectReference src_, im_, out_;
};

Napi::Value GgmlQuantizeAsync(const Napi::CallbackInfo& info) {
  QuantCall c;
  if (!parse_quant(info, "ggmlQuantizeAsync", c)) return info.Env().Undefined();
  return (new QuantWorker(info.Env(), c, info))->Start();
}

// ggmlQuantizeStart(type, src, ne0, imatrix|null, out, threads) → job; ggmlQuantizeWait(job): the same work on a
// native thread that the caller joins later, synchronously. The exporter writes tensor i (and the caller
// reads tensor i+1) while tensor i+1 (i) is quantized, without returning to the event loop.
struct QuantJob {
  QuantCall call;
  std::thread thread;
  const char* error = nullptr;
  bool joined = false;
  Napi::ObjectReference src, im, out;
  void join() {
    if (!joined) {
      thread.join();
      joined = true;
    }
  }
  ~QuantJob() { join(); }  // a job dropped without ggmlQuantizeWait still finishes before its arrays are let go
};

Napi::Value GgmlQuantizeStart(const Napi::CallbackInfo& info) {
  QuantCall c;
  if (!parse_quant(info, "ggmlQuantizeStart", c)) return info.Env().Undefined();
  auto* job = new QuantJob();
  job->call = c;
  job->src = Napi::Persistent(info[1].As<Napi::Object>());
  if (info[3].IsObject()) job->im = Napi::Persistent(info[3].As<Napi::Object>());
  job->out = Napi::Persistent(info[4].As<Napi::Object>());
  job->thread = std::thread([job] {
    const QuantCall& q = job->call;
    job->error = ggmlq::quantize(q.type, q.src, q.dst, q.nrows, q.ne0, q.imatrix, q.threads);
  });
  return Napi::External<QuantJob>::New(info.Env(), job, [](Napi::Env, QuantJob* j) { delete j; });
}

Napi::Value GgmlQuantizeWait(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal()) return fail(info.Env(), "ggmlQuantizeWait: expected a job from ggmlQuantizeStart");
  QuantJob* job = info[0].As<Napi::External<QuantJob>>().Data();
  job->join();
  if (job->error) return fail(info.Env(), job->error);
  return info.Env().Undefined();
}

Napi::Value GgmlQuantizeSupports(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), info.Length() > 0 && ggmlq::supports(info[0].ToNumber().Int32Value()));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("gemm", Napi::Function::New(env, Gemm, "gemm"));
  exports.Set("gemmAsync", Napi::Function::New(env, GemmAsync, "gemmAsync"));
  exports.Set("isa", Napi::Function::New(env, Isa, "isa"));
  exports.Set("detectIsa", Napi::Function::New(env, DetectIsa, "detectIsa"));
  exports.Set("setIsa", Napi::Function::New(env, SetIsa, "setIsa"));
  exports.Set("hardwareThreads", Napi::Function::New(env, HardwareThreads, "hardwareThreads"));
  exports.Set("fmaCeiling", Napi::Function::New(env, FmaCeiling, "fmaCeiling"));
  exports.Set("alignOffset", Napi::Function::New(env, AlignOffset, "alignOffset"));
  exports.Set("setMaxPackedB", Napi::Function::New(env, SetMaxPackedB, "setMaxPackedB"));
  exports.Set("qdq", Napi::Function::New(env, Qdq, "qdq"));
  exports.Set("intRtnMinMax", Napi::Function::New(env, IntRtnMinMax, "intRtnMinMax"));
  exports.Set("intRtnElements", Napi::Function::New(env, IntRtnElements, "intRtnElements"));
  exports.Set("attention", Napi::Function::New(env, Attention, "attention"));
  exports.Set("swiglu", Napi::Function::New(env, Swiglu, "swiglu"));
  exports.Set("rmsNorm", Napi::Function::New(env, RmsNorm, "rmsNorm"));
#ifdef AUTOROUND_CBLAS_REF
  exports.Set("cblasLoad", Napi::Function::New(env, CblasLoad, "cblasLoad"));
  exports.Set("cblasGemm", Napi::Function::New(env, CblasGemm, "cblasGemm"));
#endif
  exports.Set("rope", Napi::Function::New(env, Rope, "rope"));
  srfused::register_exports(env, exports);
  exports.Set("ggmlQuantize", Napi::Function::New(env, GgmlQuantize, "ggmlQuantize"));
  exports.Set("ggmlQuantizeAsync", Napi::Function::New(env, GgmlQuantizeAsync, "ggmlQuantizeAsync"));
  exports.Set("ggmlQuantizeStart", Napi::Function::New(env, GgmlQuantizeStart, "ggmlQuantizeStart"));
  exports.Set("ggmlQuantizeWait", Napi::Function::New(env, GgmlQuantizeWait, "ggmlQuantizeWait"));
  exports.Set("ggmlQuantizeSupports", Napi::Function::New(env, GgmlQuantizeSupports, "ggmlQuantizeSupports"));
  fpqdq_register(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(autoround_kernels, Init)
