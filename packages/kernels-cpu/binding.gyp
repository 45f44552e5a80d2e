{
  "variables": { "bench_reference%": 0 },
  "target_defaults": {
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
    "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
    "cflags": ["-O3", "-fno-math-errno"],
    "cflags_cc": ["-O3", "-fno-math-errno"],
    "xcode_settings": { "OTHER_CFLAGS": ["-O3"] },
    "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["/std:c++17", "/O2"] } }
  },
  "targets": [
    {
      "target_name": "autoround_kernels",
      "sources": ["native/addon.cc", "native/gemm_native.cc", "native/attention.cc", "native/qdq.cc", "native/elementwise.cc", "native/signround_fused.cc", "native/ggml_quants.cc", "native/fp_qdq.cc"]
    }
  ],
  "conditions": [
    ["bench_reference==1", {
      "targets": [
        {
          "target_name": "autoround_kernels_bench",
          "sources": ["native/addon.cc", "native/gemm_native.cc", "native/attention.cc", "native/qdq.cc", "native/elementwise.cc", "native/signround_fused.cc", "native/ggml_quants.cc", "native/fp_qdq.cc", "native/cblas_ref.cc"],
          "defines": ["AUTOROUND_CBLAS_REF"],
          "conditions": [["OS=='linux'", { "libraries": ["-ldl"] }]]
        }
      ]
    }]
  ]
}
