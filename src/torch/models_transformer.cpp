// The transformer models of the zoo -- BERT-Large, ViT-B/16 and GPT-2 small -- built from one
// set of attention and feed-forward op helpers, as bench/pytorch/models.py builds them:
//
//   bert_large  unit "embeddings": embeddings (word + position + token type 0) | norm | dropout
//               unit "layer.L" (post-LN, x24):
//                 attn.qkv | attn.scores | attn.softmax | attn.dropout | attn.context | attn.proj
//                 | drop1 | add1 (x + .) | norm1 | fc1 | gelu | fc2 | drop2 | add2 | norm2
//               unit "pooler": pooler.dense (on token 0) | pooler.tanh
//               loss: MSE of the pooled vector against a fixed synthetic target [batch, hidden]
//   vit_b_16    unit "embeddings": conv_proj (16x16/16) | class_token (prepend) | pos_embedding (add)
//               unit "encoder.L" (pre-LN, x12):
//                 ln_1 | self_attention.{qkv, scores, softmax, context, proj} | add1 | ln_2
//                 | mlp.fc1 | mlp.gelu | mlp.fc2 | add2
//               unit "head": ln | head (Linear on the class token)
//               loss: cross-entropy against labels i % 1000
//   gpt2        unit "embeddings": embeddings (wte + wpe) | embeddings.dropout
//               unit "h.L" (pre-LN, causal, x12):
//                 ln_1 | attn.{qkv, scores (masked), softmax, dropout, context, proj} | drop1 | add1
//                 | ln_2 | mlp.fc1 | mlp.gelu (tanh) | mlp.fc2 | drop2 | add2
//               unit "head": ln_f | lm_head (tied to wte: one parameter, counted once)
//               loss: next-token cross-entropy; reads the token ids (value kBatch) as a second input
//
// Dropout is 0.1 in BERT and GPT-2; torchvision's vit_b_16 uses dropout 0 everywhere, which is the
// identity, so ViT has no dropout ops (models_internal.h, add_dropout).
// Initialisation: PyTorch's defaults, plus BERT/GPT-2's embedding normals (std 0.02, GPT-2's wpe
// 0.01) as in models.py, and for ViT torchvision's scheme (conv normal std sqrt(1/fan_in) instead of
// the truncated normal, class token 0, position embedding normal std 0.02, attention in-projection
// Xavier-uniform with zero biases, MLP Xavier-uniform with biases normal std 1e-6) except the head:
// torchvision zeroes it, which would make every gradient below the head exactly zero; here it keeps
// PyTorch's Linear default so that gradients reach the encoder.
#include <cmath>
#include <limits>

#include "gradrecomp/error.h"
#include "models_internal.h"

