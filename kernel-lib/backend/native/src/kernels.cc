#include "kernels.h"

#include "elementwise.h"
#include "parallel.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cmath>
#include <map>
#include <stdexcept>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

namespace kdcl {

std::atomic<int> g_threads{1};

namespace {


dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpu_stream() {
  static dnnl::stream stream(cpu_engine());
  return stream;
}

using dims = dnnl::memory::dims;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

// Activations stay NHWC (tfjs's layout, no reorder); filters are reordered between HWIO and whatever layout the
// chosen implementation wants, which costs little since filters are small.
struct ConvPrimitives {
  // f32 views of tfjs's arrays (NHWC activations, HWIO filter).
  dnnl::memory::desc act_src, act_dst, user_weights;
  // bf16: the pass's bf16 inputs (x and/or dy) are converted into these buffers first; its outputs stay f32.
  bool bf16 = false;
  dnnl::memory src_bf16, dst_bf16;
  dnnl::primitive src_to_bf16, dst_to_bf16;
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::primitive pass;
  dnnl::memory::desc pass_weights;  // weights (fwd, bwd data) or diff weights (bwd weights) layout of `pass`
  bool weights_need_reorder = false;
  dnnl::memory weights_buffer;
  dnnl::primitive weights_reorder;
  std::string impl;
};

// The primitive caches, the stream and the cached buffers are shared: one primitive call at a time (the addon
// may be loaded by several worker threads of one process).
std::mutex g_primitive_mutex;

std::map<std::vector<int>, std::unique_ptr<ConvPrimitives>> g_conv_cache;

// With 16 channels, NHWC and oneDNN's blocked nChw16c are the same bytes; naming the blocked layout lets oneDNN
// pick its blocked kernels, faster than its NHWC ones for the 16-channel layers of CIFAR ResNets.
// bf16 (mixed precision): the pass reads bf16 (x, the filter, dy) and writes f32 (y, dx, dfilter), with f32
// accumulation inside oneDNN; master weights, batch norm and everything outside convolutions stay f32.
std::unique_ptr<ConvPrimitives> make_conv_primitives(ConvPass pass, const ConvGeom& g, bool blocked16, bool bf16) {
  auto& engine = cpu_engine();
  auto p = std::make_unique<ConvPrimitives>();
  p->bf16 = bf16;
  const tag act = blocked16 ? tag::nChw16c : tag::nhwc;
  const dt in = bf16 ? dt::bf16 : dt::f32;
  const dims src_dims{g.n, g.ic, g.ih, g.iw}, dst_dims{g.n, g.oc, g.oh, g.ow}, w_dims{g.oc, g.ic, g.kh, g.kw};
  p->act_src = dnnl::memory::desc(src_dims, dt::f32, act);
  p->act_dst = dnnl::memory::desc(dst_dims, dt::f32, act);
  p->user_weights = dnnl::memory::desc(w_dims, dt::f32, tag::hwio);
  // What the primitives see: x and dy in `in`, y and dx in f32; weights in `in`, their gradient in f32.
  const dnnl::memory::desc src_in(src_dims, in, act), dst_in(dst_dims, in, act);
  dnnl::memory::desc any_weights(w_dims, in, tag::any), any_diff_weights(w_dims, dt::f32, tag::any);
  dims strides{g.sh, g.sw}, dilates{g.dh - 1, g.dw - 1}, pad_l{g.pt, g.pl}, pad_r{g.pb, g.pr};

  dnnl::convolution_forward::desc fwd_desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                           src_in, any_weights, p->act_dst, strides, dilates, pad_l, pad_r);
  p->fwd_pd = dnnl::convolution_forward::primitive_desc(fwd_desc, engine);
  bool src_is_input = true, dst_is_input = false;
  if (pass == ConvPass::Forward) {
    p->pass = dnnl::convolution_forward(p->fwd_pd);
    p->pass_weights = p->fwd_pd.weights_desc();
    p->impl = p->fwd_pd.impl_info_str();
  } else if (pass == ConvPass::BackwardData) {
    dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, p->act_src, any_weights,
                                               dst_in, strides, dilates, pad_l, pad_r);
    dnnl::convolution_backward_data::primitive_desc pd(desc, engine, p->fwd_pd);
    p->pass = dnnl::convolution_backward_data(pd);
    p->pass_weights = pd.weights_desc();
    p->impl = pd.impl_info_str();
    src_is_input = false;
    dst_is_input = true;
  } else {
    dnnl::convolution_backward_weights::desc desc(dnnl::algorithm::convolution_direct, src_in, any_diff_weights,
                                                  dst_in, strides, dilates, pad_l, pad_r);
    dnnl::convolution_backward_weights::primitive_desc pd(desc, engine, p->fwd_pd);
    p->pass = dnnl::convolution_backward_weights(pd);
    p->pass_weights = pd.diff_weights_desc();
    p->impl = pd.impl_info_str();
    dst_is_input = true;
  }
  if (bf16) {
    if (src_is_input) {
      p->src_bf16 = dnnl::memory(src_in, engine);
      p->src_to_bf16 = dnnl::reorder(dnnl::memory(p->act_src, engine, DNNL_MEMORY_NONE), p->src_bf16);
    }
    if (dst_is_input) {
      p->dst_bf16 = dnnl::memory(dst_in, engine);
      p->dst_to_bf16 = dnnl::reorder(dnnl::memory(p->act_dst, engine, DNNL_MEMORY_NONE), p->dst_bf16);
    }
  }
  p->weights_need_reorder = p->pass_weights != p->user_weights;
  if (p->weights_need_reorder) {
    p->weights_buffer = dnnl::memory(p->pass_weights, engine);
    dnnl::memory user(p->user_weights, engine, DNNL_MEMORY_NONE);
    p->weights_reorder = pass == ConvPass::BackwardWeights ? dnnl::reorder(p->weights_buffer, user)
                                                           : dnnl::reorder(user, p->weights_buffer);
  }
  return p;
}

