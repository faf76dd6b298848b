#include "engine_model.h"

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "sealed_bytes.h"

namespace loupe {

namespace {

bool underPrefix(const std::string& name, const std::string& prefix) {
  return name == prefix || (name.size() > prefix.size() && name.compare(0, prefix.size(), prefix) == 0 &&
                            name[prefix.size()] == '.');
}

std::vector<int64_t> sizes(const torch::Tensor& t) { return std::vector<int64_t>(t.sizes().begin(), t.sizes().end()); }

// Every parameter joins the optimizer; frozen ones simply have no gradient and are skipped,
// so unfreezing later needs no new optimizer.
std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const OptimizerConfig& c,
                                                        const std::vector<torch::Tensor>& params) {
  if (c.type == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(c.lr).momentum(c.momentum).nesterov(c.nesterov).weight_decay(c.weightDecay));
  }
  if (c.type == "adam") {
    return std::make_unique<torch::optim::Adam>(
        params, torch::optim::AdamOptions(c.lr).betas({c.beta1, c.beta2}).eps(c.eps).weight_decay(c.weightDecay));
  }
  if (c.type == "adamw") {
    return std::make_unique<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(c.lr).betas({c.beta1, c.beta2}).eps(c.eps).weight_decay(c.weightDecay));
  }
  throw std::invalid_argument("[INVALID_ARGUMENT] unknown optimizer \"" + c.type + "\" (sgd, adam or adamw)");
}

// Eight bytes each (see sealed_bytes.h); the digit is the format version.
constexpr const char* kOptimizerMagic = "LPOPTIM1";
constexpr const char* kRngMagic = "LPRNG001";

// libtorch keys optimizer state by parameter position, so the shapes in order identify a model.
std::string shapesOf(const std::vector<torch::Tensor>& params) {
  std::string out;
  for (const auto& p : params) {
    for (auto d : p.sizes()) out += std::to_string(d) + "x";
    out += ";";
  }
  return out;
}

std::string firstLine(const char* message) {
  std::string m = message;
  return m.substr(0, m.find('\n'));
}

// The bytes passed their checksum, so anything libtorch throws decoding them means an
// incompatible writer; its own message would otherwise be classified by wording.
template <class Decode>
void decoding(Decode&& decode) {
  try {
    decode();
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    throw std::runtime_error("[CORRUPT_FILE] the optimizer state cannot be decoded (" + firstLine(e.what()) + ")");
  }
}

std::string readString(torch::serialize::InputArchive& archive, const char* key) {
  c10::IValue value;
  decoding([&] { archive.try_read(key, value); });
  if (!value.isString()) {
    throw std::runtime_error(std::string("[CORRUPT_FILE] the optimizer state lacks its \"") + key + "\" field");
  }
  return value.toStringRef();
}

}  // namespace

EngineModel::EngineModel(const std::vector<LayerDef>& layers, uint64_t seed)
    : net_(std::make_unique<SpecNet>(layers, seed)) {}

void EngineModel::checkAlive() const {
  if (!net_) throw std::runtime_error("[DISPOSED] this model has been disposed");
}

void EngineModel::configureOptimizer(const OptimizerConfig& c) {
  std::lock_guard<std::mutex> lock(mutex_);
  checkAlive();
  optimizer_ = makeOptimizer(c, net_->root()->parameters(true));
  optimizerConfig_ = c;
}

void EngineModel::checkOptimizer(const char* action) const {
  if (!optimizer_) throw std::invalid_argument(std::string("[INVALID_ARGUMENT] configure an optimizer before ") + action);
}

void EngineModel::setLearningRate(double lr) {
  std::lock_guard<std::mutex> lock(mutex_);
  checkAlive();
  checkOptimizer("setting its learning rate");
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
}

void EngineModel::setTrainable(const std::vector<std::string>& prefixes, bool trainable) {
  std::lock_guard<std::mutex> lock(mutex_);
  checkAlive();
  for (auto& p : net_->root()->named_parameters(true)) {
    for (const auto& prefix : prefixes) {
      if (!underPrefix(p.key(), prefix)) continue;
      p.value().set_requires_grad(trainable);
      // A stale gradient would keep momentum-based optimizers moving a frozen weight.
      if (!trainable) p.value().mutable_grad() = torch::Tensor();
    }
  }
}

void EngineModel::freezeBatchnormStatistics() {
  for (auto& m : net_->root()->modules(false)) {
    torch::Tensor weight;
    if (auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get())) weight = bn->weight;
    if (auto* bn = dynamic_cast<torch::nn::BatchNorm1dImpl*>(m.get())) weight = bn->weight;
    if (weight.defined() && !weight.requires_grad()) m->eval();
  }
}

