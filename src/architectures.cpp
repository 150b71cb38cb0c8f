#include "gradrecomp/architectures.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "gradrecomp/error.h"

namespace gradrecomp {
namespace {

// ---- A tiny autograd: forward ops are recorded, the backward pass is derived --------------

using Handle = int32_t;  // index of a recorded tensor

struct RecordedTensor {
  std::string id;
  uint64_t bytes = 0;
  double elements = 0;          // for element-wise costs
  bool requires_grad = false;   // a gradient flows back to it
};

struct OutputDecl {
  std::string suffix;           // "" for the main output (id = op name), ".stats", ...
  uint64_t bytes = 0;
  double elements = 0;
  bool differentiable = true;   // false for statistics, indices, the loss
};

struct RecordedOp {
  std::string name;
  std::string kind;
  std::vector<Handle> inputs;
  std::vector<Handle> outputs;
  std::vector<bool> output_differentiable;
  std::vector<Handle> saved;        // what the backward reads besides output gradients
  double forward_cost = 0;
  double backward_cost = 0;
  bool identity_grad = false;       // add: no backward node, gradient passed on as is
  bool is_loss = false;             // backward seeded with 1, reads no output gradient
  int64_t parameters = 0;
};

RecordedOp make_op(std::string name, std::string kind, std::vector<Handle> inputs) {
  RecordedOp op;
  op.name = std::move(name);
  op.kind = std::move(kind);
  op.inputs = std::move(inputs);
  return op;
}

class Recorder {
 public:
  explicit Recorder(uint64_t bytes_per_element) : bpe_(bytes_per_element) {}

  uint64_t bpe() const { return bpe_; }
  const RecordedTensor& tensor(Handle h) const { return tensors_[h]; }
  double elements(Handle h) const { return tensors_[h].elements; }
  int64_t parameters() const { return parameters_; }
  int32_t forward_nodes() const { return static_cast<int32_t>(ops_.size()); }

  Handle input(const std::string& id, double elements, uint64_t bytes_per_element) {
    tensors_.push_back({id, static_cast<uint64_t>(elements) * bytes_per_element, elements, false});
    inputs_.push_back(static_cast<Handle>(tensors_.size() - 1));
    return inputs_.back();
  }

  // Records a forward op; returns its outputs. `saved` may name inputs, outputs (by index into the
  // returned vector, see kSavedOutput) or any earlier tensor.
  std::vector<Handle> op(RecordedOp op, const std::vector<OutputDecl>& outputs, std::vector<int32_t> saved_outputs = {}) {
    bool any_grad = op.parameters > 0;
    for (Handle h : op.inputs) any_grad = any_grad || tensors_[h].requires_grad;
    for (const OutputDecl& o : outputs) {
      tensors_.push_back({op.name + o.suffix, o.bytes, o.elements, o.differentiable && any_grad});
      op.outputs.push_back(static_cast<Handle>(tensors_.size() - 1));
      op.output_differentiable.push_back(o.differentiable);
    }
    for (int32_t index : saved_outputs) op.saved.push_back(op.outputs[index]);
    parameters_ += op.parameters;
    ops_.push_back(std::move(op));
    return ops_.back().outputs;
  }

  Handle op1(RecordedOp op, uint64_t bytes, double elements) {
    return this->op(std::move(op), {{"", bytes, elements, true}})[0];
  }

  Graph build(const std::string& name, const std::string& architecture) && {
    const int32_t tensor_count = static_cast<int32_t>(tensors_.size());
    // Gradient contributions each tensor expects: one per forward consumer.
    expected_.assign(tensor_count, 0);
    for (const RecordedOp& op : ops_) {
      for (Handle h : op.inputs) {
        if (tensors_[h].requires_grad) ++expected_[h];
      }
    }
    contributions_.assign(tensor_count, {});
    gradient_.assign(tensor_count, -1);

    GraphBuilder b(name);
    b.constant_bytes(static_cast<uint64_t>(parameters_) * bpe_ * 2);
    b.meta_json(fmt::format(R"({{"architecture":"{}","parameters":{},"forward_nodes":{}}})", architecture,
                            parameters_, ops_.size()));
    for (Handle h : inputs_) b.input(tensors_[h].id, tensors_[h].bytes);
    for (const RecordedOp& op : ops_) {
      std::vector<OutputSpec> outs;
      for (Handle h : op.outputs) outs.push_back({tensors_[h].id, tensors_[h].bytes});
      b.node(op.name, op.forward_cost, ids(op.inputs), outs, 0,
             fmt::format(R"({{"op":"{}","phase":"forward"}})", op.kind));
    }
    for (size_t i = ops_.size(); i-- > 0;) emit_backward(b, ops_[i]);
    return std::move(b).build();
  }

