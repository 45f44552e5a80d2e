// ISA_DISPATCH(call): runs `call` from the namespace avx512, avx2 or generic that a file compiled its loops into
// (once per instruction set, under target pragmas), picked by the GEMM's current ISA so that setIsa() governs every
// kernel. Include after those namespaces; HAVE_X86_VARIANTS says whether the x86 ones exist. No include guard on
// purpose: the macro follows each file's HAVE_X86_VARIANTS.
#undef ISA_DISPATCH
#ifdef HAVE_X86_VARIANTS
#define ISA_DISPATCH(call)                       \
  switch (gemm::current_isa()) {                 \
    case gemm::Isa::Avx512: avx512::call; break; \
    case gemm::Isa::Avx2: avx2::call; break;     \
    default: generic::call; break;               \
  }
#else
#define ISA_DISPATCH(call) generic::call;
#endif
