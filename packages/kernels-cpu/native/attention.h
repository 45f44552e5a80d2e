// Fused grouped-query softmax attention over the token-major layout (see attention_impl.h).
#pragma once

namespace attn {

struct AttnArgs {
  int B, T, H, KV, D;
  bool causal;
  const float* mask;  // [B, T, T] additive, or null
  float scale;
  const float *q, *k, *v;  // q [B·T, H·D], k/v [B·T, KV·D]
  float* out;              // forward: written; backward: read
  float* lse;              // [B, H, T]
  const float* gout;       // backward only
  float *gq, *gk, *gv;     // backward: accumulated into, any may be null
  // backward: bit 1/2/4 = gq/gk/gv is fresh: its contents are ignored and it receives 0 + value (a dead row 0),
  // the bits a zero-filled buffer would hold
  int fresh = 0;
};

void forward(const AttnArgs& a, int threads);
void backward(const AttnArgs& a, int threads);

}  // namespace attn
