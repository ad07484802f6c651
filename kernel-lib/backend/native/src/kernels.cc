#include "kernels.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

namespace kdcl {

namespace {

std::atomic<int> g_threads{1};

// Below this many elements a loop runs on one thread: waking the team costs more than it saves.
constexpr int64_t kParallelMin = 1 << 17;

int team_size(int64_t work) { return work < kParallelMin ? 1 : g_threads.load(); }

// Runs body(begin, end) over [0, n) split into contiguous chunks, one per thread. The split depends only on n
// and the thread count, so results (including reductions combined in thread order) are deterministic.
template <class Body>
void parallel_chunks(int64_t n, int64_t grain, Body body) {
  const int team = team_size(n * grain);
  if (team <= 1) {
    body(int64_t{0}, n, 0);
    return;
  }
#pragma omp parallel num_threads(team)
  {
    const int t = omp_get_thread_num();
    const int count = omp_get_num_threads();
    // Chunks of 16 elements keep AVX-512 loads aligned to the arrays' start.
    const int64_t per = ((n + count - 1) / count + 15) / 16 * 16;
    const int64_t begin = std::min(n, per * t);
    const int64_t end = std::min(n, begin + per);
    if (begin < end) body(begin, end, t);
  }
}

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
  dnnl::memory::desc act_src, act_dst, user_weights;
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
std::unique_ptr<ConvPrimitives> make_conv_primitives(ConvPass pass, const ConvGeom& g, bool blocked16) {
  auto& engine = cpu_engine();
  auto p = std::make_unique<ConvPrimitives>();
  const tag act = blocked16 ? tag::nChw16c : tag::nhwc;
  p->act_src = dnnl::memory::desc({g.n, g.ic, g.ih, g.iw}, dt::f32, act);
  p->act_dst = dnnl::memory::desc({g.n, g.oc, g.oh, g.ow}, dt::f32, act);
  p->user_weights = dnnl::memory::desc({g.oc, g.ic, g.kh, g.kw}, dt::f32, tag::hwio);
  dnnl::memory::desc any_weights({g.oc, g.ic, g.kh, g.kw}, dt::f32, tag::any);
  dims strides{g.sh, g.sw}, dilates{g.dh - 1, g.dw - 1}, pad_l{g.pt, g.pl}, pad_r{g.pb, g.pr};

  dnnl::convolution_forward::desc fwd_desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                           p->act_src, any_weights, p->act_dst, strides, dilates, pad_l, pad_r);
  p->fwd_pd = dnnl::convolution_forward::primitive_desc(fwd_desc, engine);
  if (pass == ConvPass::Forward) {
    p->pass = dnnl::convolution_forward(p->fwd_pd);
    p->pass_weights = p->fwd_pd.weights_desc();
    p->impl = p->fwd_pd.impl_info_str();
  } else if (pass == ConvPass::BackwardData) {
    dnnl::convolution_backward_data::desc desc(dnnl::algorithm::convolution_direct, p->act_src, any_weights,
                                               p->act_dst, strides, dilates, pad_l, pad_r);
    dnnl::convolution_backward_data::primitive_desc pd(desc, engine, p->fwd_pd);
    p->pass = dnnl::convolution_backward_data(pd);
    p->pass_weights = pd.weights_desc();
    p->impl = pd.impl_info_str();
  } else {
    dnnl::convolution_backward_weights::desc desc(dnnl::algorithm::convolution_direct, p->act_src, any_weights,
                                                  p->act_dst, strides, dilates, pad_l, pad_r);
    dnnl::convolution_backward_weights::primitive_desc pd(desc, engine, p->fwd_pd);
    p->pass = dnnl::convolution_backward_weights(pd);
    p->pass_weights = pd.diff_weights_desc();
    p->impl = pd.impl_info_str();
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

ConvPrimitives* conv_primitives(ConvPass pass, const ConvGeom& g) {
  std::vector<int> key{static_cast<int>(pass), g.n, g.ih, g.iw, g.ic, g.oh, g.ow, g.oc, g.kh, g.kw,
                       g.sh, g.sw, g.pt, g.pl, g.pb, g.pr, g.dh, g.dw};
  auto found = g_conv_cache.find(key);
  if (found != g_conv_cache.end()) return found->second.get();
  std::unique_ptr<ConvPrimitives> p;
  if (g.ic == 16 && g.oc == 16) {
    try {
      p = make_conv_primitives(pass, g, true);
      if (is_reference(p->impl)) p.reset();
    } catch (const dnnl::error&) {
    }
  }
  if (!p) p = make_conv_primitives(pass, g, false);
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
  if (pass == ConvPass::BackwardWeights) {
    dnnl::memory user_dw = act(p->user_weights, out);
    dnnl::memory dw = p->weights_need_reorder ? p->weights_buffer : user_dw;
    p->pass.execute(stream, {{DNNL_ARG_SRC, act(p->act_src, a)},
                             {DNNL_ARG_DIFF_DST, act(p->act_dst, b)},
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
      p->pass.execute(stream, {{DNNL_ARG_SRC, act(p->act_src, a)}, {DNNL_ARG_WEIGHTS, w},
                               {DNNL_ARG_DST, act(p->act_dst, out)}});
    } else {
      p->pass.execute(stream, {{DNNL_ARG_DIFF_DST, act(p->act_dst, a)}, {DNNL_ARG_WEIGHTS, w},
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

namespace {

template <class F>
void binary_loop(int rank, const int64_t* shape, const float* a, const int64_t* as, const float* b, const int64_t* bs,
                 float* out, F f) {
  // Merge adjacent dims that both operands walk contiguously (or both broadcast), so typical cases reduce to
  // one or two dims.
  int64_t sh[8], sa[8], sb[8];
  int r = 0;
  for (int d = 0; d < rank; ++d) {
    if (shape[d] == 1) continue;
    if (r > 0 && sa[r - 1] == as[d] * shape[d] && sb[r - 1] == bs[d] * shape[d]) {
      sh[r - 1] *= shape[d];
      sa[r - 1] = as[d];
      sb[r - 1] = bs[d];
      continue;
    }
    sh[r] = shape[d];
    sa[r] = as[d];
    sb[r] = bs[d];
    ++r;
  }
  if (r == 0) {
    out[0] = f(a[0], b[0]);
    return;
  }
  const int64_t inner = sh[r - 1], ia = sa[r - 1], ib = sb[r - 1];
  int64_t rows = 1;
  for (int d = 0; d < r - 1; ++d) rows *= sh[d];
  auto run_inner = [&](const float* pa, const float* pb, float* po, int64_t begin, int64_t end) {
    if (ia == 1 && ib == 1) {
      for (int64_t j = begin; j < end; ++j) po[j] = f(pa[j], pb[j]);
    } else if (ia == 1 && ib == 0) {
      const float vb = pb[0];
      for (int64_t j = begin; j < end; ++j) po[j] = f(pa[j], vb);
    } else if (ia == 0 && ib == 1) {
      const float va = pa[0];
      for (int64_t j = begin; j < end; ++j) po[j] = f(va, pb[j]);
    } else {
      for (int64_t j = begin; j < end; ++j) po[j] = f(pa[j * ia], pb[j * ib]);
    }
  };
  if (rows == 1) {
    parallel_chunks(inner, 1, [&](int64_t begin, int64_t end, int) { run_inner(a, b, out, begin, end); });
    return;
  }
  parallel_chunks(rows, inner, [&](int64_t begin, int64_t end, int) {
    for (int64_t row = begin; row < end; ++row) {
      int64_t rest = row, oa = 0, ob = 0;
      for (int d = r - 2; d >= 0; --d) {
        const int64_t i = rest % sh[d];
        rest /= sh[d];
        oa += i * sa[d];
        ob += i * sb[d];
      }
      run_inner(a + oa, b + ob, out + row * inner, 0, inner);
    }
  });
}

template <class F>
void unary_loop(int64_t size, const float* x, float* out, F f) {
  parallel_chunks(size, 1, [&](int64_t begin, int64_t end, int) {
    // Local copies: otherwise the compiler must assume `out` may alias the closure (e.g. step's alpha) and
    // reloads it every element instead of vectorising.
    const F fn = f;
    const float* __restrict src = x;
    float* __restrict dst = out;
    for (int64_t i = begin; i < end; ++i) dst[i] = fn(src[i]);
  });
}

}  // namespace

void binary(BinaryOp op, int rank, const int64_t* shape, const float* a, const int64_t* as, const float* b,
            const int64_t* bs, float* out) {
  switch (op) {
    case BinaryOp::Add: return binary_loop(rank, shape, a, as, b, bs, out, [](float x, float y) { return x + y; });
    case BinaryOp::Sub: return binary_loop(rank, shape, a, as, b, bs, out, [](float x, float y) { return x - y; });
    case BinaryOp::Mul: return binary_loop(rank, shape, a, as, b, bs, out, [](float x, float y) { return x * y; });
    case BinaryOp::Div: return binary_loop(rank, shape, a, as, b, bs, out, [](float x, float y) { return x / y; });
    // tfjs's Maximum/Minimum propagate NaN.
    case BinaryOp::Max:
      return binary_loop(rank, shape, a, as, b, bs, out,
                         [](float x, float y) { return (x != x || y != y) ? NAN : (x > y ? x : y); });
    case BinaryOp::Min:
      return binary_loop(rank, shape, a, as, b, bs, out,
                         [](float x, float y) { return (x != x || y != y) ? NAN : (x < y ? x : y); });
    case BinaryOp::SquaredDiff:
      return binary_loop(rank, shape, a, as, b, bs, out, [](float x, float y) { return (x - y) * (x - y); });
  }
}

void unary(UnaryOp op, int64_t size, const float* x, float* out, float alpha) {
  switch (op) {
    // tfjs's relu keeps NaN; step maps NaN to NaN.
    case UnaryOp::Relu: return unary_loop(size, x, out, [](float v) { return v < 0.f ? 0.f : v; });
    case UnaryOp::Step:
      return unary_loop(size, x, out, [alpha](float v) {
        const float s = v > 0.f ? 1.f : alpha;
        return std::isnan(v) ? v : s;
      });
    case UnaryOp::Neg: return unary_loop(size, x, out, [](float v) { return -v; });
    case UnaryOp::Square: return unary_loop(size, x, out, [](float v) { return v * v; });
    case UnaryOp::Sqrt: return unary_loop(size, x, out, [](float v) { return std::sqrt(v); });
    case UnaryOp::Rsqrt: return unary_loop(size, x, out, [](float v) { return 1.f / std::sqrt(v); });
    case UnaryOp::Exp: return unary_loop(size, x, out, [](float v) { return std::exp(v); });
    case UnaryOp::Log: return unary_loop(size, x, out, [](float v) { return std::log(v); });
    case UnaryOp::Abs: return unary_loop(size, x, out, [](float v) { return std::fabs(v); });
    case UnaryOp::Reciprocal: return unary_loop(size, x, out, [](float v) { return 1.f / v; });
  }
}

void reduce(ReduceOp op, int64_t outer, int64_t mid, int64_t inner, const float* x, float* out) {
  const bool extremum = op == ReduceOp::Max || op == ReduceOp::Min;
  const bool is_max = op == ReduceOp::Max;
  // Sums accumulate in double, like tfjs's reference kernels (JS numbers).
  auto combine = [&](double acc, float v) {
    if (!extremum) return acc + v;
    if (v != v || acc != acc) return static_cast<double>(NAN);
    return is_max ? (v > acc ? v : acc) : (v < acc ? v : acc);
  };
  auto finish = [&](double acc) { return static_cast<float>(op == ReduceOp::Mean ? acc / mid : acc); };
  if (mid == 0) {
    for (int64_t i = 0; i < outer * inner; ++i) out[i] = extremum ? (is_max ? -INFINITY : INFINITY) : NAN;
    if (op == ReduceOp::Sum) std::fill(out, out + outer * inner, 0.f);
    return;
  }
  if (inner == 1) {
    // Row reductions: one row per output.
    parallel_chunks(outer, mid, [&](int64_t begin, int64_t end, int) {
      for (int64_t o = begin; o < end; ++o) {
        const float* row = x + o * mid;
        double acc = row[0];
        for (int64_t m = 1; m < mid; ++m) acc = combine(acc, row[m]);
        out[o] = finish(acc);
      }
    });
    return;
  }
  // Column reductions: split the reduced axis across threads, each with its own partial results, combined in
  // thread order.
  const int team = team_size(outer * mid * inner);
  std::vector<double> partial(static_cast<size_t>(team) * outer * inner);
  std::vector<char> used(team, 0);
  parallel_chunks(mid, outer * inner, [&](int64_t begin, int64_t end, int t) {
    used[t] = 1;
    double* acc = partial.data() + static_cast<size_t>(t) * outer * inner;
    for (int64_t o = 0; o < outer; ++o) {
      double* acc_o = acc + o * inner;
      const float* base = x + (o * mid + begin) * inner;
      for (int64_t i = 0; i < inner; ++i) acc_o[i] = base[i];
      for (int64_t m = begin + 1; m < end; ++m) {
        const float* row = x + (o * mid + m) * inner;
        if (extremum) {
          for (int64_t i = 0; i < inner; ++i) acc_o[i] = combine(acc_o[i], row[i]);
        } else {
          for (int64_t i = 0; i < inner; ++i) acc_o[i] += row[i];
        }
      }
    }
  });
  for (int64_t j = 0; j < outer * inner; ++j) {
    bool first = true;
    double acc = 0;
    for (int t = 0; t < team; ++t) {
      if (!used[t]) continue;
      const double v = partial[static_cast<size_t>(t) * outer * inner + j];
      if (first) {
        acc = v;
        first = false;
      } else if (extremum) {
        acc = (v != v || acc != acc) ? NAN : (is_max ? std::max(acc, v) : std::min(acc, v));
      } else {
        acc += v;
      }
    }
    out[j] = finish(acc);
  }
}

namespace {

// Channel-periodic view of an NHWC array: flat element i belongs to channel i % C. With few channels (C = 4 in a
// quarter-width ResNet-32) a row of C floats is too short to vectorise, so loops run over "periods" of
// P = lcm(C, 16) elements, with per-channel constants repeated across the period.
struct Periods {
  int64_t rows;    // number of periods
  int64_t period;  // P
  int64_t channels;
};

Periods periods_of(int64_t rows, int64_t channels) {
  int64_t p = channels;
  while (p % 16 != 0) p += channels;  // lcm(C, 16)
  if (p > 1024 || (rows * channels) % p != 0) p = channels;
  return {rows * channels / p, p, channels};
}

std::vector<float> repeat_per_period(const Periods& v, const std::vector<float>& per_channel) {
  std::vector<float> out(v.period);
  for (int64_t k = 0; k < v.period; ++k) out[k] = per_channel[k % v.channels];
  return out;
}

// Sums over the periods of `terms` per-element terms: row_fn(row, acc) adds row's terms into acc[t * P + k].
// Rows are split across threads, each with its own partials, combined in thread order (deterministic). Returns
// the sums folded to channels: result[t * C + c].
template <class RowFn>
std::vector<double> channel_sums(const Periods& v, int terms, RowFn row_fn) {
  const int64_t p = v.period;
  const int team = team_size(v.rows * p);
  const size_t width = static_cast<size_t>(terms) * p;
  std::vector<double> partial(team * width, 0.0);
  parallel_chunks(v.rows, p, [&](int64_t begin, int64_t end, int t) {
    double* acc = partial.data() + t * width;
    // Accumulate blocks of rows in float (vectorised), then fold into double to bound rounding error.
    constexpr int64_t kBlock = 64;
    std::vector<float> block(width);
    for (int64_t r0 = begin; r0 < end; r0 += kBlock) {
      std::fill(block.begin(), block.end(), 0.f);
      const int64_t r1 = std::min(end, r0 + kBlock);
      for (int64_t r = r0; r < r1; ++r) row_fn(r, block.data());
      for (size_t j = 0; j < width; ++j) acc[j] += block[j];
    }
  });
  std::vector<double> result(static_cast<size_t>(terms) * v.channels, 0.0);
  for (int t = 0; t < team; ++t)
    for (int term = 0; term < terms; ++term)
      for (int64_t k = 0; k < p; ++k) result[term * v.channels + k % v.channels] += partial[t * width + term * p + k];
  return result;
}

// y = x * mul + add per channel.
void channel_affine(const Periods& v, const float* x, const std::vector<float>& mul, const std::vector<float>& add, float* y) {
  const std::vector<float> m = repeat_per_period(v, mul), a = repeat_per_period(v, add);
  const int64_t p = v.period;
  parallel_chunks(v.rows, p, [&](int64_t begin, int64_t end, int) {
    const float* __restrict mp = m.data();
    const float* __restrict ap = a.data();
    for (int64_t r = begin; r < end; ++r) {
      const float* __restrict xr = x + r * p;
      float* __restrict yr = y + r * p;
      for (int64_t k = 0; k < p; ++k) yr[k] = xr[k] * mp[k] + ap[k];
    }
  });
}

}  // namespace

void batch_norm_train(int64_t rows, int64_t channels, const float* x, const float* gamma, const float* beta, float eps,
                      float* y, float* mean, float* variance) {
  const int64_t c = channels;
  const Periods v = periods_of(rows, c);
  const int64_t p = v.period;
  // Shifting by the first pixel before summing squares keeps E[x^2] - E[x]^2 well conditioned.
  const std::vector<float> shift = repeat_per_period(v, std::vector<float>(x, x + c));
  const std::vector<double> sums = channel_sums(v, 2, [&](int64_t r, float* acc) {
    const float* __restrict xr = x + r * p;
    const float* __restrict sh = shift.data();
    float* __restrict s1 = acc;
    float* __restrict s2 = acc + p;
    for (int64_t k = 0; k < p; ++k) {
      const float d = xr[k] - sh[k];
      s1[k] += d;
      s2[k] += d * d;
    }
  });
  std::vector<float> scale(c), bias(c);
  for (int64_t j = 0; j < c; ++j) {
    const double m = sums[j] / rows;
    const double var = std::max(0.0, sums[c + j] / rows - m * m);
    const double mu = m + x[j];
    mean[j] = static_cast<float>(mu);
    variance[j] = static_cast<float>(var);
    const double invstd = 1.0 / std::sqrt(static_cast<double>(variance[j]) + eps);
    scale[j] = static_cast<float>(gamma[j] * invstd);
    bias[j] = static_cast<float>(beta[j] - mu * gamma[j] * invstd);
  }
  channel_affine(v, x, scale, bias, y);
}

void batch_norm_train_grad(int64_t rows, int64_t channels, const float* dy, const float* x, const float* mean,
                           const float* variance, const float* gamma, float eps, float* dx, float* dgamma,
                           float* dbeta) {
  const int64_t c = channels;
  const Periods v = periods_of(rows, c);
  const int64_t p = v.period;
  const std::vector<float> mean_p = repeat_per_period(v, std::vector<float>(mean, mean + c));
  const std::vector<double> sums = channel_sums(v, 2, [&](int64_t r, float* acc) {
    const float* __restrict dyr = dy + r * p;
    const float* __restrict xr = x + r * p;
    const float* __restrict mp = mean_p.data();
    float* __restrict s1 = acc;
    float* __restrict s2 = acc + p;
    for (int64_t k = 0; k < p; ++k) {
      s1[k] += dyr[k];
      s2[k] += dyr[k] * (xr[k] - mp[k]);
    }
  });
  // dx = a * dy + k * x + b per channel, with a = gamma * invstd, xhat = (x - mean) * invstd:
  //   dx = a * (dy - dbeta / M - xhat * dgamma / M).
  std::vector<float> a(c), k(c), b(c);
  for (int64_t j = 0; j < c; ++j) {
    const double invstd = 1.0 / std::sqrt(static_cast<double>(variance[j]) + eps);
    const double db = sums[j], dg = sums[c + j] * invstd;
    dbeta[j] = static_cast<float>(db);
    dgamma[j] = static_cast<float>(dg);
    const double aj = gamma[j] * invstd;
    const double kj = -aj * invstd * dg / rows;
    a[j] = static_cast<float>(aj);
    k[j] = static_cast<float>(kj);
    b[j] = static_cast<float>(-aj * db / rows - kj * mean[j]);
  }
  const std::vector<float> ap = repeat_per_period(v, a), kp = repeat_per_period(v, k), bp = repeat_per_period(v, b);
  parallel_chunks(v.rows, p, [&](int64_t begin, int64_t end, int) {
    const float* __restrict av = ap.data();
    const float* __restrict kv = kp.data();
    const float* __restrict bv = bp.data();
    for (int64_t r = begin; r < end; ++r) {
      const float* __restrict dyr = dy + r * p;
      const float* __restrict xr = x + r * p;
      float* __restrict dxr = dx + r * p;
      for (int64_t j = 0; j < p; ++j) dxr[j] = av[j] * dyr[j] + kv[j] * xr[j] + bv[j];
    }
  });
}

void batch_norm_infer(int64_t rows, int64_t channels, const float* x, const float* mean, int64_t mean_len,
                      const float* variance, int64_t variance_len, const float* scale, int64_t scale_len,
                      const float* offset, int64_t offset_len, float eps, float* y) {
  const int64_t c = channels;
  auto at = [c](const float* p, int64_t len, int64_t j, float fallback) {
    return p ? p[len == c ? j : 0] : fallback;
  };
  std::vector<float> mul(c), add(c);
  for (int64_t j = 0; j < c; ++j) {
    const double s = at(scale, scale_len, j, 1.f) / std::sqrt(static_cast<double>(at(variance, variance_len, j, 0.f)) + eps);
    mul[j] = static_cast<float>(s);
    add[j] = static_cast<float>(at(offset, offset_len, j, 0.f) - at(mean, mean_len, j, 0.f) * s);
  }
  channel_affine(periods_of(rows, c), x, mul, add, y);
}

}  // namespace kdcl
