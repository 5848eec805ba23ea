#include "probe/config/config_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <vector>

namespace reachprobe::config {

namespace {

std::string_view kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  return "not a regular file";
}

// "is a directory, not a config file" and, when it holds YAML files, which ones: a
// ConfigMap mounted as a directory is the usual way to get here.
std::string directory_problem(const std::string& path) {
  std::vector<std::string> yaml;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (name.starts_with('.')) continue;  // a ConfigMap's ..data and its timestamped dirs
    if (name.ends_with(".yaml") || name.ends_with(".yml")) yaml.push_back(name);
    if (yaml.size() > 16) break;
  }
  std::sort(yaml.begin(), yaml.end());
  std::string out = "is a directory, not a config file";
  if (yaml.empty()) return out + "; --config takes the path of a YAML file";
  std::string names;
  for (std::size_t i = 0; i < yaml.size() && i < 3; ++i) {
    names += (i ? ", " : "") + yaml[i];
  }
  if (yaml.size() > 3) names += ", ...";
  return out + fmt::format("; --config takes a file, e.g. {} (it holds {})",
                           (std::filesystem::path(path) / yaml.front()).lexically_normal().string(),
                           names);
}

std::string denied_problem(const std::string& path, int error) {
  struct stat st {};
  if (error == EACCES && ::stat(path.c_str(), &st) == 0) {
    return fmt::format(
        "cannot read: {} (mode {:04o}, owner uid {} gid {}; reachprobe runs as uid "
        "{} gid {})",
        std::strerror(error), st.st_mode & 07777, st.st_uid, st.st_gid, ::geteuid(), ::getegid());
  }
  return std::string("cannot read: ") + std::strerror(error);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

ConfigFileText read_config_file(const std::string& path) {
  ConfigFileText out;
  // stat before open: opening a FIFO without a writer would block, and a directory opens
  // fine and reads as nothing.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    out.problem = std::string("cannot read: ") + std::strerror(errno);
    return out;
  }
  if (S_ISDIR(st.st_mode)) {
    out.problem = directory_problem(path);
    return out;
  }
  if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode)) {
    out.problem = fmt::format("is {}, not a regular file", kind_of(st.st_mode));
    return out;
  }
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    out.problem = denied_problem(path, errno);
    return out;
  }
  char buffer[65536];
  while (true) {
    const ssize_t count = ::read(fd.get(), buffer, sizeof buffer);
    if (count < 0) {
      if (errno == EINTR) continue;
      out.problem = std::string("cannot read: ") + std::strerror(errno);
      out.text.clear();
      return out;
    }
    if (count == 0) break;
    if (out.text.size() + static_cast<std::size_t>(count) > kMaxConfigBytes) {
      out.problem =
          fmt::format("is larger than {} MiB, which no config is ({})", kMaxConfigBytes >> 20,
                      S_ISREG(st.st_mode) ? "a regular file" : kind_of(st.st_mode));
      out.text.clear();
      return out;
    }
    out.text.append(buffer, static_cast<std::size_t>(count));
  }
  if (out.text.empty()) {
    out.problem = S_ISREG(st.st_mode)
                      ? "is empty (0 bytes); a config needs at least 'targets'"
                      : fmt::format("is {} that gave no data; a config needs at least 'targets'",
                                    kind_of(st.st_mode));
  }
  return out;
}

}  // namespace reachprobe::config