bool is_reference(const std::string& impl) { return impl.rfind("ref", 0) == 0; }

std::atomic<bool> g_bf16{false};

// Tries the layouts (and, in bf16, the precisions) from fastest to safest; the reference kernels only as a last
// resort. A geometry with no optimized bf16 kernel computes in f32. The filter gradient always computes in f32: its
// bf16 kernel is no faster here (oneDNN 2.6 on AVX512-BF16, bench/README.md) once both inputs are converted, and
// its rounding is the one that goes straight into the weights.
ConvPrimitives* conv_primitives(ConvPass pass, const ConvGeom& g) {
  const bool bf16 = g_bf16 && pass != ConvPass::BackwardWeights;
  std::vector<int> key{static_cast<int>(pass), g.n, g.ih, g.iw, g.ic, g.oh, g.ow, g.oc, g.kh, g.kw,
                       g.sh, g.sw, g.pt, g.pl, g.pb, g.pr, g.dh, g.dw, bf16 ? 1 : 0};
  auto found = g_conv_cache.find(key);
  if (found != g_conv_cache.end()) return found->second.get();
  std::unique_ptr<ConvPrimitives> p;
  auto attempt = [&](bool blocked16, bool in_bf16) {
    if (p) return;
    try {
      p = make_conv_primitives(pass, g, blocked16, in_bf16);
      if (is_reference(p->impl)) p.reset();
    } catch (const dnnl::error&) {
    }
  };
  const bool square16 = g.ic == 16 && g.oc == 16;
  if (bf16 && square16) attempt(true, true);
  if (bf16) attempt(false, true);
  if (square16) attempt(true, false);
  if (!p) p = make_conv_primitives(pass, g, false, false);
  auto* raw = p.get();
  g_conv_cache.emplace(std::move(key), std::move(p));
  return raw;
}

}  // namespace

int set_threads(int threads) {
  g_threads = std::max(1, threads);
  omp_set_num_threads(g_threads);
  return g_threads;
}

int threads() { return g_threads; }

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
}

std::string cpu_isa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41: return "sse41";
    case dnnl::cpu_isa::avx: return "avx";
    case dnnl::cpu_isa::avx2: return "avx2";
    case dnnl::cpu_isa::avx2_vnni: return "avx2_vnni";
    case dnnl::cpu_isa::avx512_mic: return "avx512_mic";
    case dnnl::cpu_isa::avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl::cpu_isa::avx512_core: return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni: return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16: return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx: return "avx512_core_amx";
    default: return "unknown";
  }
}

bool bf16_supported() {
  const std::string isa = cpu_isa();
  return isa == "avx512_core_bf16" || isa == "avx512_core_amx";
}

void set_bf16(bool on) {
  if (on && !bf16_supported()) {
    throw std::runtime_error("bf16 precision needs oneDNN's avx512_core_bf16 ISA (a CPU with AVX512-BF16, or AMX); "
                             "oneDNN's effective ISA here is " + cpu_isa() +
                             (std::getenv("DNNL_MAX_CPU_ISA") ? std::string(" (capped by DNNL_MAX_CPU_ISA=") + std::getenv("DNNL_MAX_CPU_ISA") + ")" : std::string()) +
                             ": train in fp32");
  }
  g_bf16 = on;
}

