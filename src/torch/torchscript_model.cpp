// Loads a TorchScript torch.nn.Sequential as a ZooModel (include/gradrecomp/torch/torchscript.h).
//
// Each top-level child becomes one ModelGraph op that calls the child's scripted forward. A probe
// forward at load time (batch of 2, no autograd, buffers and the CPU generator restored) checks
// that every child maps one tensor to one tensor and finds children whose result is not new
// storage (Flatten and other views, Identity, in-place activations): such a child is fused into
// the op of the child before it, because the executor needs every op output to own its storage.
// Children at the front whose results are views of the batch are fused with the first child that
// computes new storage.
//
// Parameters and buffers: a jit child is not a torch::nn::Module, so each op gets a small
// nn::Module that registers the child's parameter and buffer tensors under flattened names. They
// are the same tensors (same TensorImpl) as the jit module's attributes: gradients accumulate into
// the scripted parameters, optimizers update them in place, and the executor's restore of buffers
// after a recomputation (set_data on the buffer) is what the scripted batch norm reads next.
//
// Every child call runs with the graph executor's optimizations off (GraphOptimizerEnabledGuard):
// the interpreter then runs the scripted aten ops one by one under eager autograd, on the same
// path in the first call as in the hundredth and with autograd as without. This is a precaution:
// the optimizing executor switches plans after its profiling runs, specializes on requires_grad
// and may differentiate fused subgraphs with its own formulas, so a recomputation without
// autograd is not guaranteed the bits of the first computation with it. (On the test fixtures,
// whose children are single aten ops, both settings give bit-identical training.)
#include "gradrecomp/torch/torchscript.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "gradrecomp/error.h"

