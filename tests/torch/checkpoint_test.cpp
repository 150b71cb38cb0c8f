// gradrecomp::checkpoint() against plain autograd, bit for bit.
//
// Each test builds two identical models (same seed), trains one with plain autograd and one with
// checkpointed segments from the same generator state, and compares gradients, parameters and
// buffers with memcmp. Negative controls (RNG replay off, buffer restore off, a nondeterministic
// fn) show that the comparisons do detect the failures they guard against.
#include "gradrecomp/torch/checkpoint.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstring>
#include <string>
#include <vector>

#include "gradrecomp/error.h"
#include "gradrecomp/torch/memory_tracker.h"
#include "support/bitwise.h"

namespace gradrecomp {
namespace {

using testing::bitwise_equal;

// Compares the .grad of every parameter of two structurally identical modules.
void expect_same_grads(torch::nn::Module& plain, torch::nn::Module& checkpointed) {
  auto p = plain.named_parameters();
  auto c = checkpointed.named_parameters();
  ASSERT_EQ(p.size(), c.size());
  for (size_t i = 0; i < p.size(); ++i) {
    ASSERT_TRUE(p[i].value().grad().defined()) << p[i].key();
    ASSERT_TRUE(c[i].value().grad().defined()) << "checkpointed " << c[i].key() << " has no gradient";
    EXPECT_TRUE(bitwise_equal(p[i].value().grad(), c[i].value().grad())) << "gradient of " << p[i].key();
  }
}

void expect_same_state(torch::nn::Module& plain, torch::nn::Module& checkpointed) {
  auto p = plain.named_parameters();
  auto c = checkpointed.named_parameters();
  for (size_t i = 0; i < p.size(); ++i) EXPECT_TRUE(bitwise_equal(p[i].value(), c[i].value())) << p[i].key();
  auto pb = plain.named_buffers();
  auto cb = checkpointed.named_buffers();
  ASSERT_EQ(pb.size(), cb.size());
  for (size_t i = 0; i < pb.size(); ++i) EXPECT_TRUE(bitwise_equal(pb[i].value(), cb[i].value())) << pb[i].key();
}

// x[8,16] -> Linear 16->32 -> ReLU -> Dropout(0.5) -> Linear 32->32 -> ReLU -> Dropout(0.3) -> Linear 32->4
// Checkpointed as two segments: [Linear, ReLU, Dropout] and [Linear, ReLU, Dropout, Linear].
torch::nn::Sequential make_mlp() {
  torch::manual_seed(42);
  return torch::nn::Sequential(torch::nn::Linear(16, 32), torch::nn::ReLU(), torch::nn::Dropout(0.5),
                               torch::nn::Linear(32, 32), torch::nn::ReLU(), torch::nn::Dropout(0.3),
                               torch::nn::Linear(32, 4));
}

// Runs modules [begin, end) of a Sequential through their AnyModule forward.
torch::Tensor forward_range(torch::nn::Sequential model, size_t begin, size_t end, torch::Tensor x) {
  for (size_t i = begin; i < end; ++i) x = (model->begin() + i)->forward(x);
  return x;
}

struct MlpRun {
  torch::Tensor x_grad;
  torch::Tensor after_backward_draw;  // the caller's RNG stream after backward
};

MlpRun run_mlp(torch::nn::Sequential& model, bool checkpointed, CheckpointOptions options = {}) {
  torch::manual_seed(7);
  torch::Tensor x = torch::randn({8, 16}).requires_grad_(true);
  torch::Tensor h;
  torch::Tensor y;
  if (checkpointed) {
    h = checkpoint(options, [&](const torch::Tensor& in) { return forward_range(model, 0, 3, in); }, x);
    y = checkpoint(options, [&](const torch::Tensor& in) { return forward_range(model, 3, 7, in); }, h);
  } else {
    y = forward_range(model, 0, 7, x);
  }
  y.pow(2).sum().backward();
  return {x.grad(), torch::rand({4})};
}

TEST(Checkpoint, MlpWithDropoutMatchesPlainAutogradBitwise) {
  torch::nn::Sequential plain = make_mlp();
  torch::nn::Sequential ckpt = make_mlp();
  MlpRun a = run_mlp(plain, false);
  MlpRun b = run_mlp(ckpt, true);
  EXPECT_TRUE(bitwise_equal(a.x_grad, b.x_grad));
  expect_same_grads(*plain, *ckpt);
  // The recomputation forked the generator: the caller's stream continues as without checkpoints.
  EXPECT_TRUE(bitwise_equal(a.after_backward_draw, b.after_backward_draw));
}

TEST(Checkpoint, WithoutRngReplayDropoutMasksDiffer) {
  // Negative control for the test above: the masks are redrawn, so gradients change.
  torch::nn::Sequential plain = make_mlp();
  torch::nn::Sequential ckpt = make_mlp();
  MlpRun a = run_mlp(plain, false);
  MlpRun b = run_mlp(ckpt, true, CheckpointOptions().preserve_rng_state(false));
  EXPECT_FALSE(bitwise_equal(a.x_grad, b.x_grad));
}

TEST(Checkpoint, DeterminismCheckPassesWithRngReplay) {
  torch::nn::Sequential plain = make_mlp();
  torch::nn::Sequential ckpt = make_mlp();
  MlpRun a = run_mlp(plain, false);
  MlpRun b = run_mlp(ckpt, true, CheckpointOptions().check_determinism(true).name("mlp"));
  EXPECT_TRUE(bitwise_equal(a.x_grad, b.x_grad));
}

TEST(Checkpoint, DeterminismCheckNamesTheOutputThatDiffered) {
  // fn returns (x * 2, x + calls): the second output changes between forward and recomputation.
  torch::Tensor x = torch::ones({3}).requires_grad_(true);
  int calls = 0;
  auto fn = [&calls](const torch::Tensor& in) {
    ++calls;
    return std::make_tuple(in * 2, in + static_cast<double>(calls));
  };
  auto [a, b] = checkpoint(CheckpointOptions().check_determinism(true).name("block7"), fn, x);
  torch::Tensor loss = a.sum() + b.sum();
  try {
    loss.backward();
    FAIL() << "expected the determinism check to throw";
  } catch (const std::exception& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("checkpoint \"block7\": output 1 of 2 differs after recomputation"), std::string::npos)
        << message;
    EXPECT_NE(message.find("Float [3]"), std::string::npos) << message;
  }
}

// conv(3->8, 3x3) -> BN(8) -> ReLU -> conv(8->8, 3x3) -> BN(8) -> ReLU -> mean
torch::nn::Sequential make_conv_net() {
  torch::manual_seed(3);
  return torch::nn::Sequential(
      torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 8, 3).padding(1)), torch::nn::BatchNorm2d(8), torch::nn::ReLU(),
      torch::nn::Conv2d(torch::nn::Conv2dOptions(8, 8, 3).padding(1)), torch::nn::BatchNorm2d(8), torch::nn::ReLU());
}

