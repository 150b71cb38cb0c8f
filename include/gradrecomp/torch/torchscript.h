// Bring your own model: a TorchScript file of a torch.nn.Sequential saved from Python
// (`torch.jit.script(nn.Sequential(...)).save("model.pt")`), whose top-level children form a chain,
// loaded as a ZooModel (one op per top-level child, each its own unit) for the profiler, the
// planner and `gradrecomp compare`.
//
//   gradrecomp::ZooModel m = gradrecomp::load_torchscript_sequential("model.pt", {3, 32, 32});
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gradrecomp/torch/models.h"

namespace gradrecomp {

// sample_shape: the shape of one input sample without the batch dimension (float inputs).
// The loss is the mean of the squared model output (no labels needed), unless the output is
// 2-D (batch x classes) and `cross_entropy` is set, then cross-entropy on synthetic labels.
// Throws gradrecomp::Error with the reason when the file cannot be read, is not a TorchScript
// module, is not a Sequential, a child does not map one tensor to one tensor, or the sample shape
// does not fit the first child.
ZooModel load_torchscript_sequential(const std::string& path, const std::vector<int64_t>& sample_shape,
                                     bool cross_entropy = false);

}  // namespace gradrecomp
