#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/child_process.hpp"

namespace reachprobe::test {

// The image under test (REACHPROBE_TEST_IMAGE: the ctest fixture `image_build` makes it from
// this build's binary with scripts/image.sh, `image_remove` removes it).
std::string test_image();

// Why the image tests cannot run here (not root, no podman or runc, the image not built),
// or empty. Tests GTEST_SKIP() with this message.
std::string image_unavailable_reason();

// podman as it runs on this machine (docs/image.md): vfs storage; argv starts with it.
std::vector<std::string> podman(const std::vector<std::string>& args);

// One `podman run`: the container is removed when it exits (--rm) and, if it outlives the
// test's deadline, by its name. Never a bridge network: `network` is none, host or
// ns:/run/netns/NAME; never a pull.
struct ContainerRun {
  std::string image;
  std::string network = "none";
  std::string user;                  // --user, empty: the image's USER
  bool read_only = false;            // --read-only, without podman's writable tmpfs mounts
  std::vector<std::string> cap_drop;  // --cap-drop
  bool no_new_privileges = false;
  std::vector<std::pair<std::filesystem::path, std::string>> mounts;  // host -> container, ro
  std::vector<std::string> env;                                       // NAME=VALUE
  std::string entrypoint;                                             // empty: the image's
  std::vector<std::string> args;                                      // after the image
};
// A name of this process's for a container, so that it can be removed by name.
std::string container_name();
// argv of `podman run` for `run`, named `name`.
std::vector<std::string> podman_run_argv(const ContainerRun& run, const std::string& name);
// Runs it to completion (its stdout, stderr and exit status are the program's); the
// container is removed also when the limit is hit.
CommandResult run_container(const ContainerRun& run, std::chrono::milliseconds limit);
// Removes a container by name (when it still exists).
void remove_container(const std::string& name);

// An image FROM `base` with the Containerfile lines `lines`, built from `context` (the files
// those lines COPY); removed on destruction.
class DerivedImage {
 public:
  DerivedImage(const std::string& base, const std::filesystem::path& context,
               const std::vector<std::string>& lines);
  ~DerivedImage();
  DerivedImage(const DerivedImage&) = delete;
  DerivedImage& operator=(const DerivedImage&) = delete;
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

}  // namespace reachprobe::test
