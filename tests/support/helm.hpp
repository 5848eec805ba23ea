#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "tests/support/child_process.hpp"

namespace reachprobe::test {

// The Helm that deploy/sync.sh renders with: $HELM, else deploy/tools/bin/helm under
// `source_dir` (scripts/install-deps.sh pins it). Empty when there is none (tests skip).
std::string helm_path(const std::string& source_dir);

// `helm template reachprobe deploy/helm/reachprobe --namespace reachprobe ARGS...`.
CommandResult helm_template(const std::string& source_dir, const std::vector<std::string>& args);

// The objects of a multi-document YAML stream (`helm template`, `kubectl kustomize`).
class Manifests {
 public:
  explicit Manifests(const std::string& yaml);
  // The object of that kind and name (and namespace, unless empty); an undefined node
  // (false as a bool) if none.
  YAML::Node find(const std::string& kind, const std::string& name,
                  const std::string& namespace_name = "") const;
  std::vector<YAML::Node> of_kind(const std::string& kind) const;
  const std::vector<YAML::Node>& all() const { return docs_; }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
  std::vector<YAML::Node> docs_;
};

}  // namespace reachprobe::test