namespace gradrecomp::zoo {

// ---- shared transformer pieces -----------------------------------------------------------------

AttentionOps add_self_attention(ModelGraph& graph, const std::string& prefix, ValueId x,
                                const AttentionConfig& config) {
  if (config.heads <= 0 || config.hidden % config.heads != 0) {
    throw Error("attention \"" + prefix + "\": hidden size " + std::to_string(config.hidden) +
                " is not a multiple of the head count " + std::to_string(config.heads) +
                " (expected hidden = heads x head size)");
  }
  const int64_t heads = config.heads;
  const int64_t hidden = config.hidden;
  const int64_t head_dim = hidden / heads;
  AttentionOps ops;
  ops.qkv = torch::nn::Linear(hidden, 3 * hidden);
  ops.proj = torch::nn::Linear(hidden, hidden);

  // [batch, t, 3 hidden] -> [3, batch, heads, t, head_dim], contiguous (a copy, not a view).
  std::shared_ptr<torch::nn::LinearImpl> qkv = ops.qkv.ptr();
  const ValueId fused = graph.add(
      prefix + ".qkv", {x},
      [qkv, heads, head_dim](const Inputs& in) {
        const int64_t b = in[0].size(0);
        const int64_t t = in[0].size(1);
        return qkv->forward(in[0]).view({b, t, 3, heads, head_dim}).permute({2, 0, 3, 1, 4}).contiguous();
      },
      "Linear", qkv);

  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  const bool causal = config.causal;
  const ValueId scores = graph.add(
      prefix + ".scores", {fused},
      [scale, causal](const Inputs& in) {
        torch::Tensor s = torch::matmul(in[0][0], in[0][1].transpose(-2, -1)) * scale;
        if (causal) {
          const int64_t t = s.size(-1);
          const torch::Tensor future = torch::ones({t, t}, s.options().dtype(torch::kBool)).triu(1);
          s = s.masked_fill(future, -std::numeric_limits<double>::infinity());
        }
        return s;
      },
      "matmul");
  ValueId probs = graph.add_module(prefix + ".softmax", torch::nn::AnyModule(torch::nn::Softmax(-1)), scores);
  probs = add_dropout(graph, prefix + ".dropout", probs, config.dropout);

  // probs x v: [batch, heads, t, head_dim] -> [batch, t, hidden] (the transpose makes reshape copy).
  const ValueId context = graph.add(
      prefix + ".context", {probs, fused},
      [hidden](const Inputs& in) {
        const torch::Tensor y = torch::matmul(in[0], in[1][2]);
        return y.transpose(1, 2).reshape({y.size(0), y.size(2), hidden});
      },
      "matmul");
  ops.output = add_linear(graph, prefix + ".proj", context, ops.proj);
  return ops;
}

MlpOps add_mlp(ModelGraph& graph, const std::string& prefix, ValueId x, int64_t hidden, int64_t ffn, bool gelu_tanh) {
  MlpOps ops;
  ops.fc1 = torch::nn::Linear(hidden, ffn);
  ops.fc2 = torch::nn::Linear(ffn, hidden);
  ValueId h = add_linear(graph, prefix + ".fc1", x, ops.fc1);
  torch::nn::GELU gelu(torch::nn::GELUOptions().approximate(gelu_tanh ? "tanh" : "none"));
  h = graph.add_module(prefix + ".gelu", torch::nn::AnyModule(gelu), h);
  ops.output = add_linear(graph, prefix + ".fc2", h, ops.fc2);
  return ops;
}

namespace {

constexpr uint64_t kTargetSeed = 0x5eed7a46e7ull;  // BERT's synthetic regression target

std::function<torch::Tensor(int64_t, uint64_t)> token_batch(int64_t vocab, int64_t sequence) {
  return [vocab, sequence](int64_t batch, uint64_t seed) {
    return torch::randint(0, vocab, {batch, sequence}, seeded_generator(seed), torch::kLong);
  };
}

std::string token_description(int64_t sequence, int64_t vocab) {
  return std::to_string(sequence) + " tokens (vocabulary " + std::to_string(vocab) + ")";
}

struct TokenTables : torch::nn::Module {
  explicit TokenTables(const std::string& type_name) : torch::nn::Module(type_name) {}
  torch::nn::Embedding table(const std::string& name, int64_t rows, int64_t hidden, double std) {
    torch::nn::Embedding embedding = register_module(name, torch::nn::Embedding(rows, hidden));
    torch::NoGradGuard no_grad;
    embedding->weight.normal_(0, std);
    return embedding;
  }
};

// ---- BERT-Large ----------------------------------------------------------------------------------

struct BertConfig {
  int64_t layers, hidden, heads, ffn;
  int64_t vocab = 30522, positions = 512, types = 2, sequence = 128;
  double dropout = 0.1, eps = 1e-12;
};

}  // namespace

ZooModel make_bert_large(ZooSize size) {
  const BertConfig c = size == ZooSize::kFull ? BertConfig{24, 1024, 16, 4096} : BertConfig{4, 256, 4, 1024};
  ModelGraph graph("bert_large");

  graph.begin_unit("embeddings");
  auto tables = std::make_shared<TokenTables>("BertEmbeddings");
  std::shared_ptr<torch::nn::EmbeddingImpl> word = tables->table("word", c.vocab, c.hidden, 0.02).ptr();
  std::shared_ptr<torch::nn::EmbeddingImpl> position = tables->table("position", c.positions, c.hidden, 0.02).ptr();
  std::shared_ptr<torch::nn::EmbeddingImpl> token_type = tables->table("token_type", c.types, c.hidden, 0.02).ptr();
  // Single-segment input: token type 0 everywhere.
  ValueId x = graph.add(
      "embeddings", {ModelGraph::kBatch},
      [word, position, token_type](const Inputs& in) {
        const torch::Tensor positions = torch::arange(in[0].size(1), in[0].options());
        return word->forward(in[0]) + position->forward(positions) + token_type->weight[0];
      },
      "Embedding", tables);
  x = add_layer_norm(graph, "embeddings.norm", x, c.hidden, c.eps);
  x = add_dropout(graph, "embeddings.dropout", x, c.dropout);

  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string p = "layer." + std::to_string(l);
    graph.begin_unit(p);
    const AttentionOps attn = add_self_attention(graph, p + ".attn", x, {c.hidden, c.heads, c.dropout, false});
    ValueId h = add_dropout(graph, p + ".drop1", attn.output, c.dropout);
    h = add_sum(graph, p + ".add1", x, h);
    x = add_layer_norm(graph, p + ".norm1", h, c.hidden, c.eps);
    const MlpOps mlp = add_mlp(graph, p, x, c.hidden, c.ffn, /*gelu_tanh=*/false);
    h = add_dropout(graph, p + ".drop2", mlp.output, c.dropout);
    h = add_sum(graph, p + ".add2", x, h);
    x = add_layer_norm(graph, p + ".norm2", h, c.hidden, c.eps);
  }

