#include "tests/support/podman.hpp"

#include <unistd.h>

#include <atomic>
#include <fstream>
#include <stdexcept>

namespace reachprobe::test {

using namespace std::chrono_literals;

std::string test_image() {
#ifdef REACHPROBE_TEST_IMAGE
  return REACHPROBE_TEST_IMAGE;
#else
  return "reachprobe:dev";
#endif
}

std::vector<std::string> podman(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"podman", "--storage-driver=vfs"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::string image_unavailable_reason() {
  if (geteuid() != 0) return "image tests need root for podman (CI runs them as root)";
  if (run_command({"podman", "--version"}, 30s).exit_code != 0) {
    return "podman is not installed (scripts/install-deps.sh)";
  }
  if (run_command({"runc", "--version"}, 30s).exit_code != 0) {
    return "runc is not installed (scripts/install-deps.sh)";
  }
  if (run_command(podman({"image", "exists", test_image()}), 60s).exit_code != 0) {
    return "no image " + test_image() + " (the ctest fixture image_build makes it)";
  }
  return {};
}

std::string container_name() {
  static std::atomic<int> counter{0};
  return "reachprobe-test-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

std::vector<std::string> podman_run_argv(const ContainerRun& run, const std::string& name) {
  if (run.network != "none" && run.network != "host" && !run.network.starts_with("ns:")) {
    throw std::invalid_argument("podman run: network none, host or ns:PATH only, not " +
                                run.network);
  }
  // runc: crun refuses this machine's hybrid cgroups; the limits: podman's defaults exceed
  // what an unprivileged container may set here.
  auto argv = podman({"--runtime", "runc", "run", "--rm", "--name", name, "--pull=never",
                      "--network", run.network, "--ulimit", "nofile=4096:4096", "--ulimit",
                      "nproc=4096:4096"});
  if (!run.user.empty()) argv.insert(argv.end(), {"--user", run.user});
  if (run.read_only) argv.insert(argv.end(), {"--read-only", "--read-only-tmpfs=false"});
  for (const auto& cap : run.cap_drop) argv.insert(argv.end(), {"--cap-drop", cap});
  if (run.no_new_privileges) argv.insert(argv.end(), {"--security-opt", "no-new-privileges"});
  for (const auto& [host, container] : run.mounts) {
    argv.insert(argv.end(), {"--volume", host.string() + ":" + container + ":ro"});
  }
  for (const auto& e : run.env) argv.insert(argv.end(), {"--env", e});
  if (!run.entrypoint.empty()) argv.insert(argv.end(), {"--entrypoint", run.entrypoint});
  argv.push_back(run.image);
  argv.insert(argv.end(), run.args.begin(), run.args.end());
  return argv;
}

void remove_container(const std::string& name) {
  run_command(podman({"rm", "--force", "--ignore", "--time", "0", name}), 60s);
}

CommandResult run_container(const ContainerRun& run, std::chrono::milliseconds limit) {
  const auto name = container_name();
  auto result = run_command(podman_run_argv(run, name), limit);
  remove_container(name);
  return result;
}

DerivedImage::DerivedImage(const std::string& base, const std::filesystem::path& context,
                           const std::vector<std::string>& lines)
    : name_("localhost/reachprobe-test-derived:" + std::to_string(getpid())) {
  std::ofstream file(context / "Containerfile");
  file << "FROM " << base << "\n";
  for (const auto& line : lines) file << line << "\n";
  file.close();
  // chroot isolation (what builds here) takes no network but the host's; the lines need
  // none.
  auto r = run_command(podman({"build", "--pull=never", "--network", "host", "--isolation",
                               "chroot", "--layers=false", "-t", name_, "-f",
                               (context / "Containerfile").string(), context.string()}),
                       300s);
  if (r.exit_code != 0) {
    run_command(podman({"rmi", "--ignore", name_}), 60s);
    throw std::runtime_error("podman build of a derived image: " + r.out + r.err);
  }
}

DerivedImage::~DerivedImage() { run_command(podman({"rmi", "--force", "--ignore", name_}), 60s); }

}  // namespace reachprobe::test