 private:
  std::vector<std::string> ids(const std::vector<Handle>& handles) const {
    std::vector<std::string> out;
    for (Handle h : handles) out.push_back(tensors_[h].id);
    return out;
  }

  // The full gradient of tensor h: its single contribution, or a grad_sum node over several.
  Handle gradient_of(GraphBuilder& b, Handle h) {
    if (gradient_[h] >= 0) return gradient_[h];
    std::vector<Handle>& parts = contributions_[h];
    GRADRECOMP_ASSERT(static_cast<int32_t>(parts.size()) == expected_[h] && !parts.empty(),
                      fmt::format("tensor {} got {} gradient contributions, expected {}", tensors_[h].id,
                                  parts.size(), expected_[h]));
    if (parts.size() == 1) return gradient_[h] = parts[0];
    const RecordedTensor t = tensors_[h];  // a copy: tensors_ grows below
    tensors_.push_back({"d." + t.id, t.bytes, t.elements, false});
    Handle sum = static_cast<Handle>(tensors_.size() - 1);
    // grad_sum: (k - 1) additions per element.
    b.node(t.id + ".grad_sum", static_cast<double>(parts.size() - 1) * t.elements, ids(parts),
           {{tensors_[sum].id, t.bytes}}, 0, R"({"op":"grad_sum","phase":"backward"})");
    return gradient_[h] = sum;
  }

  void emit_backward(GraphBuilder& b, const RecordedOp& op) {
    bool needs = op.parameters > 0;
    for (Handle h : op.inputs) needs = needs || tensors_[h].requires_grad;
    if (!needs) return;
    std::vector<Handle> output_grads;
    if (!op.is_loss) {
      for (size_t i = 0; i < op.outputs.size(); ++i) {
        if (op.output_differentiable[i]) output_grads.push_back(gradient_of(b, op.outputs[i]));
      }
    }
    if (op.identity_grad) {
      GRADRECOMP_ASSERT(output_grads.size() == 1, op.name);
      for (Handle h : op.inputs) {
        if (tensors_[h].requires_grad) contributions_[h].push_back(output_grads[0]);
      }
      return;
    }
    std::vector<Handle> reads = op.saved;
    for (Handle g : output_grads) {
      if (std::find(reads.begin(), reads.end(), g) == reads.end()) reads.push_back(g);
    }
    std::vector<OutputSpec> outs;
    for (Handle h : op.inputs) {
      if (!tensors_[h].requires_grad) continue;
      const RecordedTensor t = tensors_[h];  // a copy: tensors_ grows below
      std::string id = expected_[h] == 1 ? "d." + t.id : "d." + t.id + "@" + op.name;
      tensors_.push_back({id, t.bytes, t.elements, false});
      contributions_[h].push_back(static_cast<Handle>(tensors_.size() - 1));
      outs.push_back({id, t.bytes});
    }
    b.node(op.name + ".backward", op.backward_cost, ids(reads), outs, 0,
           fmt::format(R"({{"op":"{}_backward","phase":"backward","forward":"{}"}})", op.kind, op.name));
  }

  uint64_t bpe_;
  std::vector<RecordedTensor> tensors_;
  std::vector<Handle> inputs_;
  std::vector<RecordedOp> ops_;
  int64_t parameters_ = 0;
  std::vector<int32_t> expected_;
  std::vector<std::vector<Handle>> contributions_;
  std::vector<Handle> gradient_;
};

// ---- Image ops (NCHW activations) ---------------------------------------------------------

struct Image {
  Handle h;
  int64_t c, hw;  // channels, height = width
};

class ImageNet {
 public:
  ImageNet(Recorder& r, int64_t batch) : r_(r), batch_(batch) {}

  double elems(int64_t c, int64_t hw) const { return static_cast<double>(batch_ * c * hw * hw); }
  uint64_t bytes(int64_t c, int64_t hw) const { return static_cast<uint64_t>(batch_ * c * hw * hw) * r_.bpe(); }

