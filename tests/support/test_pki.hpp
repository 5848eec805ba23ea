#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace reachprobe::test {

// A certificate and its private key, PEM.
struct TestCertificate {
  std::string cert_pem;
  std::string key_pem;
};

// A certificate authority made at run time with the OpenSSL API (EC P-256), so tests never
// carry key material and never depend on a date: validity is relative to now.
class TestPki {
 public:
  explicit TestPki(const std::string& common_name = "reachprobe test CA");
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  const std::string& ca_pem() const { return ca_.cert_pem; }

  // A server certificate for `names` (DNS names or IP literals, as subjectAltName; the first
  // is also the CN), valid from now + not_before to now + not_after.
  TestCertificate issue(const std::vector<std::string>& names,
                        std::chrono::seconds not_before = -std::chrono::hours(1),
                        std::chrono::seconds not_after = std::chrono::hours(24 * 30)) const;

 private:
  struct Key;
  std::unique_ptr<Key> key_;
  TestCertificate ca_;
};

// Writes `text` to `path` (creating or replacing it).
void write_file(const std::filesystem::path& path, const std::string& text);

}  // namespace reachprobe::test