bool bf16() { return g_bf16; }

namespace {

// One convolution with cached primitives (caller holds g_primitive_mutex).
bool run_conv(ConvPass pass, const ConvGeom& g, const float* a, const float* b, float* out, std::string* impl) {
  ConvPrimitives* p;
  try {
    p = conv_primitives(pass, g);
  } catch (const dnnl::error&) {
    return false;
  }
  if (impl) *impl = p->impl;
  auto& engine = cpu_engine();
  auto& stream = cpu_stream();
  auto act = [&](const dnnl::memory::desc& md, const float* ptr) {
    return dnnl::memory(md, engine, const_cast<float*>(ptr));
  };
  // An input activation as the pass reads it: tfjs's f32 array, or its bf16 copy.
  auto src_in = [&](const float* ptr) {
    if (!p->bf16) return act(p->act_src, ptr);
    p->src_to_bf16.execute(stream, {{DNNL_ARG_FROM, act(p->act_src, ptr)}, {DNNL_ARG_TO, p->src_bf16}});
    return p->src_bf16;
  };
  auto dst_in = [&](const float* ptr) {
    if (!p->bf16) return act(p->act_dst, ptr);
    p->dst_to_bf16.execute(stream, {{DNNL_ARG_FROM, act(p->act_dst, ptr)}, {DNNL_ARG_TO, p->dst_bf16}});
    return p->dst_bf16;
  };
  if (pass == ConvPass::BackwardWeights) {
    dnnl::memory user_dw = act(p->user_weights, out);
    dnnl::memory dw = p->weights_need_reorder ? p->weights_buffer : user_dw;
    p->pass.execute(stream, {{DNNL_ARG_SRC, src_in(a)},
                             {DNNL_ARG_DIFF_DST, dst_in(b)},
                             {DNNL_ARG_DIFF_WEIGHTS, dw}});
    if (p->weights_need_reorder) {
      p->weights_reorder.execute(stream, {{DNNL_ARG_FROM, p->weights_buffer}, {DNNL_ARG_TO, user_dw}});
    }
  } else {
    dnnl::memory user_w = act(p->user_weights, b);
    if (p->weights_need_reorder) {
      p->weights_reorder.execute(stream, {{DNNL_ARG_FROM, user_w}, {DNNL_ARG_TO, p->weights_buffer}});
    }
    dnnl::memory w = p->weights_need_reorder ? p->weights_buffer : user_w;
    if (pass == ConvPass::Forward) {
      p->pass.execute(stream, {{DNNL_ARG_SRC, src_in(a)}, {DNNL_ARG_WEIGHTS, w},
                               {DNNL_ARG_DST, act(p->act_dst, out)}});
    } else {
      p->pass.execute(stream, {{DNNL_ARG_DIFF_DST, dst_in(a)}, {DNNL_ARG_WEIGHTS, w},
                               {DNNL_ARG_DIFF_SRC, act(p->act_src, out)}});
    }
  }
  stream.wait();
  return true;
}

}  // namespace

bool conv2d(ConvPass pass, const ConvGeom& g, const float* a, const float* b, float* out, std::string* impl) {
  std::lock_guard<std::mutex> lock(g_primitive_mutex);
  // oneDNN sizes its team from the calling thread's OpenMP setting.
  omp_set_num_threads(g_threads);
  const bool power_of_two = (g.n & (g.n - 1)) == 0;
  // Creating primitives (oneDNN JIT-compiles them) costs a few ms each, more than running a small convolution, and
  // mixup batches or an epoch's last batch bring new sizes all the time. Any other size runs as its binary
  // decomposition into power-of-two chunks, whose primitives are cached. The split depends on the size alone, never
  // on call history, so a resumed run computes bit for bit what an uninterrupted one does.
  if (power_of_two) return run_conv(pass, g, a, b, out, impl);

  const size_t x_image = size_t(g.ih) * g.iw * g.ic, y_image = size_t(g.oh) * g.ow * g.oc;
  const size_t w_size = size_t(g.kh) * g.kw * g.ic * g.oc;
  std::vector<float> partial_dw;
  int done = 0;
  while (done < g.n) {
    int chunk = 1;
    while (chunk * 2 <= g.n - done) chunk *= 2;
    ConvGeom part = g;
    part.n = chunk;
    bool ok;
    if (pass == ConvPass::Forward) {
      ok = run_conv(pass, part, a + done * x_image, b, out + done * y_image, impl);
    } else if (pass == ConvPass::BackwardData) {
      ok = run_conv(pass, part, a + done * y_image, b, out + done * x_image, impl);
    } else if (done == 0) {
      ok = run_conv(pass, part, a, b, out, impl);
    } else {
      // The filter gradient sums over the batch: add each chunk's.
      partial_dw.resize(w_size);
      ok = run_conv(pass, part, a + done * x_image, b + done * y_image, partial_dw.data(), impl);
      if (ok)
        for (size_t i = 0; i < w_size; ++i) out[i] += partial_dw[i];
    }
    // No implementation for a chunk: the whole batch goes to the fallback (nothing partial is kept).
    if (!ok) return false;
    done += chunk;
  }
  return true;
}