  graph.begin_unit("pooler");
  auto dense = torch::nn::Linear(c.hidden, c.hidden).ptr();
  x = graph.add("pooler.dense", {x}, [dense](const Inputs& in) { return dense->forward(in[0].select(1, 0)); }, "Linear",
                dense);
  x = graph.add_module("pooler.tanh", torch::nn::AnyModule(torch::nn::Tanh()), x);

  // MSE against a target drawn from a fixed-seed local generator (the same for every call, so
  // recomputations and every step agree), shaped by the batch size.
  graph.begin_unit("loss");
  graph.add(
      "loss", {x},
      [](const Inputs& in) {
        const torch::Tensor target = torch::randn(in[0].sizes(), seeded_generator(kTargetSeed)).to(in[0].device());
        return torch::mse_loss(in[0], target);
      },
      "loss");

  return finish_model("bert_large", size, std::move(graph), token_batch(c.vocab, c.sequence), 335'141'888,
                      token_description(c.sequence, c.vocab));
}

// ---- ViT-B/16 ------------------------------------------------------------------------------------

namespace {

struct VitConfig {
  int64_t image, layers, heads, hidden, mlp;
  int64_t patch = 16, classes = 1000;
  double eps = 1e-6;
};

void xavier_linear(const torch::nn::Linear& linear, double bias_std) {
  torch::NoGradGuard no_grad;
  torch::nn::init::xavier_uniform_(linear->weight);
  if (bias_std > 0) {
    linear->bias.normal_(0, bias_std);
  } else {
    linear->bias.zero_();
  }
}

}  // namespace

ZooModel make_vit_b_16(ZooSize size) {
  const VitConfig c = size == ZooSize::kFull ? VitConfig{224, 12, 12, 768, 3072} : VitConfig{64, 4, 4, 192, 768};
  const int64_t grid = c.image / c.patch;
  const int64_t tokens = grid * grid + 1;
  ModelGraph graph("vit_b_16");

  graph.begin_unit("embeddings");
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, c.hidden, c.patch).stride(c.patch));
  {
    torch::NoGradGuard no_grad;
    conv->weight.normal_(0, std::sqrt(1.0 / static_cast<double>(3 * c.patch * c.patch)));
    conv->bias.zero_();
  }
  ValueId x = graph.add_module("conv_proj", torch::nn::AnyModule(conv), ModelGraph::kBatch);
  auto class_holder = std::make_shared<ParameterHolder>("ClassToken");
  const torch::Tensor class_token = class_holder->add("class_token", torch::zeros({1, 1, c.hidden}));
  // [n, hidden, grid, grid] -> [n, grid^2, hidden], class token first.
  x = graph.add(
      "class_token", {x},
      [class_token](const Inputs& in) {
        const int64_t n = in[0].size(0);
        return torch::cat({class_token.expand({n, -1, -1}), in[0].flatten(2).transpose(1, 2)}, 1);
      },
      "cat", class_holder);
  auto position_holder = std::make_shared<ParameterHolder>("PositionEmbedding");
  const torch::Tensor pos_embedding = position_holder->add("pos_embedding", torch::randn({1, tokens, c.hidden}) * 0.02);
  x = graph.add("pos_embedding", {x}, [pos_embedding](const Inputs& in) { return in[0] + pos_embedding; }, "add",
                position_holder);

  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string p = "encoder." + std::to_string(l);
    graph.begin_unit(p);
    ValueId h = add_layer_norm(graph, p + ".ln_1", x, c.hidden, c.eps);
    const AttentionOps attn = add_self_attention(graph, p + ".self_attention", h, {c.hidden, c.heads, 0.0, false});
    xavier_linear(attn.qkv, 0);
    {
      torch::NoGradGuard no_grad;
      attn.proj->bias.zero_();
    }
    x = add_sum(graph, p + ".add1", attn.output, x);
    h = add_layer_norm(graph, p + ".ln_2", x, c.hidden, c.eps);
    const MlpOps mlp = add_mlp(graph, p + ".mlp", h, c.hidden, c.mlp, /*gelu_tanh=*/false);
    xavier_linear(mlp.fc1, 1e-6);
    xavier_linear(mlp.fc2, 1e-6);
    x = add_sum(graph, p + ".add2", x, mlp.output);
  }

  graph.begin_unit("head");
  x = add_layer_norm(graph, "ln", x, c.hidden, c.eps);
  auto head = torch::nn::Linear(c.hidden, c.classes).ptr();
  x = graph.add("head", {x}, [head](const Inputs& in) { return head->forward(in[0].select(1, 0)); }, "Linear", head);
  add_classification_loss(graph, x, c.classes);

  const int64_t image = c.image;
  auto make_batch = [image](int64_t batch, uint64_t seed) {
    return torch::randn({batch, 3, image, image}, seeded_generator(seed));
  };
  const std::string input = "3x" + std::to_string(image) + "x" + std::to_string(image) + " images, " +
                            std::to_string(c.classes) + " classes";
  return finish_model("vit_b_16", size, std::move(graph), make_batch, 86'567'656, input);
}

