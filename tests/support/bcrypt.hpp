#pragma once

#include <crypt.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace reachprobe::test {

// A real bcrypt hash of `password` at the cheapest cost, as `htpasswd -nbBC 4` makes them.
inline std::string bcrypt_hash(const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  if (crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof salt) == nullptr) {
    throw std::runtime_error("crypt_gensalt_rn($2b$) failed");
  }
  auto data = std::make_unique<crypt_data>();
  const char* hash = crypt_r(password.c_str(), salt, data.get());
  if (hash == nullptr || hash[0] == '*') throw std::runtime_error("crypt_r failed");
  return hash;
}

}  // namespace reachprobe::test
