// kdcl's own loops, declared once per ISA level (see elementwise.cc); kernels.cc dispatches between them.
#pragma once
#include <cstdint>

#include "kernels.h"

namespace kdcl {

enum class ElementwiseLevel { Baseline = 0, V4 = 1 };

// The ISA level whose loops this process runs: "x86-64-v4" or "baseline".
const char* elementwise_level();

#define KDCL_ELEMENTWISE_DECLS                                                                                         \
  void binary(BinaryOp op, int rank, const int64_t* shape, const float* a, const int64_t* as, const float* b,          \
              const int64_t* bs, float* out);                                                                          \
  void unary(UnaryOp op, int64_t size, const float* x, float* out, float alpha);                                       \
  void reduce(ReduceOp op, int64_t outer, int64_t mid, int64_t inner, const float* x, float* out);                     \
  void batch_norm_train(int64_t rows, int64_t channels, const float* x, const float* gamma, const float* beta,         \
                        float eps, float* y, float* mean, float* variance);                                            \
  void batch_norm_train_grad(int64_t rows, int64_t channels, const float* dy, const float* x, const float* mean,       \
                             const float* variance, const float* gamma, float eps, float* dx, float* dgamma,           \
                             float* dbeta);                                                                            \
  void batch_norm_infer(int64_t rows, int64_t channels, const float* x, const float* mean, int64_t mean_len,           \
                        const float* variance, int64_t variance_len, const float* scale, int64_t scale_len,            \
                        const float* offset, int64_t offset_len, float eps, float* y);

namespace isa_base {
KDCL_ELEMENTWISE_DECLS
}
namespace isa_v4 {
KDCL_ELEMENTWISE_DECLS
}

}  // namespace kdcl
