#include "probe/probers/tls_handshake.hpp"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <boost/asio/error.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <ctime>

#include "probe/core/duration_text.hpp"

namespace reachprobe {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;

namespace {

bool is_ip_literal(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// The certificate the server presented first (its own), also after a failed verification:
// OpenSSL keeps the received chain even when it refuses it.
X509* leaf_certificate(SSL* ssl) {
  if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl); chain && sk_X509_num(chain) > 0) {
    return sk_X509_value(chain, 0);
  }
  return SSL_get0_peer_certificate(ssl);
}

std::string name_text(const X509_NAME* name) {
  if (!name) return "?";
  BIO* bio = BIO_new(BIO_s_mem());
  if (!bio) return "?";
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string text = size > 0 ? std::string(data, static_cast<std::size_t>(size)) : "?";
  BIO_free(bio);
  return text;
}

std::optional<std::chrono::system_clock::time_point> to_time_point(const ASN1_TIME* time) {
  std::tm tm{};
  if (!time || ASN1_TIME_to_tm(time, &tm) != 1) return std::nullopt;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string utc_text(std::chrono::system_clock::time_point t) {
  return fmt::format("{:%Y-%m-%d %H:%M:%S} UTC",
                     fmt::gmtime(std::chrono::system_clock::to_time_t(t)));
}

// The subject alternative names of `cert`, for a name-mismatch message.
std::string alt_names(X509* cert) {
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return "none";
  std::string out;
  const int count = sk_GENERAL_NAME_num(names);
  for (int i = 0; i < count && i < 8; ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    std::string item;
    if (name->type == GEN_DNS) {
      const ASN1_IA5STRING* dns = name->d.dNSName;
      item = std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                         static_cast<std::size_t>(ASN1_STRING_length(dns)));
    } else if (name->type == GEN_IPADD) {
      const ASN1_OCTET_STRING* ip = name->d.iPAddress;
      const auto* bytes = ASN1_STRING_get0_data(ip);
      if (ASN1_STRING_length(ip) == 4) {
        item = fmt::format("{}.{}.{}.{}", bytes[0], bytes[1], bytes[2], bytes[3]);
      } else {
        item = "an IPv6 address";
      }
    } else {
      continue;
    }
    if (!out.empty()) out += ", ";
    out += item;
  }
  if (count > 8) out += ", ...";
  GENERAL_NAMES_free(names);
  return out.empty() ? "none" : out;
}

// Why verification refused the certificate, naming what the operator can check.
std::string verify_failure(long code, X509* leaf, const TlsPeer& peer) {
  const std::string subject = leaf ? name_text(X509_get_subject_name(leaf)) : "?";
  switch (code) {
    case X509_V_ERR_CERT_HAS_EXPIRED: {
      auto not_after = leaf ? to_time_point(X509_get0_notAfter(leaf)) : std::nullopt;
      return fmt::format("{}: {} was valid until {}", kTlsExpired, subject,
                         not_after ? utc_text(*not_after) : "?");
    }
    case X509_V_ERR_CERT_NOT_YET_VALID: {
      auto not_before = leaf ? to_time_point(X509_get0_notBefore(leaf)) : std::nullopt;
      return fmt::format("{}: {} is valid from {} (is this node's clock right?)", kTlsNotYetValid,
                         subject, not_before ? utc_text(*not_before) : "?");
    }
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
      return fmt::format("{}: the certificate is not valid for '{}' (subject {}, names: {})",
                         kTlsNameMismatch, peer.server_name, subject, leaf ? alt_names(leaf) : "?");
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
      return fmt::format(
          "{}: {} is issued by {}, which {} does not trust (an interception proxy, or "
          "the wrong ca_file?)",
          kTlsUnknownCa, subject, leaf ? name_text(X509_get_issuer_name(leaf)) : "?", peer.trust);
    default:
      return fmt::format("certificate rejected: {} ({})", X509_verify_cert_error_string(code),
                         subject);
  }
}

void fail(ProbeResult& result, Outcome outcome, std::string message) {
  result.outcome = outcome;
  result.message = std::move(message);
}

void classify_handshake_error(const boost::system::error_code& ec, SSL* ssl, X509* leaf,
                              const TlsPeer& peer, ProbeResult& result) {
  const std::string with =
      fmt::format("TLS handshake with {} (server name '{}')", peer.where, peer.server_name);
  if (ec == asio::error::connection_reset) {
    fail(result, Outcome::Reset, fmt::format("{}: connection reset by the server", with));
    return;
  }
  if (ec == asio::error::eof || ec == ssl::error::stream_truncated) {
    fail(result, Outcome::TlsError,
         fmt::format("{}: the server closed the connection before the handshake completed "
                     "(it may not serve this server name, or it {} here)",
                     with, kTlsNotTls));
    return;
  }
  if (ec.category() == asio::error::get_ssl_category()) {
    const int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
    if (reason == SSL_R_CERTIFICATE_VERIFY_FAILED) {
      fail(result, Outcome::TlsError,
           fmt::format("{}: {}", with, verify_failure(SSL_get_verify_result(ssl), leaf, peer)));
      return;
    }
    std::string what = ec.message();
    if (reason == SSL_R_WRONG_VERSION_NUMBER || reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
        reason == SSL_R_RECORD_LENGTH_MISMATCH) {
      what += fmt::format(": the server {} on this port (plain HTTP?)", kTlsNotTls);
    } else if (what.find("alert") != std::string::npos) {
      what = "the server refused the handshake with an alert: " + what;
    } else if (reason == SSL_R_UNSUPPORTED_PROTOCOL || reason == SSL_R_NO_PROTOCOLS_AVAILABLE) {
      what += " (the server offers no TLS version from 1.2 up)";
    }
    fail(result, Outcome::TlsError, fmt::format("{}: {}", with, what));
    return;
  }
  fail(result, Outcome::Error, fmt::format("{}: {}", with, ec.message()));
}

}  // namespace