// N SGD steps; each checkpointed step runs every conv+BN+ReLU block as one checkpoint.
void train_conv(torch::nn::Sequential& model, bool checkpointed, bool restore_buffers, int steps) {
  torch::optim::SGD optimizer(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  CheckpointOptions options;
  if (restore_buffers) options.restore_buffers_of(model);
  for (int step = 0; step < steps; ++step) {
    torch::manual_seed(100 + step);
    torch::Tensor x = torch::randn({4, 3, 8, 8});
    optimizer.zero_grad();
    torch::Tensor y;
    if (checkpointed) {
      torch::Tensor h = checkpoint(options, [&](const torch::Tensor& in) { return forward_range(model, 0, 3, in); }, x);
      y = checkpoint(options, [&](const torch::Tensor& in) { return forward_range(model, 3, 6, in); }, h);
    } else {
      y = forward_range(model, 0, 6, x);
    }
    y.pow(2).mean().backward();
    optimizer.step();
  }
}

TEST(Checkpoint, ConvBatchNormTrainingMatchesPlainIncludingRunningStats) {
  // The input never requires grad here, so this also covers "parameters get gradients when no
  // input requires grad" across N = 3 optimizer steps.
  torch::nn::Sequential plain = make_conv_net();
  torch::nn::Sequential ckpt = make_conv_net();
  train_conv(plain, false, false, 3);
  train_conv(ckpt, true, true, 3);
  expect_same_state(*plain, *ckpt);
  auto bn = ckpt[1]->as<torch::nn::BatchNorm2d>();
  ASSERT_NE(bn, nullptr);
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 3);
}

