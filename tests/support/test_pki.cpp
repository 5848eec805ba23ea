#include "tests/support/test_pki.hpp"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <fstream>
#include <stdexcept>

namespace reachprobe::test {

namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("test PKI: " + what + " failed");
}

EVP_PKEY* new_key() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (!key) fail("EC key generation");
  return key;
}

std::string key_pem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  return pem;
}

std::string cert_pem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  return pem;
}

void add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) fail("extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509* new_certificate(const std::string& common_name, EVP_PKEY* subject_key,
                      std::chrono::seconds not_before, std::chrono::seconds not_after) {
  static long serial = 1;
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert), static_cast<long>(not_before.count()));
  X509_gmtime_adj(X509_getm_notAfter(cert), static_cast<long>(not_after.count()));
  X509_set_pubkey(cert, subject_key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name.c_str()), -1, -1,
                             0);
  return cert;
}

}  // namespace

struct TestPki::Key {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  ~Key() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

TestPki::TestPki(const std::string& common_name) : key_(std::make_unique<Key>()) {
  key_->key = new_key();
  key_->cert = new_certificate(common_name, key_->key, -std::chrono::hours(24),
                               std::chrono::hours(24 * 365));
  X509_set_issuer_name(key_->cert, X509_get_subject_name(key_->cert));
  add_extension(key_->cert, key_->cert, NID_basic_constraints, "critical,CA:TRUE");
  add_extension(key_->cert, key_->cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_extension(key_->cert, key_->cert, NID_subject_key_identifier, "hash");
  if (X509_sign(key_->cert, key_->key, EVP_sha256()) == 0) fail("CA signing");
  ca_.cert_pem = cert_pem(key_->cert);
  ca_.key_pem = key_pem(key_->key);
}

TestPki::~TestPki() = default;

TestCertificate TestPki::issue(const std::vector<std::string>& names,
                               std::chrono::seconds not_before,
                               std::chrono::seconds not_after) const {
  if (names.empty()) fail("a certificate without names");
  EVP_PKEY* key = new_key();
  X509* cert = new_certificate(names.front(), key, not_before, not_after);
  X509_set_issuer_name(cert, X509_get_subject_name(key_->cert));
  std::string alt;
  for (const auto& n : names) {
    boost::system::error_code ec;
    boost::asio::ip::make_address(n, ec);
    if (!alt.empty()) alt += ',';
    alt += ec ? "DNS:" : "IP:";
    alt += n;
  }
  add_extension(cert, key_->cert, NID_subject_alt_name, alt);
  add_extension(cert, key_->cert, NID_basic_constraints, "critical,CA:FALSE");
  add_extension(cert, key_->cert, NID_ext_key_usage, "serverAuth");
  add_extension(cert, key_->cert, NID_authority_key_identifier, "keyid:always");
  if (X509_sign(cert, key_->key, EVP_sha256()) == 0) fail("signing");
  TestCertificate out{cert_pem(cert), key_pem(key)};
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace reachprobe::test