std::variant<std::shared_ptr<ssl::context>, std::string> TlsContexts::get(
    const TlsOptions& options) {
  const auto key = std::make_pair(options.ca_file, options.insecure_skip_verify);
  if (auto found = contexts_.find(key); found != contexts_.end()) return found->second;

  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  if (!options.insecure_skip_verify) {
    if (options.ca_file.empty()) {
      context->set_default_verify_paths(ec);
      if (ec) return fmt::format("cannot load the system trust store: {}", ec.message());
    } else {
      context->load_verify_file(options.ca_file, ec);
      if (ec) {
        return fmt::format(
            "cannot load ca_file {}: {}", options.ca_file,
            ec.message() == "system lib" ? "not readable or no certificate in it" : ec.message());
      }
    }
  }
  contexts_.emplace(key, context);
  return context;
}

TlsPeer tls_peer_for(const TlsOptions& options, const std::string& host, const std::string& where) {
  TlsPeer peer;
  peer.server_name = options.server_name.empty() ? host : options.server_name;
  // An absolute name ("sts.test.") is the same name to SNI and to the certificate.
  if (peer.server_name.size() > 1 && peer.server_name.back() == '.') peer.server_name.pop_back();
  peer.where = where;
  peer.trust = options.ca_file.empty() ? "the system trust store" : "ca_file " + options.ca_file;
  peer.verify = !options.insecure_skip_verify;
  return peer;
}

asio::awaitable<std::unique_ptr<TlsStream>> tls_handshake(tcp::socket socket, ssl::context& context,
                                                          const TlsPeer& peer, Deadline deadline,
                                                          ProbeResult& result, StallCheck* stall) {
  auto executor = co_await asio::this_coro::executor;
  auto stream = std::make_unique<TlsStream>(std::move(socket), context);
  SSL* ssl = stream->native_handle();
  const bool literal = is_ip_literal(peer.server_name);
  // SNI carries names only (RFC 6066); an IP is matched against the certificate's IP SANs.
  if (!literal && SSL_set_tlsext_host_name(ssl, peer.server_name.c_str()) != 1) {
    fail(result, Outcome::Error,
         fmt::format("cannot use '{}' as a TLS server name", peer.server_name));
    co_return nullptr;
  }
  if (peer.verify) {
    stream->set_verify_mode(ssl::verify_peer);
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    const int set = literal ? X509_VERIFY_PARAM_set1_ip_asc(param, peer.server_name.c_str())
                            : X509_VERIFY_PARAM_set1_host(param, peer.server_name.c_str(), 0);
    if (set != 1) {
      fail(result, Outcome::Error,
           fmt::format("cannot verify certificates for '{}'", peer.server_name));
      co_return nullptr;
    }
  } else {
    stream->set_verify_mode(ssl::verify_none);
  }

  const auto start = Clock::now();
  if (deadline.passed()) {
    result.set_phase(Phase::Tls, Duration::zero());
    fail(result, Outcome::Timeout,
         fmt::format("no time left for the TLS handshake with {}", peer.where));
    co_return nullptr;
  }
  boost::system::error_code ec;
  {
    ExpiryGuard guard(executor, deadline, [&stream] {
      boost::system::error_code ignored;
      stream->lowest_layer().cancel(ignored);
    });
    // Only when the server has sent nothing: a server that has begun its flight is slow,
    // not stalled, and keeps the whole budget.
    std::optional<ExpiryGuard> stall_guard;
    if (stall && stall->at < deadline.at) {
      stall_guard.emplace(executor, Deadline{stall->at}, [&stream, ssl, stall] {
        if (SSL_get_state(ssl) != TLS_ST_CW_CLNT_HELLO) return;
        stall->stalled = true;
        boost::system::error_code ignored;
        stream->lowest_layer().cancel(ignored);
      });
    }
    co_await stream->async_handshake(ssl::stream_base::client,
                                     asio::redirect_error(asio::use_awaitable, ec));
    result.set_phase(Phase::Tls, since(start));
    X509* leaf = leaf_certificate(ssl);
    if (leaf) result.cert_not_after = to_time_point(X509_get0_notAfter(leaf));
    if (stall && stall->stalled) {
      fail(result, Outcome::Timeout,
           fmt::format("TLS handshake with {} stalled: TCP connected, but no byte of the "
                       "server's handshake within {}",
                       peer.where, format_latency(since(start))));
      co_return nullptr;
    }
    if (guard.fired()) {
      fail(result, Outcome::Timeout,
           fmt::format("TLS handshake with {} stalled: TCP connected, but no handshake within {} "
                       "(something accepts connections on this port but does not answer TLS, or "
                       "a middlebox holds the packets)",
                       peer.where, format_latency(since(start))));
      co_return nullptr;
    }
    if (ec) {
      classify_handshake_error(ec, ssl, leaf, peer, result);
      ERR_clear_error();
      co_return nullptr;
    }
  }
  result.outcome = Outcome::Ok;
  // What an operator checks first on a working path: which certificate, until when.
  if (X509* leaf = leaf_certificate(ssl); leaf && result.cert_not_after) {
    const auto days_left = std::chrono::duration_cast<std::chrono::hours>(
                               *result.cert_not_after - std::chrono::system_clock::now())
                               .count() /
                           24;
    result.message = fmt::format("{}, certificate {} valid until {} ({} days left)",
                                 SSL_get_version(ssl), name_text(X509_get_subject_name(leaf)),
                                 utc_text(*result.cert_not_after), days_left);
  }
  co_return stream;
}

}  // namespace reachprobe