  // Convolution: 2 FLOPs per multiply-add; backward 2x (input and weight gradients), 1x when the
  // input needs no gradient. Saves its input.
  Image conv(const std::string& name, Image x, int64_t out_c, int64_t k, int64_t stride, int64_t pad, bool bias) {
    int64_t out_hw = (x.hw + 2 * pad - k) / stride + 1;
    if (out_hw < 1) throw Error(fmt::format("{}: input {}x{} is too small for a {}x{}/{} convolution", name, x.hw, x.hw, k, k, stride));
    double flops = 2.0 * elems(out_c, out_hw) * static_cast<double>(x.c * k * k);
    RecordedOp op = make_op(name, "conv2d", {x.h});
    op.saved = {x.h};
    op.forward_cost = flops;
    op.backward_cost = r_.tensor(x.h).requires_grad ? 2 * flops : flops;
    op.parameters = x.c * out_c * k * k + (bias ? out_c : 0);
    return {r_.op1(std::move(op), bytes(out_c, out_hw), elems(out_c, out_hw)), out_c, out_hw};
  }

  // 2x2/2 transposed convolution (U-Net up-sampling), with bias.
  Image up_conv(const std::string& name, Image x, int64_t out_c) {
    int64_t out_hw = x.hw * 2;
    double flops = 2.0 * elems(x.c, x.hw) * static_cast<double>(out_c * 4);
    RecordedOp op = make_op(name, "conv_transpose2d", {x.h});
    op.saved = {x.h};
    op.forward_cost = flops;
    op.backward_cost = 2 * flops;
    op.parameters = x.c * out_c * 4 + out_c;
    return {r_.op1(std::move(op), bytes(out_c, out_hw), elems(out_c, out_hw)), out_c, out_hw};
  }

  // Training-mode batch norm: ~4 FLOPs per element forward, ~8 backward; saves its input and the
  // per-channel mean and inverse std (the ".stats" output).
  Image batch_norm(const std::string& name, Image x) {
    double n = elems(x.c, x.hw);
    RecordedOp op = make_op(name, "batch_norm", {x.h});
    op.saved = {x.h};
    op.forward_cost = 4 * n;
    op.backward_cost = 8 * n;
    op.parameters = 2 * x.c;
    auto outs = r_.op(std::move(op), {{"", bytes(x.c, x.hw), n, true},
                                      {".stats", static_cast<uint64_t>(2 * x.c) * r_.bpe(), 2.0 * x.c, false}},
                      {1});
    return {outs[0], x.c, x.hw};
  }

  // relu: 1 FLOP per element each way; saves its output.
  Image relu(const std::string& name, Image x) {
    double n = elems(x.c, x.hw);
    RecordedOp op = make_op(name, "relu", {x.h});
    op.forward_cost = n;
    op.backward_cost = n;
    auto outs = r_.op(std::move(op), {{"", bytes(x.c, x.hw), n, true}}, {0});
    return {outs[0], x.c, x.hw};
  }

  Image add(const std::string& name, Image a, Image b) {
    GRADRECOMP_ASSERT(a.c == b.c && a.hw == b.hw, name);
    double n = elems(a.c, a.hw);
    RecordedOp op = make_op(name, "add", {a.h, b.h});
    op.forward_cost = n;
    op.identity_grad = true;
    return {r_.op1(std::move(op), bytes(a.c, a.hw), n), a.c, a.hw};
  }

  // Max pool k x k / stride, padding pad: k*k comparisons per output element; saves its input and
  // the int64 indices (the ".indices" output); backward scatters one value per output element.
  Image max_pool(const std::string& name, Image x, int64_t k, int64_t stride, int64_t pad) {
    int64_t out_hw = (x.hw + 2 * pad - k) / stride + 1;
    double n = elems(x.c, out_hw);
    RecordedOp op = make_op(name, "max_pool2d", {x.h});
    op.saved = {x.h};
    op.forward_cost = static_cast<double>(k * k) * n;
    op.backward_cost = elems(x.c, x.hw);
    auto outs = r_.op(std::move(op), {{"", bytes(x.c, out_hw), n, true},
                                      {".indices", static_cast<uint64_t>(n) * 8, n, false}},
                      {1});
    return {outs[0], x.c, out_hw};
  }