TEST(Checkpoint, WithoutBufferRestoreRunningStatsAreUpdatedTwice) {
  // Negative control: the recomputation runs BN in training mode again.
  torch::nn::Sequential ckpt = make_conv_net();
  train_conv(ckpt, true, false, 3);
  auto bn = ckpt[1]->as<torch::nn::BatchNorm2d>();
  EXPECT_EQ(bn->num_batches_tracked.item<int64_t>(), 6);
}

TEST(Checkpoint, ParametersGetGradientsWhenNoInputRequiresGrad) {
  torch::nn::Sequential plain = make_mlp();
  torch::nn::Sequential ckpt = make_mlp();
  plain->eval();
  ckpt->eval();
  torch::Tensor x = torch::randn({8, 16});  // requires_grad = false
  forward_range(plain, 0, 7, x).sum().backward();
  checkpoint([&](const torch::Tensor& in) { return forward_range(ckpt, 0, 7, in); }, x).sum().backward();
  expect_same_grads(*plain, *ckpt);
  EXPECT_FALSE(x.grad().defined());
}

TEST(Checkpoint, NestedCheckpointsMatchPlainAutograd) {
  // outer checkpoint over all 7 modules; inside it, modules 3..6 are an inner checkpoint.
  torch::nn::Sequential plain = make_mlp();
  torch::nn::Sequential ckpt = make_mlp();
  MlpRun a = run_mlp(plain, false);

  torch::manual_seed(7);
  torch::Tensor x = torch::randn({8, 16}).requires_grad_(true);
  int inner_recomputations = 0;
  auto inner = [&](const torch::Tensor& in) {
    if (is_recomputing()) ++inner_recomputations;
    return forward_range(ckpt, 3, 7, in);
  };
  auto outer = [&](const torch::Tensor& in) {
    torch::Tensor h = forward_range(ckpt, 0, 3, in);
    return checkpoint(inner, h);
  };
  torch::Tensor y = checkpoint(outer, x);
  y.pow(2).sum().backward();
  EXPECT_TRUE(bitwise_equal(a.x_grad, x.grad()));
  expect_same_grads(*plain, *ckpt);
  // inner fn runs: outer forward (not recomputing), outer recomputation (recomputing, where the
  // inner checkpoint's own forward runs), inner recomputation (recomputing).
  EXPECT_EQ(inner_recomputations, 2);
}

TEST(Checkpoint, SeveralInputsOutputsAndNonTensorArguments) {
  // fn(x, h, scale, power) = (W x * scale + h, sum(h^power), argmax(W x))  -- the third output is
  // an integer tensor (non-differentiable).
  torch::manual_seed(5);
  torch::nn::Linear plain_linear(6, 6);
  torch::manual_seed(5);
  torch::nn::Linear ckpt_linear(6, 6);
  auto fn_for = [](torch::nn::Linear linear) {
    return [linear](const torch::Tensor& x, const torch::Tensor& h, double scale, int power) mutable {
      torch::Tensor wx = linear->forward(x);
      return std::vector<torch::Tensor>{wx * scale + h, h.pow(power).sum(), wx.argmax(1)};
    };
  };
  auto make_inputs = [] {
    torch::manual_seed(9);
    torch::Tensor x = torch::randn({3, 6}).requires_grad_(true);
    torch::Tensor h = torch::randn({3, 6}).requires_grad_(true);
    return std::make_pair(x, h);
  };
  auto [x1, h1] = make_inputs();
  std::vector<torch::Tensor> p = fn_for(plain_linear)(x1, h1, 0.5, 3);
  (p[0].pow(2).sum() + p[1]).backward();

  auto [x2, h2] = make_inputs();
  std::vector<torch::Tensor> c = checkpoint(fn_for(ckpt_linear), x2, h2, 0.5, 3);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_FALSE(c[2].requires_grad());
  EXPECT_TRUE(bitwise_equal(p[2], c[2]));
  (c[0].pow(2).sum() + c[1]).backward();

  EXPECT_TRUE(bitwise_equal(x1.grad(), x2.grad()));
  EXPECT_TRUE(bitwise_equal(h1.grad(), h2.grad()));
  expect_same_grads(*plain_linear, *ckpt_linear);
}

