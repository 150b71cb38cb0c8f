// Bring your own model: a TorchScript file of a torch.nn.Sequential saved from Python
// (`torch.jit.script(nn.Sequential(...)).save("model.pt")`), whose top-level children form a chain,
// loaded as a ZooModel (one op per top-level child, each its own unit) for the profiler, the
// planner and `gradrecomp compare`.
//
//   gradrecomp::ZooModel m = gradrecomp::load_torchscript_sequential("model.pt", {3, 32, 32});
//   gradrecomp::ModelProfile profile = gradrecomp::profile_model(m.graph, m.make_batch(8, /*seed=*/1));
//
// Op "<index>_<child type, lower case>" (kind: the child's type name, "Conv2d") runs child <index>
// in unit "<index>". A child whose result is not new storage (Flatten and other views, Identity,
// in-place activations; found by a probe forward at load time) is fused into the op of the child
// before it: op "6_adaptiveavgpool2d+flatten", kind "AdaptiveAvgPool2d+Flatten", unit "6+7".
// Leading children that return views of the batch are fused with the first child after them.
// The op's module (ModelOp::module) holds the children's parameters and buffers as the very
// tensors of the scripted module, so gradients, optimizer steps and batch-norm statistics act on
// the loaded model. The scripted modules are put in training mode. ZooModel::name is the file's
// stem, config "torchscript", reference_parameters the scripted module's own parameter count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gradrecomp/torch/models.h"

namespace gradrecomp {

// sample_shape: the shape of one input sample without the batch dimension (float inputs);
// make_batch(n, seed) draws standard normal samples of [n] + sample_shape from its own generator.
// The loss is the mean of the squared model output (no labels needed); with `cross_entropy` set
// it is cross-entropy on synthetic labels (sample k has class k mod classes), and the output must
// be 2-D (batch x classes).
// Throws gradrecomp::Error naming the file and the reason when the file does not exist, is not a
// TorchScript module, is not a Sequential, a child does not map one tensor to one tensor or
// modifies the batch in place, the sample shape does not fit the children (torch's reason in one
// line), or cross_entropy is set and the output is not 2-D.
ZooModel load_torchscript_sequential(const std::string& path, const std::vector<int64_t>& sample_shape,
                                     bool cross_entropy = false);

}  // namespace gradrecomp