double EngineModel::trainBatch(const torch::Tensor& x, const torch::Tensor& labels, const torch::Tensor& weights,
                               const StepConfig& step) {
  std::lock_guard<std::mutex> lock(mutex_);
  checkAlive();
  checkOptimizer("training");
  net_->root()->train();
  freezeBatchnormStatistics();
  // Dropping gradients instead of zeroing them (PyTorch 2's default) saves a memset and lets
  // backward write each gradient instead of adding it to zeros.
  for (auto& p : net_->root()->parameters(true)) p.mutable_grad() = torch::Tensor();

  torch::Tensor logits = net_->forward(x);
  if (logits.dim() != 2) throw std::invalid_argument("[SHAPE_MISMATCH] training needs the network to end in a vector of class scores");
  auto options = torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(step.labelSmoothing);
  torch::Tensor loss;
  if (weights.defined()) {
    auto perSample = torch::nn::functional::cross_entropy(logits, labels, options.reduction(torch::kNone));
    loss = (perSample * weights).sum() / weights.sum().clamp_min(1e-12);
  } else {
    loss = torch::nn::functional::cross_entropy(logits, labels, options);
  }
  double value = loss.item<double>();
  if (!std::isfinite(value)) {
    throw std::runtime_error("[NAN_LOSS] the loss is " + std::to_string(value) +
                             "; check the inputs for NaN/Inf values or lower the learning rate (weights left unchanged)");
  }
  loss.backward();
  if (step.clipGradNorm > 0) {
    std::vector<torch::Tensor> withGrad;
    for (auto& p : net_->root()->parameters(true)) {
      if (p.grad().defined()) withGrad.push_back(p);
    }
    torch::nn::utils::clip_grad_norm_(withGrad, step.clipGradNorm);
  }
  optimizer_->step();
  return value;
}

torch::Tensor EngineModel::forward(const torch::Tensor& x, const std::string& output, bool pool) {
  std::lock_guard<std::mutex> lock(mutex_);
  checkAlive();
  torch::NoGradGuard noGrad;
  net_->root()->eval();
  const bool isTap = output.rfind("tap:", 0) == 0;
  torch::Tensor y = net_->forward(x, isTap ? output.substr(4) : "");
  if (isTap && pool && y.dim() == 4) y = y.mean({2, 3});
  if (output == "probs") y = torch::softmax(y, 1);
  return y.contiguous();
}

std::vector<NamedData> EngineModel::tensors() {
  std::lock_guard<std::mutex> lock(mutex_);
  checkAlive();
  std::vector<NamedData> out;
  for (auto& [name, t] : net_->tensors()) {
    auto flat = t.detach().to(torch::kFloat32).contiguous();
    NamedData d{name, sizes(t), std::vector<float>(flat.data_ptr<float>(), flat.data_ptr<float>() + flat.numel()),
                t.requires_grad()};
    out.push_back(std::move(d));
  }
  return out;
}

void EngineModel::load(const std::vector<NamedData>& incoming) {
  std::lock_guard<std::mutex> lock(mutex_);
  checkAlive();
  std::unordered_map<std::string, torch::Tensor> byName;
  for (auto& [name, t] : net_->tensors()) byName.emplace(name, t);
  // Check everything before changing anything, so a bad file leaves the model as it was.
  for (const auto& d : incoming) {
    auto it = byName.find(d.name);
    if (it == byName.end()) throw std::invalid_argument("[SHAPE_MISMATCH] the model has no tensor \"" + d.name + "\"");
    if (sizes(it->second) != d.shape || static_cast<int64_t>(d.data.size()) != it->second.numel()) {
      throw std::invalid_argument("[SHAPE_MISMATCH] wrong shape for \"" + d.name + "\"");
    }
  }
  torch::NoGradGuard noGrad;
  for (const auto& d : incoming) {
    auto src = torch::from_blob(const_cast<float*>(d.data.data()), d.shape, torch::kFloat32);
    byName[d.name].copy_(src);
  }
}

std::string EngineModel::optimizerState() {
  std::lock_guard<std::mutex> lock(mutex_);
  checkAlive();
  checkOptimizer("saving its state");
  torch::serialize::OutputArchive archive;
  archive.write("type", c10::IValue(optimizerConfig_.type));
  archive.write("shapes", c10::IValue(shapesOf(optimizer_->param_groups().at(0).params())));
  torch::serialize::OutputArchive state(archive.compilation_unit());
  optimizer_->save(state);
  archive.write("state", state);
  std::ostringstream out;
  archive.save_to(out);
  return seal(kOptimizerMagic, out.str());
}

void EngineModel::loadOptimizerState(const std::string& bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  checkAlive();
  checkOptimizer("loading its state");
  torch::serialize::InputArchive archive;
  std::istringstream in(unseal(kOptimizerMagic, bytes, "optimizer state"));
  decoding([&] { archive.load_from(in); });
  const std::string type = readString(archive, "type");
  if (type != optimizerConfig_.type) {
    throw std::invalid_argument("[INVALID_ARGUMENT] the optimizer state was saved from " + type +
                                " but the model's optimizer is " + optimizerConfig_.type +
                                "; configure the same optimizer before loading it");
  }
  auto params = optimizer_->param_groups().at(0).params();
  if (readString(archive, "shapes") != shapesOf(params)) {
    throw std::invalid_argument("[SHAPE_MISMATCH] the optimizer state belongs to a model with other parameters");
  }
  // Loading into a fresh optimizer and taking its state whole means a failure changes nothing,
  // and no stale entry survives for a parameter the saved state did not have.
  auto fresh = makeOptimizer(optimizerConfig_, params);
  decoding([&] {
    torch::serialize::InputArchive state;
    archive.read("state", state);
    fresh->load(state);
  });
  optimizer_->state() = std::move(fresh->state());
}

std::string EngineModel::rngState() {
  std::lock_guard<std::mutex> lock(mutex_);
  checkAlive();
  return seal(kRngMagic, net_->generatorState());
}

void EngineModel::setRngState(const std::string& bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  checkAlive();
  net_->setGeneratorState(unseal(kRngMagic, bytes, "random generator state"));
}

void EngineModel::dispose() {
  std::lock_guard<std::mutex> lock(mutex_);
  optimizer_.reset();
  net_.reset();
}

}  // namespace loupe
