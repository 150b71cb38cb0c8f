// What a few training steps leave in a model, and the bit-for-bit comparison of two such states:
// shared by the LibTorch tests that train the same model with the executor and with plain
// autograd (header-only, like bitwise.h).
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "gradrecomp/torch/model_graph.h"
#include "bitwise.h"

namespace gradrecomp::testing {

// Copies of the parameters, their gradients and the buffers after the last step, and the loss of
// every step (widened to double: float losses compare exactly as doubles).
struct TrainResult {
  std::vector<torch::Tensor> params, grads, buffers;
  std::vector<double> losses;
};

inline TrainResult snapshot(const ModelGraph& model, std::vector<double> losses) {
  TrainResult r;
  for (const torch::Tensor& p : model.parameters()) {
    r.params.push_back(p.detach().clone());
    r.grads.push_back(p.grad().clone());
  }
  for (const torch::Tensor& b : model.buffers()) r.buffers.push_back(b.clone());
  r.losses = std::move(losses);
  return r;
}

// Same number of parameters and buffers, every parameter, gradient and buffer bitwise equal, and
// the same losses; `what` names the run in the failure messages.
inline void expect_identical(const TrainResult& expected, const TrainResult& actual, const std::string& what) {
  ASSERT_EQ(expected.params.size(), actual.params.size()) << what;
  for (size_t i = 0; i < expected.params.size(); ++i) {
    EXPECT_TRUE(bitwise_equal(expected.params[i], actual.params[i])) << what << ": parameter " << i;
    EXPECT_TRUE(bitwise_equal(expected.grads[i], actual.grads[i])) << what << ": gradient " << i;
  }
  ASSERT_EQ(expected.buffers.size(), actual.buffers.size()) << what;
  for (size_t i = 0; i < expected.buffers.size(); ++i) {
    EXPECT_TRUE(bitwise_equal(expected.buffers[i], actual.buffers[i])) << what << ": buffer " << i;
  }
  EXPECT_EQ(expected.losses, actual.losses) << what;
}

}  // namespace gradrecomp::testing
