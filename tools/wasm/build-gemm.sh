#!/usr/bin/env bash
# Builds packages/kernels-cpu/wasm/gemm.wasm (WebAssembly SIMD GEMM) from the project's own C++
# source (packages/kernels-cpu/native/wasm_gemm.cc + gemm_core.h) with clang's wasm32 target.
# The .wasm is committed, so users without a compiler get it; rerun this after changing the source.
#   Needs clang and wasm-ld (Debian: apt-get install -y clang lld).
#   Usage: tools/wasm/build-gemm.sh [out.wasm] [extra clang flags…]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
src="$root/packages/kernels-cpu/native"
out="${1:-$root/packages/kernels-cpu/wasm/gemm.wasm}"
shift || true
CLANG="${CLANG:-clang}"
command -v "$CLANG" >/dev/null || { echo "clang not found: apt-get install -y clang lld" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
"$CLANG" --target=wasm32 -std=c++17 -O3 -msimd128 -mbulk-memory -mnontrapping-fptoint -msign-ext \
  -ffreestanding -fno-exceptions -fno-rtti -nostdlib -fno-math-errno \
  -Wall -Wextra -Wno-unused-function \
  -Wl,--no-entry -Wl,--export=__heap_base \
  -Wl,-z,stack-size=1048576 -Wl,--initial-memory=16777216 -Wl,--max-memory=4294967296 \
  -Wl,--strip-all \
  "$@" -o "$out" "$src/wasm_gemm.cc"
# A freestanding build must not import anything (a stray memcpy/memset would show up here).
node -e '
const m = new WebAssembly.Module(require("fs").readFileSync(process.argv[1]));
const imp = WebAssembly.Module.imports(m);
if (imp.length) { console.error("unexpected imports:", JSON.stringify(imp)); process.exit(1); }
console.log(process.argv[1] + ": " + require("fs").statSync(process.argv[1]).size + " bytes, exports " +
  WebAssembly.Module.exports(m).map((e) => e.name).join(", "));
' "$out"