TEST(Checkpoint, WithoutGradModeFnIsJustCalled) {
  torch::Tensor x = torch::ones({2}).requires_grad_(true);
  torch::NoGradGuard no_grad;
  torch::Tensor y = checkpoint([](const torch::Tensor& in) { return in * 3; }, x);
  EXPECT_FALSE(y.requires_grad());
  EXPECT_TRUE(bitwise_equal(y, torch::full({2}, 3.0f)));
}

TEST(Checkpoint, UndefinedTensorArgumentIsRejectedWithItsPosition) {
  try {
    checkpoint(CheckpointOptions().name("seg"), [](const torch::Tensor& a, const torch::Tensor&) { return a; },
               torch::ones({1}), torch::Tensor());
    FAIL() << "expected gradrecomp::Error";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "checkpoint \"seg\": tensor argument 1 is undefined (expected defined tensors)");
  }
}

// Deep MLP: 16 x (Linear 256->256, ReLU), batch 128. One activation is 128 x 256 x 4 = 128 KiB.
// Plain autograd keeps each ReLU output for the next Linear's and its own backward: >= 16
// activations live after forward. Checkpointing 4 segments of 4 layers keeps only the 4 segment
// outputs (+ the loss), so live bytes after forward drop below 5 activations and the peak of
// forward+backward drops too (one segment's activations at a time are rebuilt).
TEST(Checkpoint, ActivationsAreNotKeptAndPeakIsLower) {
  constexpr int kLayers = 16;
  constexpr int64_t kActivationBytes = 128 * 256 * 4;
  torch::manual_seed(1);
  torch::nn::Sequential model;
  for (int i = 0; i < kLayers; ++i) {
    model->push_back(torch::nn::Linear(256, 256));
    model->push_back(torch::nn::ReLU());
  }
  torch::Tensor x = torch::randn({128, 256});
  MemoryTracker::install();

  auto measure = [&](bool checkpointed, int64_t* live_after_forward) {
    MemoryScope scope;
    torch::Tensor y = x;
    if (checkpointed) {
      for (int s = 0; s < 4; ++s) {
        const size_t begin = s * 8;
        y = checkpoint([&, begin](const torch::Tensor& in) { return forward_range(model, begin, begin + 8, in); }, y);
      }
    } else {
      y = forward_range(model, 0, 2 * kLayers, y);
    }
    torch::Tensor loss = y.sum();
    y.reset();
    *live_after_forward = scope.live_delta_bytes();
    loss.backward();
    return scope.peak_bytes();
  };
  model->zero_grad();
  int64_t plain_live = 0;
  const int64_t plain_peak = measure(false, &plain_live);
  model->zero_grad();
  int64_t ckpt_live = 0;
  const int64_t ckpt_peak = measure(true, &ckpt_live);
  std::cout << "live after forward: plain " << plain_live << " B, checkpointed " << ckpt_live << " B\n"
            << "peak forward+backward: plain " << plain_peak << " B, checkpointed " << ckpt_peak << " B\n";
  EXPECT_GE(plain_live, kLayers * kActivationBytes);
  EXPECT_LT(ckpt_live, 5 * kActivationBytes);
  EXPECT_LT(ckpt_peak, plain_peak);
}

}  // namespace
}  // namespace gradrecomp