// ---- GPT-2 small ---------------------------------------------------------------------------------

namespace {

struct Gpt2Config {
  int64_t layers, hidden, heads, vocab, positions, sequence;
  double dropout = 0.1, eps = 1e-5;
};

}  // namespace

ZooModel make_gpt2(ZooSize size) {
  const Gpt2Config c = size == ZooSize::kFull ? Gpt2Config{12, 768, 12, 50257, 1024, 1024}
                                              : Gpt2Config{4, 256, 4, 8192, 256, 128};
  ModelGraph graph("gpt2");

  graph.begin_unit("embeddings");
  auto tables = std::make_shared<TokenTables>("GPT2Embeddings");
  std::shared_ptr<torch::nn::EmbeddingImpl> wte = tables->table("wte", c.vocab, c.hidden, 0.02).ptr();
  std::shared_ptr<torch::nn::EmbeddingImpl> wpe = tables->table("wpe", c.positions, c.hidden, 0.01).ptr();
  ValueId x = graph.add(
      "embeddings", {ModelGraph::kBatch},
      [wte, wpe](const Inputs& in) {
        return wte->forward(in[0]) + wpe->forward(torch::arange(in[0].size(1), in[0].options()));
      },
      "Embedding", tables);
  x = add_dropout(graph, "embeddings.dropout", x, c.dropout);

  for (int64_t l = 0; l < c.layers; ++l) {
    const std::string p = "h." + std::to_string(l);
    graph.begin_unit(p);
    ValueId h = add_layer_norm(graph, p + ".ln_1", x, c.hidden, c.eps);
    const AttentionOps attn = add_self_attention(graph, p + ".attn", h, {c.hidden, c.heads, c.dropout, true});
    h = add_dropout(graph, p + ".drop1", attn.output, c.dropout);
    x = add_sum(graph, p + ".add1", x, h);
    h = add_layer_norm(graph, p + ".ln_2", x, c.hidden, c.eps);
    const MlpOps mlp = add_mlp(graph, p + ".mlp", h, c.hidden, 4 * c.hidden, /*gelu_tanh=*/true);
    h = add_dropout(graph, p + ".drop2", mlp.output, c.dropout);
    x = add_sum(graph, p + ".add2", x, h);
  }

  graph.begin_unit("head");
  x = add_layer_norm(graph, "ln_f", x, c.hidden, c.eps);
  // The language-model head's weight is wte's tensor itself (tied).
  auto lm_head = std::make_shared<ParameterHolder>("TiedLmHead");
  const torch::Tensor tied = lm_head->add("weight", wte->weight);
  x = graph.add("lm_head", {x}, [tied](const Inputs& in) { return torch::linear(in[0], tied); }, "Linear", lm_head);

  // Next-token cross-entropy: position t predicts token t + 1; the last position has no target
  // (ignore_index), so the logits are read in place rather than sliced and copied.
  graph.begin_unit("loss");
  graph.add(
      "loss", {x, ModelGraph::kBatch},
      [](const Inputs& in) {
        const torch::Tensor& logits = in[0];
        const torch::Tensor& ids = in[1];
        const torch::Tensor targets =
            torch::cat({ids.slice(1, 1), torch::full({ids.size(0), 1}, -100, ids.options())}, 1);
        return torch::nn::functional::cross_entropy(
            logits.reshape({-1, logits.size(-1)}), targets.reshape({-1}),
            torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
      },
      "loss");

  return finish_model("gpt2", size, std::move(graph), token_batch(c.vocab, c.sequence), 124'439'808,
                      token_description(c.sequence, c.vocab));
}

}  // namespace gradrecomp::zoo