namespace gradrecomp {
namespace {

constexpr const char* kSequentialType = "__torch__.torch.nn.modules.container.Sequential";
constexpr int64_t kProbeBatch = 2;

// A module type's qualified name without the "___torch_mangle_<n>" components TorchScript adds
// when one process scripts several classes of the same name.
std::string type_name(const torch::jit::Module& module) {
  const std::string qualified = module.type()->name() ? module.type()->name()->qualifiedName() : "?";
  std::string result;
  std::stringstream parts(qualified);
  std::string part;
  while (std::getline(parts, part, '.')) {
    if (part.rfind("___torch_mangle_", 0) == 0) continue;
    if (!result.empty()) result += '.';
    result += part;
  }
  return result;
}

std::string short_type_name(const torch::jit::Module& module) {
  const std::string name = type_name(module);
  return name.substr(name.rfind('.') + 1);
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string shape_text(c10::IntArrayRef shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + "]";
}

// Torch's reason in one line: the message's first line, or for an error raised inside the
// TorchScript interpreter (whose first lines are a preamble and a TorchScript traceback) the
// final "RuntimeError: ..." line without its prefix.
std::string torch_reason(const std::exception& error) {
  const auto* c10_error = dynamic_cast<const c10::Error*>(&error);
  const std::string message = c10_error ? c10_error->what_without_backtrace() : error.what();
  std::vector<std::string> lines;
  std::stringstream stream(message);
  std::string line;
  while (std::getline(stream, line)) {
    const size_t begin = line.find_first_not_of(" \t");
    if (begin != std::string::npos) lines.push_back(line.substr(begin));
  }
  if (lines.empty()) return "(no message)";
  if (lines.size() > 1 && lines.front().find("TorchScript interpreter") != std::string::npos) {
    std::string last = lines.back();
    const size_t colon = last.find("Error: ");
    if (colon != std::string::npos && colon < 40) last = last.substr(colon + 7);
    return last;
  }
  return lines.front();
}

struct Child {
  std::string index;     // the child's name in the Sequential ("0", "1", ...)
  std::string kind;      // its type's short name ("Conv2d")
  torch::jit::Module module;
};

std::string child_text(const Child& child) { return "child " + child.index + " (" + child.kind + ")"; }

// Calls one child on one tensor; `where` prefixes error messages.
torch::Tensor call_child(const Child& child, const torch::Tensor& input, const std::string& where) {
  torch::jit::GraphOptimizerEnabledGuard unoptimized(false);
  torch::jit::Module module = child.module;  // a handle; forward() is not const
  c10::IValue output = module.forward({input});
  if (!output.isTensor()) {
    throw Error(where + ": " + child_text(child) + " returns a " + output.type()->annotation_str() +
                " (expected one tensor: every child must map one tensor to one tensor)");
  }
  return output.toTensor();
}

// The parameters and buffers of the children of one op, registered under flattened names
// ("<child>_<path with . replaced by _>") as the same tensors the scripted children hold.
class ScriptedChildren : public torch::nn::Module {
 public:
  explicit ScriptedChildren(const std::vector<Child>& children) : torch::nn::Module("TorchScriptChildren") {
    for (const Child& child : children) {
      for (const auto& p : child.module.named_parameters(/*recurse=*/true)) {
        register_parameter(flat_name(child, p.name), p.value, p.value.requires_grad());
      }
      for (const auto& b : child.module.named_buffers(/*recurse=*/true)) {
        register_buffer(flat_name(child, b.name), b.value);
      }
    }
  }

 private:
  static std::string flat_name(const Child& child, std::string path) {
    std::replace(path.begin(), path.end(), '.', '_');
    return child.index + "_" + path;
  }
};

// Children grouped into ops (see the file comment); throws on children the executor cannot run.
std::vector<std::vector<Child>> probe_and_group(const std::vector<Child>& children,
                                                const std::vector<int64_t>& sample_shape, const std::string& where,
                                                const torch::jit::Module& model, torch::Tensor* probe_output) {
  // Everything a forward changes, restored afterwards: buffers (batch-norm statistics) and the
  // CPU generator (dropout).
  std::vector<std::pair<torch::Tensor, torch::Tensor>> buffers;
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& b : model.buffers(/*recurse=*/true)) buffers.emplace_back(b, b.clone());
  at::Generator generator = at::detail::getDefaultCPUGenerator();
  torch::Tensor rng_state;
  {
    std::lock_guard<std::mutex> lock(generator.mutex());
    rng_state = generator.get_state();
  }
  auto restore = [&]() {
    for (auto& [buffer, saved] : buffers) buffer.copy_(saved);
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(rng_state);
  };

  std::vector<int64_t> batch_shape{kProbeBatch};
  batch_shape.insert(batch_shape.end(), sample_shape.begin(), sample_shape.end());
  const torch::Tensor batch = torch::randn(batch_shape, at::make_generator<at::CPUGeneratorImpl>(1));
  std::vector<std::vector<Child>> groups;
  torch::Tensor group_input = batch;
  torch::Tensor current = batch;
  try {
    for (const Child& child : children) {
      const int64_t version = current._version();
      torch::Tensor output;
      try {
        output = call_child(child, current, where);
      } catch (const Error&) {
        throw;
      } catch (const std::exception& e) {
        if (groups.empty()) {
          throw Error(where + ": sample shape " + shape_text(sample_shape) + " (probe batch " +
                      shape_text(batch_shape) + ") is not accepted by " + child_text(child) + ": " + torch_reason(e) +
                      " (expected the shape of one input sample, without the batch dimension)");
        }
        throw Error(where + ": with sample shape " + shape_text(sample_shape) + ", " + child_text(child) +
                    " fails on its input of shape " + shape_text(current.sizes()) + ": " + torch_reason(e) +
                    " (expected each child to accept the output of the child before it)");
      }
      const bool writes_input = current._version() != version;
      if (writes_input && current.storage().is_alias_of(batch.storage())) {
        throw Error(where + ": " + child_text(child) +
                    " modifies the model input in place (expected the batch to stay unchanged: recomputations "
                    "read it again)");
      }
      const bool same_storage = writes_input || output.storage().is_alias_of(current.storage());
      const bool group_is_view = !groups.empty() && current.storage().is_alias_of(group_input.storage());
      if (groups.empty() || (!same_storage && !group_is_view)) {
        groups.emplace_back();
        group_input = current;
      }
      groups.back().push_back(child);
      current = output;
    }
    if (current.storage().is_alias_of(batch.storage())) {
      throw Error(where + ": the model's output is the input batch or a view of it (expected at least one child "
                          "that computes a new tensor)");
    }
  } catch (...) {
    restore();
    throw;
  }
  restore();
  *probe_output = current;
  return groups;
}

}  // namespace

ZooModel load_torchscript_sequential(const std::string& path, const std::vector<int64_t>& sample_shape,
                                     bool cross_entropy) {
  const std::string where = "TorchScript file \"" + path + "\"";
  std::error_code ignored;
  if (!std::filesystem::exists(path, ignored)) {
    throw Error(where + " does not exist (expected a module saved by torch.jit.save or ScriptModule.save)");
  }
  if (sample_shape.empty() ||
      std::any_of(sample_shape.begin(), sample_shape.end(), [](int64_t d) { return d <= 0; })) {
    throw Error(where + ": sample shape " + shape_text(sample_shape) +
                " is not a shape (expected one or more positive dimensions, without the batch dimension)");
  }
  torch::jit::Module model;
  try {
    model = torch::jit::load(path, torch::kCPU);
  } catch (const std::exception& e) {
    throw Error(where + " is not a TorchScript module: " + torch_reason(e) +
                " (expected a module saved by torch.jit.save or ScriptModule.save; torch.save writes pickles, "
                "not TorchScript)");
  }
  if (type_name(model) != kSequentialType) {
    throw Error(where + " holds a module of type " + type_name(model) + " (expected a torch.nn.Sequential, type " +
                kSequentialType + ", whose children form a chain)");
  }
  model.train(true);

  std::vector<Child> children;
  for (const auto& child : model.named_children()) {
    if (!child.value.find_method("forward")) {
      throw Error(where + ": child " + child.name + " (" + short_type_name(child.value) +
                  ") has no forward method (expected a module)");
    }
    children.push_back(Child{child.name, short_type_name(child.value), child.value});
  }
  if (children.empty()) throw Error(where + ": the Sequential has no children (expected at least one)");

  torch::Tensor probe_output;
  const std::vector<std::vector<Child>> groups = probe_and_group(children, sample_shape, where, model, &probe_output);
  if (cross_entropy && probe_output.dim() != 2) {
    throw Error(where + ": cross-entropy needs a 2-D output (batch x classes), the model's output has shape " +
                shape_text(probe_output.sizes()) + " for a probe batch of " + std::to_string(kProbeBatch) +
                " (expected a classifier, or the default loss, the mean of the squared output)");
  }

  const std::string stem = std::filesystem::path(path).stem().string();
  ZooModel result{stem, "torchscript", ModelGraph(stem), nullptr, 0, 0, ""};
  ModelGraph& graph = result.graph;
  ValueId last = ModelGraph::kBatch;
  for (const std::vector<Child>& group : groups) {
    std::string unit, kind;
    for (const Child& child : group) {
      if (!unit.empty()) {
        unit += '+';
        kind += '+';
      }
      unit += child.index;
      kind += child.kind;
    }
    graph.begin_unit(unit);
    const std::string name = group.front().index + "_" + lower(kind);
    OpFn fn = [group, where, name](const std::vector<torch::Tensor>& inputs) {
      torch::Tensor x = inputs.at(0);
      for (const Child& child : group) {
        try {
          x = call_child(child, x, where);
        } catch (const Error&) {
          throw;
        } catch (const std::exception& e) {
          throw Error(where + ": model op \"" + name + "\": " + child_text(child) + " fails on its input of shape " +
                      shape_text(x.sizes()) + ": " + torch_reason(e));
        }
      }
      return x;
    };
    last = graph.add(name, {last}, std::move(fn), kind, std::make_shared<ScriptedChildren>(group));
  }
  graph.begin_unit("loss");
  if (cross_entropy) {
    // Synthetic labels: sample k belongs to class k mod classes.
    graph.add("loss", {last}, [](const std::vector<torch::Tensor>& inputs) {
      const torch::Tensor& y = inputs.at(0);
      torch::Tensor labels = torch::arange(y.size(0), torch::kLong).remainder(y.size(1));
      return torch::nn::functional::cross_entropy(y, labels);
    }, "cross_entropy");
  } else {
    graph.add("loss", {last}, [](const std::vector<torch::Tensor>& inputs) { return inputs.at(0).pow(2).mean(); },
              "mean_square");
  }

  result.make_batch = [sample_shape](int64_t batch, uint64_t seed) {
    std::vector<int64_t> shape{batch};
    shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
    at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    return torch::randn(shape, generator);
  };
  for (const torch::Tensor& p : graph.parameters()) result.parameters += p.numel();
  for (const torch::Tensor& p : model.parameters(/*recurse=*/true)) result.reference_parameters += p.numel();
  std::string dims;
  for (int64_t d : sample_shape) {
    if (!dims.empty()) dims += 'x';
    dims += std::to_string(d);
  }
  result.input_description = dims + " float samples";
  return result;
}

}  // namespace gradrecomp
