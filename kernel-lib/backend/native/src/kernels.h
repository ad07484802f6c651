// Compute kernels behind kdcl's native tfjs backend. Tensors are dense row-major float32 (NHWC for images,
// HWIO for conv filters), exactly as tfjs stores them, so the addon reads and writes tfjs's arrays in place.
#pragma once
#include <cstdint>
#include <string>

namespace kdcl {

// Sets the OpenMP thread count used by oneDNN and by the loops below; returns the count in effect.
int set_threads(int threads);
int threads();
std::string onednn_version();
std::string cpu_isa();
// Mixed precision for convolutions: bf16 inputs, f32 outputs and accumulation (forward and input gradient; the
// filter gradient stays f32). Throws std::runtime_error naming
// the ISA when oneDNN cannot run bf16 kernels on this CPU (never a silent f32 run).
bool bf16_supported();
void set_bf16(bool on);
bool bf16();

// Convolution geometry, already resolved by tfjs's computeConv2DInfo (pads are explicit, top/left/bottom/right).
struct ConvGeom {
  int n, ih, iw, ic, oh, ow, oc, kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
};
enum class ConvPass { Forward = 0, BackwardData = 1, BackwardWeights = 2 };
// Forward: a = x, b = filter, out = y. BackwardData: a = dy, b = filter, out = dx.
// BackwardWeights: a = x, b = dy, out = dfilter. Returns false when oneDNN has no implementation for the
// geometry (the caller then falls back to the reference kernel); `impl` receives the implementation name.
bool conv2d(ConvPass pass, const ConvGeom& g, const float* a, const float* b, float* out, std::string* impl);

// Pooling geometry (NHWC), pads resolved by tfjs's computePool2DInfo. Padding never takes part: max ignores it
// and average divides by the number of real pixels in the window, as tfjs's reference kernels do.
struct PoolGeom {
  int n, ih, iw, c, oh, ow, kh, kw, sh, sw, pt, pl, pb, pr;
};
enum class PoolKind { Max = 0, Avg = 1 };
bool pool_forward(PoolKind kind, const PoolGeom& g, const float* x, float* y);
// dx from dy; max pooling re-runs the forward pass on x to find each window's maximum.
bool pool_backward(PoolKind kind, const PoolGeom& g, const float* x, const float* dy, float* dx);

// C[batch][m][n] = op(A[batch]) * op(B[batch]) (+ bias[n]) (relu if asked); a batch stride of 0 broadcasts.
void matmul(int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, const float* a,
            int64_t a_batch_stride, const float* b, int64_t b_batch_stride, float* c, const float* bias, bool relu);

enum class BinaryOp { Add = 0, Sub, Mul, Div, Max, Min, SquaredDiff };
// out = a op b over `rank` dims of `shape`, reading a and b through element strides (0 on broadcast dims).
void binary(BinaryOp op, int rank, const int64_t* shape, const float* a, const int64_t* a_strides, const float* b,
            const int64_t* b_strides, float* out);

enum class UnaryOp { Relu = 0, Step, Neg, Square, Sqrt, Rsqrt, Exp, Log, Abs, Reciprocal };
void unary(UnaryOp op, int64_t size, const float* x, float* out, float alpha);

enum class ReduceOp { Sum = 0, Mean, Max, Min };
// Reduces the middle axis of x viewed as [outer, mid, inner]: out[o][i] = reduce over m of x[o][m][i].
void reduce(ReduceOp op, int64_t outer, int64_t mid, int64_t inner, const float* x, float* out);

// Batch norm over the rows of x viewed as [rows, channels] (NHWC flattened). Training forward: batch mean and
// biased variance, y = (x - mean) / sqrt(var + eps) * gamma + beta.
void batch_norm_train(int64_t rows, int64_t channels, const float* x, const float* gamma, const float* beta, float eps,
                      float* y, float* mean, float* variance);
// Its gradient (see kernel-lib/backend/ops.ts for the formula).
void batch_norm_train_grad(int64_t rows, int64_t channels, const float* dy, const float* x, const float* mean,
                           const float* variance, const float* gamma, float eps, float* dx, float* dgamma, float* dbeta);
// Inference: y = (x - mean) / sqrt(var + eps) * scale + offset; each parameter has `channels` or 1 value
// (scale/offset may be null: 1 and 0).
void batch_norm_infer(int64_t rows, int64_t channels, const float* x, const float* mean, int64_t mean_len,
                      const float* variance, int64_t variance_len, const float* scale, int64_t scale_len,
                      const float* offset, int64_t offset_len, float eps, float* y);

}  // namespace kdcl
