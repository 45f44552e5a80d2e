// Argument readers shared by the N-API bindings (addon.cc, signround_fused.cc, fp_qdq.cc): one home for the
// typed-array, thread-count and error-throwing checks, so every binding refuses a bad argument the same way.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

namespace napi_args {

// A typed array of type t with at least `need` elements: its data pointer.
inline bool typed(const Napi::Value& v, napi_typedarray_type t, double need, void** data) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != t) return false;
  Napi::TypedArray a = v.As<Napi::TypedArray>();
  if ((double)a.ElementLength() < need) return false;
  *data = static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  return true;
}

// The same, where null/undefined gives nullptr: accepted when `optional`, refused otherwise.
inline bool typed_or_null(const Napi::Value& v, napi_typedarray_type t, double need, bool optional, void** data) {
  if (v.IsNull() || v.IsUndefined()) {
    *data = nullptr;
    return optional;
  }
  return typed(v, t, need, data);
}

// A Float32Array of at least `need` floats (or, when `optional`, null/undefined → nullptr).
inline bool f32(const Napi::Value& v, double need, float** out, bool optional = false) {
  void* p;
  if (!typed_or_null(v, napi_float32_array, need, optional, &p)) return false;
  *out = static_cast<float*>(p);
  return true;
}

// A typed array's element count, or -1 for anything else.
inline double length(const Napi::Value& v) {
  return v.IsTypedArray() ? (double)v.As<Napi::TypedArray>().ElementLength() : -1;
}

// A thread-count argument: at least 1.
inline int thread_count(const Napi::Value& v) {
  const int t = v.ToNumber().Int32Value();
  return t < 1 ? 1 : t;
}

// Throws a TypeError and returns undefined (the bindings run with C++ exceptions off).
inline Napi::Value fail(Napi::Env env, const std::string& msg) {
  Napi::TypeError::New(env, msg).ThrowAsJavaScriptException();
  return env.Undefined();
}

}  // namespace napi_args
