#pragma once

#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace reachprobe::dns {

// The record types a dns probe can ask for, by their RFC 1035/3596/2782/8659 numbers.
enum class RecordType : std::uint16_t {
  A = 1,
  NS = 2,
  CNAME = 5,
  SOA = 6,
  PTR = 12,
  MX = 15,
  TXT = 16,
  AAAA = 28,
  SRV = 33,
  CAA = 257,
};

// "A", "aaaa", ... (case-insensitive); nullopt for a type not listed above.
std::optional<RecordType> parse_record_type(std::string_view name);
// "A", "AAAA", ...; "TYPE65" for a number not listed above, as dig writes it.
std::string record_type_name(std::uint16_t type);

// One resource record of an answer section, its data in the presentation form dig prints
// (names without the trailing dot): "10.0.0.1", "10 5 9093 am-0.test", "mail.test" ...
// TXT character-strings are joined without a separator, as SPF and DKIM readers do.
struct Record {
  std::string owner;
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::string text;
  std::optional<boost::asio::ip::address> address;  // A and AAAA
  std::string target_name;                          // CNAME, NS, PTR, MX, SRV: the name in it
};

// The parts of a reply a probe reads. Parsing is bounds-checked throughout: a reply cut
// short or with a looping name is an error, never a read past the buffer.
struct Reply {
  std::uint8_t rcode = 0;
  bool truncated = false;
  std::string question;  // the name the reply answers, without the trailing dot
  std::uint16_t question_type = 0;
  std::vector<Record> answers;  // every record of the answer section, CNAMEs included

  // The records of the asked type: what a probe counts and checks.
  std::vector<const Record*> of_asked_type() const;
};

struct ParseResult {
  std::optional<Reply> reply;
  std::string error;  // why it could not be parsed, when reply is empty
};

ParseResult parse_reply(const unsigned char* message, std::size_t size);

// The name a PTR query for `address` asks for: "4.3.2.1.in-addr.arpa." or the nibble form
// under ip6.arpa., absolute so no search domain is appended.
std::string reverse_name(const boost::asio::ip::address& address);

// The names a resolver with these search domains and ndots tries for `name`, in order, as
// c-ares' ares_search (and glibc) does: an absolute name ("x.") only as itself; a name with
// at least `ndots` dots as itself first, then with each domain; otherwise the domains
// first and the name as itself last.
std::vector<std::string> search_candidates(const std::string& name,
                                           const std::vector<std::string>& domains, int ndots);

}  // namespace reachprobe::dns
