#pragma once
// The GEMM shapes of the SignRound bench's block (hidden 1024, intermediate 3072, 16/8 heads of 128, 8 x 512
// tokens: tools/bench/signround-iter.bench.ts), shared by the A/B harnesses: the forward products (NT), the input
// gradients (NN) and the weight gradients (TN), named by projection (q, kv, o, gate/up, down).
#include <vector>
struct AbShape { const char* n; bool ta, tb; long m, n_, k; };
static const std::vector<AbShape> BLOCK_SHAPES = {
  {"NT q", 0, 1, 4096, 2048, 1024}, {"NT kv", 0, 1, 4096, 1024, 1024}, {"NT o", 0, 1, 4096, 1024, 2048},
  {"NT gu", 0, 1, 4096, 3072, 1024}, {"NT d", 0, 1, 4096, 1024, 3072},
  {"NN q", 0, 0, 4096, 1024, 2048}, {"NN o", 0, 0, 4096, 2048, 1024}, {"NN gu", 0, 0, 4096, 1024, 3072}, {"NN d", 0, 0, 4096, 3072, 1024},
  {"TN q", 1, 0, 2048, 1024, 4096}, {"TN kv", 1, 0, 1024, 1024, 4096}, {"TN o", 1, 0, 1024, 2048, 4096},
  {"TN gu", 1, 0, 3072, 1024, 4096}, {"TN d", 1, 0, 1024, 3072, 4096},
};
