#include "tests/support/helm.hpp"

#include <cstdlib>
#include <filesystem>

namespace reachprobe::test {

std::string helm_path(const std::string& source_dir) {
  if (const char* env = std::getenv("HELM"); env && *env) return env;
  const auto bundled = source_dir + "/deploy/tools/bin/helm";
  if (std::filesystem::exists(bundled)) return bundled;
  return "";
}

CommandResult helm_template(const std::string& source_dir, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {helm_path(source_dir), "template",
                                   "reachprobe",          source_dir + "/deploy/helm/reachprobe",
                                   "--namespace",         "reachprobe"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, std::chrono::seconds(60));
}

Manifests::Manifests(const std::string& yaml) : text_(yaml) {
  for (const auto& doc : YAML::LoadAll(yaml)) {
    if (doc.IsMap()) docs_.push_back(doc);
  }
}

YAML::Node Manifests::find(const std::string& kind, const std::string& name,
                           const std::string& namespace_name) const {
  for (const auto& doc : docs_) {
    if (doc["kind"].as<std::string>("") != kind) continue;
    const auto meta = doc["metadata"];
    if (meta["name"].as<std::string>("") != name) continue;
    if (!namespace_name.empty() && meta["namespace"].as<std::string>("") != namespace_name) {
      continue;
    }
    return doc;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::vector<YAML::Node> Manifests::of_kind(const std::string& kind) const {
  std::vector<YAML::Node> out;
  for (const auto& doc : docs_) {
    if (doc["kind"].as<std::string>("") == kind) out.push_back(doc);
  }
  return out;
}

}  // namespace reachprobe::test