namespace {

struct PoolPrimitives {
  dnnl::memory::desc src, dst;
  dnnl::pooling_forward::primitive_desc fwd_pd;
  dnnl::primitive fwd;
  // Backward only.
  dnnl::primitive bwd;
  dnnl::memory scratch_dst, workspace;
};

std::map<std::vector<int>, std::unique_ptr<PoolPrimitives>> g_pool_cache;

PoolPrimitives* pool_primitives(PoolKind kind, bool backward, const PoolGeom& g) {
  std::vector<int> key{static_cast<int>(kind), backward, g.n, g.ih, g.iw, g.c, g.oh, g.ow, g.kh, g.kw,
                       g.sh, g.sw, g.pt, g.pl, g.pb, g.pr};
  auto found = g_pool_cache.find(key);
  if (found != g_pool_cache.end()) return found->second.get();
  auto& engine = cpu_engine();
  auto p = std::make_unique<PoolPrimitives>();
  p->src = dnnl::memory::desc({g.n, g.c, g.ih, g.iw}, dt::f32, tag::nhwc);
  p->dst = dnnl::memory::desc({g.n, g.c, g.oh, g.ow}, dt::f32, tag::nhwc);
  const auto alg = kind == PoolKind::Max ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding;
  dims strides{g.sh, g.sw}, kernel{g.kh, g.kw}, pad_l{g.pt, g.pl}, pad_r{g.pb, g.pr};
  const auto prop = backward ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  p->fwd_pd = dnnl::pooling_forward::primitive_desc(
      dnnl::pooling_forward::desc(prop, alg, p->src, p->dst, strides, kernel, pad_l, pad_r), engine);
  p->fwd = dnnl::pooling_forward(p->fwd_pd);
  if (backward) {
    dnnl::pooling_backward::primitive_desc bwd_pd(
        dnnl::pooling_backward::desc(alg, p->src, p->dst, strides, kernel, pad_l, pad_r), engine, p->fwd_pd);
    p->bwd = dnnl::pooling_backward(bwd_pd);
    if (kind == PoolKind::Max) {
      p->scratch_dst = dnnl::memory(p->dst, engine);
      p->workspace = dnnl::memory(p->fwd_pd.workspace_desc(), engine);
    }
  }
  auto* raw = p.get();
  g_pool_cache.emplace(std::move(key), std::move(p));
  return raw;
}

}  // namespace

bool pool_forward(PoolKind kind, const PoolGeom& g, const float* x, float* y) {
  std::lock_guard<std::mutex> lock(g_primitive_mutex);
  omp_set_num_threads(g_threads);
  PoolPrimitives* p;
  try {
    p = pool_primitives(kind, false, g);
  } catch (const dnnl::error&) {
    return false;
  }
  auto& engine = cpu_engine();
  p->fwd.execute(cpu_stream(), {{DNNL_ARG_SRC, dnnl::memory(p->src, engine, const_cast<float*>(x))},
                                {DNNL_ARG_DST, dnnl::memory(p->dst, engine, y)}});
  cpu_stream().wait();
  return true;
}

