#include "probe/core/token_file.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace reachprobe {

namespace {

// A token is a line of base64url and dots; anything this big is not one.
constexpr off_t kMaxTokenBytes = off_t{64} * 1024;

std::string trimmed(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

}  // namespace

TokenFiles::Read TokenFiles::read(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    cache_.erase(path);
    return {{}, fmt::format("cannot read bearer_token_file {}: {}", path, std::strerror(errno))};
  }
  if (auto found = cache_.find(path); found != cache_.end()) {
    const Cached& c = found->second;
    if (c.device == info.st_dev && c.inode == info.st_ino && c.size == info.st_size &&
        c.modified.tv_sec == info.st_mtim.tv_sec && c.modified.tv_nsec == info.st_mtim.tv_nsec) {
      return {c.token, {}};
    }
  }
  if (!S_ISREG(info.st_mode) || info.st_size > kMaxTokenBytes) {
    cache_.erase(path);
    return {{},
            fmt::format("bearer_token_file {} is not a token file (a regular file under 64 KiB)",
                        path)};
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  if (!in) {
    cache_.erase(path);
    return {{}, fmt::format("cannot read bearer_token_file {}", path)};
  }
  std::string token = trimmed(content.str());
  if (token.empty() || token.find_first_of("\r\n") != std::string::npos) {
    cache_.erase(path);
    return {{}, fmt::format("bearer_token_file {} holds no token (empty, or several lines)", path)};
  }
  cache_[path] = Cached{info.st_dev, info.st_ino, info.st_size, info.st_mtim, token};
  return {std::move(token), {}};
}

}  // namespace reachprobe
