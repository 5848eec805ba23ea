#include "probe/http/auth.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <memory>

namespace reachprobe::http {

namespace {

// Enough for every scraper of a node; an attacker cycling headers only evicts its own.
constexpr std::size_t kRemembered = 16;

bool starts_with_ci(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

bool equal_in_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string digest(std::string_view text) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

}  // namespace

std::optional<std::pair<std::string, std::string>> parse_basic_credentials(
    std::string_view authorization) {
  if (!starts_with_ci(authorization, "basic ")) return std::nullopt;
  std::string_view encoded = authorization.substr(6);
  while (!encoded.empty() && encoded.front() == ' ') encoded.remove_prefix(1);
  if (encoded.empty() || encoded.size() > 4096 || encoded.size() % 4 != 0) return std::nullopt;
  std::string decoded(encoded.size() / 4 * 3, '\0');
  const int length = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                                     reinterpret_cast<const unsigned char*>(encoded.data()),
                                     static_cast<int>(encoded.size()));
  if (length < 0) return std::nullopt;
  // EVP_DecodeBlock counts the padding as zero bytes.
  std::size_t size = static_cast<std::size_t>(length);
  for (std::size_t i = encoded.size(); i > 0 && encoded[i - 1] == '=' && size > 0; --i) --size;
  decoded.resize(size);
  const auto colon = decoded.find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::make_pair(decoded.substr(0, colon), decoded.substr(colon + 1));
}

Authenticator::Authenticator(const WebConfig& config)
    : users_(config.basic_auth_users), token_file_(config.bearer_token_file) {}

Authenticator::Verdict Authenticator::check(std::string_view authorization) {
  if (!token_file_.empty() && starts_with_ci(authorization, "bearer ")) {
    auto token = tokens_.read(token_file_);
    std::string_view sent = authorization.substr(7);
    while (!sent.empty() && sent.front() == ' ') sent.remove_prefix(1);
    return !token.token.empty() && equal_in_constant_time(sent, token.token) ? Verdict::Allowed
                                                                             : Verdict::Denied;
  }
  if (users_.empty() || !parse_basic_credentials(authorization)) return Verdict::Denied;
  const std::string key = digest(authorization);
  auto found = std::find(accepted_.begin(), accepted_.end(), key);
  if (found == accepted_.end()) return Verdict::NeedsBcrypt;
  accepted_.splice(accepted_.begin(), accepted_, found);
  return Verdict::Allowed;
}

bool Authenticator::verify_password(std::string_view authorization) const {
  auto credentials = parse_basic_credentials(authorization);
  if (!credentials) return false;
  auto user = users_.find(credentials->first);
  if (user == users_.end()) return false;
  auto data = std::make_unique<crypt_data>();
  const char* hashed = crypt_r(credentials->second.c_str(), user->second.c_str(), data.get());
  return hashed != nullptr && hashed[0] != '*' && equal_in_constant_time(hashed, user->second);
}

void Authenticator::remember(std::string_view authorization) {
  accepted_.push_front(digest(authorization));
  if (accepted_.size() > kRemembered) accepted_.pop_back();
}

}  // namespace reachprobe::http