bool pool_backward(PoolKind kind, const PoolGeom& g, const float* x, const float* dy, float* dx) {
  std::lock_guard<std::mutex> lock(g_primitive_mutex);
  omp_set_num_threads(g_threads);
  PoolPrimitives* p;
  try {
    p = pool_primitives(kind, true, g);
  } catch (const dnnl::error&) {
    return false;
  }
  auto& engine = cpu_engine();
  auto& stream = cpu_stream();
  std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_DIFF_DST, dnnl::memory(p->dst, engine, const_cast<float*>(dy))},
                                             {DNNL_ARG_DIFF_SRC, dnnl::memory(p->src, engine, dx)}};
  if (kind == PoolKind::Max) {
    p->fwd.execute(stream, {{DNNL_ARG_SRC, dnnl::memory(p->src, engine, const_cast<float*>(x))},
                            {DNNL_ARG_DST, p->scratch_dst},
                            {DNNL_ARG_WORKSPACE, p->workspace}});
    args.emplace(DNNL_ARG_WORKSPACE, p->workspace);
  }
  p->bwd.execute(stream, args);
  stream.wait();
  return true;
}

void matmul(int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_a, bool trans_b, const float* a,
            int64_t a_batch_stride, const float* b, int64_t b_batch_stride, float* c, const float* bias, bool relu) {
  omp_set_num_threads(g_threads);
  const int64_t lda = trans_a ? m : k, ldb = trans_b ? k : n;
  for (int64_t i = 0; i < batch; ++i) {
    float* ci = c + i * m * n;
    if (k == 0) {
      std::fill(ci, ci + m * n, 0.f);
    } else {
      dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, 1.f, a + i * a_batch_stride, lda,
                 b + i * b_batch_stride, ldb, 0.f, ci, n);
    }
    if (bias || relu) {
      for (int64_t r = 0; r < m; ++r) {
        float* row = ci + r * n;
        if (bias)
          for (int64_t j = 0; j < n; ++j) row[j] += bias[j];
        if (relu)
          for (int64_t j = 0; j < n; ++j) row[j] = row[j] < 0.f ? 0.f : row[j];
      }
    }
  }
}

// kdcl's own loops (elementwise, reductions, batch norm), built once per ISA level (elementwise.cc); the best
// level the CPU runs is picked once, at load time, so one addon runs on any x86-64 CPU.
namespace {

using Level = ElementwiseLevel;

Level detect_level() {
  const char* forced = std::getenv("KDCL_NATIVE_KERNELS");
  if (forced && std::string(forced) == "baseline") return Level::Baseline;
#if defined(KDCL_HAVE_V4)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx2") &&
      __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
    return Level::V4;
#endif
  return Level::Baseline;
}

const Level g_level = detect_level();

}  // namespace

const char* elementwise_level() { return g_level == Level::V4 ? "x86-64-v4" : "baseline"; }

#if defined(KDCL_HAVE_V4)
#define KDCL_DISPATCH(fn, ...) (g_level == Level::V4 ? isa_v4::fn(__VA_ARGS__) : isa_base::fn(__VA_ARGS__))
#else
#define KDCL_DISPATCH(fn, ...) isa_base::fn(__VA_ARGS__)
#endif

void binary(BinaryOp op, int rank, const int64_t* shape, const float* a, const int64_t* as, const float* b,
            const int64_t* bs, float* out) {
  KDCL_DISPATCH(binary, op, rank, shape, a, as, b, bs, out);
}

void unary(UnaryOp op, int64_t size, const float* x, float* out, float alpha) { KDCL_DISPATCH(unary, op, size, x, out, alpha); }

void reduce(ReduceOp op, int64_t outer, int64_t mid, int64_t inner, const float* x, float* out) {
  KDCL_DISPATCH(reduce, op, outer, mid, inner, x, out);
}

void batch_norm_train(int64_t rows, int64_t channels, const float* x, const float* gamma, const float* beta, float eps,
                      float* y, float* mean, float* variance) {
  KDCL_DISPATCH(batch_norm_train, rows, channels, x, gamma, beta, eps, y, mean, variance);
}

void batch_norm_train_grad(int64_t rows, int64_t channels, const float* dy, const float* x, const float* mean,
                           const float* variance, const float* gamma, float eps, float* dx, float* dgamma, float* dbeta) {
  KDCL_DISPATCH(batch_norm_train_grad, rows, channels, dy, x, mean, variance, gamma, eps, dx, dgamma, dbeta);
}

void batch_norm_infer(int64_t rows, int64_t channels, const float* x, const float* mean, int64_t mean_len,
                      const float* variance, int64_t variance_len, const float* scale, int64_t scale_len,
                      const float* offset, int64_t offset_len, float eps, float* y) {
  KDCL_DISPATCH(batch_norm_infer, rows, channels, x, mean, mean_len, variance, variance_len, scale, scale_len, offset,
                offset_len, eps, y);
}

}  // namespace kdcl