  // Concatenation along channels: a copy each way; saves nothing.
  Image concat(const std::string& name, Image a, Image b) {
    GRADRECOMP_ASSERT(a.hw == b.hw, name);
    double n = elems(a.c + b.c, a.hw);
    RecordedOp op = make_op(name, "concat", {a.h, b.h});
    op.forward_cost = n;
    op.backward_cost = n;
    return {r_.op1(std::move(op), bytes(a.c + b.c, a.hw), n), a.c + b.c, a.hw};
  }

  Recorder& recorder() { return r_; }
  int64_t batch() const { return batch_; }

 private:
  Recorder& r_;
  int64_t batch_;
};

// Global average pool to [N, C], linear layer, cross-entropy against int64 labels.
void classifier_head(ImageNet& net, Image x, int64_t classes, Handle labels) {
  Recorder& r = net.recorder();
  const double batch = static_cast<double>(net.batch());
  double pooled_n = batch * static_cast<double>(x.c);
  RecordedOp pool = make_op("avgpool", "avg_pool2d", {x.h});
  pool.forward_cost = net.elems(x.c, x.hw);   // one add per input element
  pool.backward_cost = net.elems(x.c, x.hw);  // spread each gradient over the window
  Handle pooled = r.op1(std::move(pool), static_cast<uint64_t>(pooled_n) * r.bpe(), pooled_n);

  double logits_n = batch * static_cast<double>(classes);
  RecordedOp fc = make_op("fc", "linear", {pooled});
  fc.saved = {pooled};
  fc.forward_cost = 2.0 * batch * static_cast<double>(x.c * classes);
  fc.backward_cost = 2 * fc.forward_cost;
  fc.parameters = x.c * classes + classes;
  Handle logits = r.op1(std::move(fc), static_cast<uint64_t>(logits_n) * r.bpe(), logits_n);

  // cross_entropy: log-softmax + gather, ~4 FLOPs per logit; backward softmax - one-hot.
  RecordedOp loss = make_op("loss", "cross_entropy", {logits, labels});
  loss.saved = {logits, labels};
  loss.forward_cost = 4 * logits_n;
  loss.backward_cost = 2 * logits_n;
  loss.is_loss = true;
  r.op(std::move(loss), {{"", r.bpe(), 1, false}});
}

std::vector<int32_t> split_blocks(int32_t blocks, int32_t stages) {
  std::vector<int32_t> out(stages, blocks / stages);
  for (int32_t i = 0; i < blocks % stages; ++i) ++out[i];
  return out;
}

// ---- Sequence ops ([B, S, D] activations) -------------------------------------------------

class SequenceNet {
 public:
  SequenceNet(Recorder& r, int64_t batch, int64_t seq) : r_(r), rows_(batch * seq) {}

  Handle tensor_bytes_helper(RecordedOp op, int64_t width) {
    double n = static_cast<double>(rows_ * width);
    return r_.op1(std::move(op), static_cast<uint64_t>(n) * r_.bpe(), n);
  }

  // Linear layer with bias on every row: 2*in*out FLOPs per row; saves its input.
  Handle linear(const std::string& name, Handle x, int64_t in, int64_t out) {
    RecordedOp op = make_op(name, "linear", {x});
    op.saved = {x};
    op.forward_cost = 2.0 * static_cast<double>(rows_ * in * out);
    op.backward_cost = 2 * op.forward_cost;
    op.parameters = in * out + out;
    return tensor_bytes_helper(std::move(op), out);
  }

  // layer_norm: ~5 FLOPs per element forward, ~10 backward; saves input and per-row mean/rstd.
  Handle layer_norm(const std::string& name, Handle x, int64_t width) {
    double n = static_cast<double>(rows_ * width);
    RecordedOp op = make_op(name, "layer_norm", {x});
    op.saved = {x};
    op.forward_cost = 5 * n;
    op.backward_cost = 10 * n;
    op.parameters = 2 * width;
    auto outs = r_.op(std::move(op), {{"", static_cast<uint64_t>(n) * r_.bpe(), n, true},
                                      {".stats", static_cast<uint64_t>(2 * rows_) * r_.bpe(),
                                       2.0 * static_cast<double>(rows_), false}},
                      {1});
    return outs[0];
  }

