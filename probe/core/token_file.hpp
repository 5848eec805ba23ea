#pragma once

#include <sys/types.h>

#include <ctime>
#include <map>
#include <string>

namespace reachprobe {

// Credential files (bearer tokens of http probes, the scrape token of /metrics) read for
// each use but re-read only when they change. Projected
// service-account tokens rotate (the kubelet swaps in a new file behind a `..data` symlink),
// so a token read once at start would stop working within the hour; reading the file on
// every probe would cost a read per probe for nothing. A stat tells which it is.
class TokenFiles {
 public:
  struct Read {
    std::string token;    // without surrounding whitespace; empty on failure
    std::string problem;  // why there is no token, in words for a message or log
  };
  Read read(const std::string& path);

 private:
  struct Cached {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = 0;
    timespec modified{};
    std::string token;
  };
  std::map<std::string, Cached> cache_;
};

}  // namespace reachprobe
