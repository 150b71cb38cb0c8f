// ModelGraph: a model as a DAG of ops (include/gradrecomp/torch/model_graph.h). The profiler is in
// model_profiler.cpp, the executor in model_executor.cpp, the runtime they share in model_runtime.h.
#include "gradrecomp/torch/model_graph.h"

#include <algorithm>
#include <set>
#include <string>

#include "gradrecomp/error.h"

namespace gradrecomp {
namespace {

std::string short_kind(const torch::nn::Module& module) {
  std::string name = module.name();
  const std::string prefix = "torch::nn::";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  if (name.size() > 4 && name.compare(name.size() - 4, 4, "Impl") == 0) name.resize(name.size() - 4);
  return name;
}

void flatten_sequential(ModelGraph& graph, const torch::nn::Sequential& model, ValueId& last, int& counter,
                        bool top_level) {
  int child_index = 0;
  for (const torch::nn::AnyModule& child : *model) {
    if (top_level) graph.begin_unit(std::to_string(child_index++));
    std::shared_ptr<torch::nn::Module> module = child.ptr();
    if (auto nested = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(module)) {
      flatten_sequential(graph, torch::nn::Sequential(nested), last, counter, false);
      continue;
    }
    std::string kind = short_kind(*module);
    std::string lower = kind;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    last = graph.add_module(std::to_string(counter++) + "_" + lower, child, last);
  }
}

}  // namespace

// ---- ModelGraph ------------------------------------------------------------------------------

ModelGraph::ModelGraph(std::string name) : name_(std::move(name)) {}

ValueId ModelGraph::add(std::string name, std::vector<ValueId> inputs, OpFn fn, std::string kind,
                        std::shared_ptr<torch::nn::Module> module) {
  const ValueId next = static_cast<ValueId>(ops_.size()) + 1;
  for (const ModelOp& op : ops_) {
    if (op.name == name) throw Error("model op \"" + name + "\" is defined twice (expected unique op names)");
  }
  if (!fn) throw Error("model op \"" + name + "\" has no function (expected a callable)");
  for (ValueId input : inputs) {
    if (input < 0 || input >= next) {
      throw Error("model op \"" + name + "\" reads value " + std::to_string(input) +
                  ", which does not exist yet (expected 0 for the batch or 1.." + std::to_string(next - 1) +
                  " for earlier ops' outputs)");
    }
  }
  ops_.push_back(ModelOp{std::move(name), std::move(kind), std::move(inputs), std::move(fn), std::move(module), unit_});
  return next;
}

void ModelGraph::begin_unit(std::string name) {
  const bool plain = std::none_of(name.begin(), name.end(), [](unsigned char c) {
    return c == '"' || c == '\\' || c < 0x20;
  });
  if (!plain) {
    throw Error("model unit name \"" + name + "\" contains a quote, backslash or control character (expected plain text)");
  }
  unit_ = std::move(name);
}

ValueId ModelGraph::add_module(std::string name, torch::nn::AnyModule module, ValueId input) {
  std::shared_ptr<torch::nn::Module> pointer = module.ptr();
  std::string kind = short_kind(*pointer);
  auto any = std::make_shared<torch::nn::AnyModule>(std::move(module));
  OpFn fn = [any](const std::vector<torch::Tensor>& inputs) { return any->forward(inputs.at(0)); };
  return add(std::move(name), {input}, std::move(fn), std::move(kind), std::move(pointer));
}

ModelGraph ModelGraph::from_sequential(torch::nn::Sequential model,
                                       std::function<torch::Tensor(const torch::Tensor&)> loss, std::string name) {
  if (!loss) throw Error("from_sequential: the loss function is empty (expected a callable)");
  ModelGraph graph(std::move(name));
  ValueId last = kBatch;
  int counter = 0;
  flatten_sequential(graph, model, last, counter, true);
  graph.begin_unit("loss");
  graph.add("loss", {last}, [loss](const std::vector<torch::Tensor>& inputs) { return loss(inputs.at(0)); }, "loss");
  return graph;
}

std::vector<torch::Tensor> ModelGraph::parameters() const {
  std::vector<torch::Tensor> result;
  std::set<c10::TensorImpl*> seen;
  for (const ModelOp& op : ops_) {
    if (!op.module) continue;
    for (const torch::Tensor& p : op.module->parameters()) {
      if (seen.insert(p.unsafeGetTensorImpl()).second) result.push_back(p);
    }
  }
  return result;
}

std::vector<torch::Tensor> ModelGraph::buffers() const {
  std::vector<torch::Tensor> result;
  std::set<c10::TensorImpl*> seen;
  for (const ModelOp& op : ops_) {
    if (!op.module) continue;
    for (const torch::Tensor& b : op.module->buffers()) {
      if (b.defined() && seen.insert(b.unsafeGetTensorImpl()).second) result.push_back(b);
    }
  }
  return result;
}

torch::Tensor ModelGraph::forward(const torch::Tensor& batch) const {
  if (ops_.empty()) throw Error("model \"" + name_ + "\" has no ops (expected at least the loss)");
  std::vector<torch::Tensor> values{batch};
  for (const ModelOp& op : ops_) {
    std::vector<torch::Tensor> inputs;
    for (ValueId v : op.inputs) inputs.push_back(values[v]);
    values.push_back(op.fn(inputs));
  }
  return values.back();
}

void ensure_gradients(const std::vector<torch::Tensor>& parameters) {
  for (const torch::Tensor& p : parameters) {
    if (p.requires_grad() && !p.grad().defined()) {
      const_cast<torch::Tensor&>(p).mutable_grad() = torch::zeros_like(p);
    }
  }
}

}  // namespace gradrecomp