  // gelu (tanh form): ~8 FLOPs per element forward, ~12 backward; saves its input.
  Handle gelu(const std::string& name, Handle x, int64_t width) {
    double n = static_cast<double>(rows_ * width);
    RecordedOp op = make_op(name, "gelu", {x});
    op.saved = {x};
    op.forward_cost = 8 * n;
    op.backward_cost = 12 * n;
    return tensor_bytes_helper(std::move(op), width);
  }

  Handle add(const std::string& name, Handle a, Handle b, int64_t width) {
    RecordedOp op = make_op(name, "add", {a, b});
    op.forward_cost = static_cast<double>(rows_ * width);
    op.identity_grad = true;
    return tensor_bytes_helper(std::move(op), width);
  }

  Recorder& recorder() { return r_; }
  int64_t rows() const { return rows_; }

 private:
  Recorder& r_;
  int64_t rows_;
};

void check_positive(const char* what, int64_t value) {
  if (value < 1) throw Error(fmt::format("{} must be >= 1, got {}", what, value));
}

}  // namespace

Graph residual_net(int32_t blocks, const ResidualNetOptions& options) {
  std::vector<int32_t> per_stage = options.blocks_per_stage;
  if (per_stage.empty()) {
    check_positive("residual_net blocks", blocks);
    per_stage = split_blocks(blocks, 4);
  }
  check_positive("batch_size", options.batch_size);
  check_positive("base_channels", options.base_channels);
  check_positive("bytes_per_element", static_cast<int64_t>(options.bytes_per_element));
  for (int32_t count : per_stage) {
    if (count < 0) throw Error(fmt::format("blocks_per_stage holds {}, expected counts >= 0", count));
  }
  const int64_t expansion = options.bottleneck ? 4 : 1;
  Recorder r(options.bytes_per_element);
  ImageNet net(r, options.batch_size);
  const double batch = options.batch_size;
  Handle x = r.input("x", net.elems(options.in_channels, options.image_size), options.bytes_per_element);
  Handle labels = r.input("labels", batch, 8);

  Image h{x, options.in_channels, options.image_size};
  h = net.conv("conv1", h, options.base_channels, 7, 2, 3, false);
  h = net.batch_norm("bn1", h);
  h = net.relu("relu", h);
  h = net.max_pool("maxpool", h, 3, 2, 1);
  int64_t in_c = h.c;
  for (size_t s = 0; s < per_stage.size(); ++s) {
    const int64_t planes = static_cast<int64_t>(options.base_channels) << s;
    for (int32_t i = 0; i < per_stage[s]; ++i) {
      const std::string p = fmt::format("layer{}.{}.", s + 1, i);
      const int64_t stride = (s > 0 && i == 0) ? 2 : 1;
      Image y = h;
      if (options.bottleneck) {
        y = net.relu(p + "relu1", net.batch_norm(p + "bn1", net.conv(p + "conv1", y, planes, 1, 1, 0, false)));
        y = net.relu(p + "relu2", net.batch_norm(p + "bn2", net.conv(p + "conv2", y, planes, 3, stride, 1, false)));
        y = net.batch_norm(p + "bn3", net.conv(p + "conv3", y, planes * expansion, 1, 1, 0, false));
      } else {
        y = net.relu(p + "relu1", net.batch_norm(p + "bn1", net.conv(p + "conv1", y, planes, 3, stride, 1, false)));
        y = net.batch_norm(p + "bn2", net.conv(p + "conv2", y, planes, 3, 1, 1, false));
      }
      Image skip = h;
      if (stride != 1 || in_c != planes * expansion) {
        skip = net.batch_norm(p + "downsample.1",
                              net.conv(p + "downsample.0", h, planes * expansion, 1, stride, 0, false));
      }
      h = net.relu(p + "relu_out", net.add(p + "add", y, skip));
      in_c = planes * expansion;
    }
  }
  classifier_head(net, h, options.num_classes, labels);
  int32_t total = 0;
  for (int32_t c : per_stage) total += c;
  std::string name = options.name.empty() ? fmt::format("residual-net-{}{}-b{}", total,
                                                         options.bottleneck ? "-bottleneck" : "", options.batch_size)
                                           : options.name;
  return std::move(r).build(name, "residual_net");
}

Graph resnet(int32_t depth, ResidualNetOptions options) {
  switch (depth) {
    case 18: options.bottleneck = false; options.blocks_per_stage = {2, 2, 2, 2}; break;
    case 34: options.bottleneck = false; options.blocks_per_stage = {3, 4, 6, 3}; break;
    case 50: options.bottleneck = true; options.blocks_per_stage = {3, 4, 6, 3}; break;
    case 101: options.bottleneck = true; options.blocks_per_stage = {3, 4, 23, 3}; break;
    case 152: options.bottleneck = true; options.blocks_per_stage = {3, 8, 36, 3}; break;
    default: throw Error(fmt::format("resnet depth {} is not one of 18, 34, 50, 101, 152", depth));
  }
  if (options.name.empty()) options.name = fmt::format("resnet{}-b{}", depth, options.batch_size);
  return residual_net(0, options);
}

Graph transformer(int32_t layers, const TransformerOptions& o) {
  check_positive("transformer layers", layers);
  check_positive("batch_size", o.batch_size);
  check_positive("sequence_length", o.sequence_length);
  check_positive("heads", o.heads);
  check_positive("vocab_size", o.vocab_size);
  if (o.model_dim < 1 || o.model_dim % o.heads != 0) {
    throw Error(fmt::format("model_dim {} must be a positive multiple of heads {}", o.model_dim, o.heads));
  }
  Recorder r(o.bytes_per_element);
  SequenceNet net(r, o.batch_size, o.sequence_length);
  const int64_t d = o.model_dim, rows = net.rows(), seq = o.sequence_length;
  const double rows_d = static_cast<double>(rows);
  const double score_n = static_cast<double>(o.batch_size) * o.heads * static_cast<double>(seq * seq);
  const uint64_t score_bytes = static_cast<uint64_t>(score_n) * o.bytes_per_element;
  Handle tokens = r.input("tokens", rows_d, 8);
  Handle targets = r.input("targets", rows_d, 8);

  // Token + position embedding: a gather and an add per element; backward scatters into the
  // (constant) embedding gradients and produces no tensor gradient.
  RecordedOp embed = make_op("embedding", "embedding", {tokens});
  embed.saved = {tokens};
  embed.forward_cost = 2 * rows_d * static_cast<double>(d);
  embed.backward_cost = 2 * rows_d * static_cast<double>(d);
  embed.parameters = static_cast<int64_t>(o.vocab_size) * d + seq * d;
  Handle h = net.tensor_bytes_helper(std::move(embed), d);

  for (int32_t l = 0; l < layers; ++l) {
    const std::string p = fmt::format("h{}.", l);
    Handle ln1 = net.layer_norm(p + "ln_1", h, d);
    Handle q = net.linear(p + "attn.q", ln1, d, d);
    Handle k = net.linear(p + "attn.k", ln1, d, d);
    Handle v = net.linear(p + "attn.v", ln1, d, d);
    // scores = Q K^T / sqrt(d_head) per head: 2*S*S*d FLOPs per sequence; saves Q and K.
    RecordedOp scores = make_op(p + "attn.scores", "matmul", {q, k});
    scores.saved = {q, k};
    scores.forward_cost = 2.0 * static_cast<double>(o.batch_size) * static_cast<double>(seq * seq * d);
    scores.backward_cost = 2 * scores.forward_cost;
    Handle s = r.op1(std::move(scores), score_bytes, score_n);
    // causal mask + softmax: ~5 FLOPs per score forward, ~4 backward; saves its output.
    RecordedOp softmax = make_op(p + "attn.softmax", "softmax", {s});
    softmax.forward_cost = 5 * score_n;
    softmax.backward_cost = 4 * score_n;
    Handle prob = r.op(std::move(softmax), {{"", score_bytes, score_n, true}}, {0})[0];
    RecordedOp context = make_op(p + "attn.context", "matmul", {prob, v});
    context.saved = {prob, v};
    context.forward_cost = 2.0 * static_cast<double>(o.batch_size) * static_cast<double>(seq * seq * d);
    context.backward_cost = 2 * context.forward_cost;
    Handle ctx = net.tensor_bytes_helper(std::move(context), d);
    Handle proj = net.linear(p + "attn.proj", ctx, d, d);
    Handle h1 = net.add(p + "add_1", h, proj, d);
    Handle ln2 = net.layer_norm(p + "ln_2", h1, d);
    Handle fc = net.linear(p + "mlp.fc", ln2, d, d * o.mlp_ratio);
    Handle act = net.gelu(p + "mlp.gelu", fc, d * o.mlp_ratio);
    Handle fc2 = net.linear(p + "mlp.proj", act, d * o.mlp_ratio, d);
    h = net.add(p + "add_2", h1, fc2, d);
  }
  Handle lnf = net.layer_norm("ln_f", h, d);
  // Vocabulary projection, tied to the token embedding (no parameters of its own, no bias).
  RecordedOp head = make_op("lm_head", "linear", {lnf});
  head.saved = {lnf};
  head.forward_cost = 2.0 * rows_d * static_cast<double>(d) * o.vocab_size;
  head.backward_cost = 2 * head.forward_cost;
  Handle logits = net.tensor_bytes_helper(std::move(head), o.vocab_size);
  const double logits_n = rows_d * o.vocab_size;
  RecordedOp loss = make_op("loss", "cross_entropy", {logits, targets});
  loss.saved = {logits, targets};
  loss.forward_cost = 4 * logits_n;
  loss.backward_cost = 2 * logits_n;
  loss.is_loss = true;
  r.op(std::move(loss), {{"", o.bytes_per_element, 1, false}});
  return std::move(r).build(fmt::format("transformer-{}-d{}-s{}-b{}", layers, d, seq, o.batch_size), "transformer");
}

Graph unet(int32_t depth, const UNetOptions& o) {
  check_positive("unet depth", depth);
  check_positive("batch_size", o.batch_size);
  check_positive("base_channels", o.base_channels);
  check_positive("convs_per_level", o.convs_per_level);
  if (depth > 16 || o.image_size < 1 || o.image_size % (1 << depth) != 0) {
    throw Error(fmt::format("unet image_size {} must be a positive multiple of 2^depth = 2^{}", o.image_size, depth));
  }
  Recorder r(o.bytes_per_element);
  ImageNet net(r, o.batch_size);
  Handle x = r.input("x", net.elems(o.in_channels, o.image_size), o.bytes_per_element);
  Handle labels = r.input("labels", net.elems(1, o.image_size), 8);
  auto conv_block = [&](const std::string& p, Image h, int64_t channels) {
    for (int32_t i = 1; i <= o.convs_per_level; ++i) {
      h = net.conv(fmt::format("{}conv{}", p, i), h, channels, 3, 1, 1, false);
      h = net.relu(fmt::format("{}relu{}", p, i), net.batch_norm(fmt::format("{}bn{}", p, i), h));
    }
    return h;
  };
  Image h{x, o.in_channels, o.image_size};
  std::vector<Image> skips;
  for (int32_t level = 0; level < depth; ++level) {
    h = conv_block(fmt::format("down{}.", level), h, static_cast<int64_t>(o.base_channels) << level);
    skips.push_back(h);
    h = net.max_pool(fmt::format("down{}.pool", level), h, 2, 2, 0);
  }
  h = conv_block("bottom.", h, static_cast<int64_t>(o.base_channels) << depth);
  for (int32_t level = depth - 1; level >= 0; --level) {
    const int64_t channels = static_cast<int64_t>(o.base_channels) << level;
    const std::string p = fmt::format("up{}.", level);
    Image up = net.up_conv(p + "upconv", h, channels);
    h = conv_block(p, net.concat(p + "concat", skips[level], up), channels);
  }
  Image logits = net.conv("head", h, o.num_classes, 1, 1, 0, true);
  // Per-pixel cross-entropy: ~4 FLOPs per logit forward, ~2 backward.
  const double logits_n = net.elems(o.num_classes, o.image_size);
  RecordedOp loss = make_op("loss", "cross_entropy", {logits.h, labels});
  loss.saved = {logits.h, labels};
  loss.forward_cost = 4 * logits_n;
  loss.backward_cost = 2 * logits_n;
  loss.is_loss = true;
  r.op(std::move(loss), {{"", o.bytes_per_element, 1, false}});
  return std::move(r).build(fmt::format("unet-{}-c{}-s{}-b{}", depth, o.base_channels, o.image_size, o.batch_size),
                            "unet");
}

}  // namespace gradrecomp
