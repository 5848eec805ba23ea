#include "probe/dns/message.hpp"

#include <ares.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>

namespace reachprobe::dns {
namespace {

constexpr std::size_t kHeaderSize = 12;

struct TypeName {
  RecordType type;
  std::string_view name;
};

constexpr std::array kTypeNames = {
    TypeName{RecordType::A, "A"},         TypeName{RecordType::NS, "NS"},
    TypeName{RecordType::CNAME, "CNAME"}, TypeName{RecordType::SOA, "SOA"},
    TypeName{RecordType::PTR, "PTR"},     TypeName{RecordType::MX, "MX"},
    TypeName{RecordType::TXT, "TXT"},     TypeName{RecordType::AAAA, "AAAA"},
    TypeName{RecordType::SRV, "SRV"},     TypeName{RecordType::CAA, "CAA"},
};

std::uint16_t read16(const unsigned char* at) {
  return static_cast<std::uint16_t>((at[0] << 8) | at[1]);
}

std::uint32_t read32(const unsigned char* at) {
  return (static_cast<std::uint32_t>(read16(at)) << 16) | read16(at + 2);
}

// A bounds-checked reader over one message. Names go through ares_expand_name, which
// follows compression pointers and rejects loops and pointers out of the message.
class Reader {
 public:
  Reader(const unsigned char* message, std::size_t size) : message_(message), size_(size) {}

  bool has(std::size_t bytes) const { return at_ <= size_ && size_ - at_ >= bytes; }
  std::size_t position() const { return at_; }
  void seek(std::size_t to) { at_ = to; }

  std::optional<std::uint16_t> u16() {
    if (!has(2)) return std::nullopt;
    auto value = read16(message_ + at_);
    at_ += 2;
    return value;
  }
  std::optional<std::uint32_t> u32() {
    if (!has(4)) return std::nullopt;
    auto value = read32(message_ + at_);
    at_ += 4;
    return value;
  }
  std::optional<std::string> name() {
    if (!has(1)) return std::nullopt;
    char* expanded = nullptr;
    long length = 0;
    if (ares_expand_name(message_ + at_, message_, static_cast<int>(size_), &expanded, &length) !=
        ARES_SUCCESS) {
      return std::nullopt;
    }
    std::string out(expanded);
    ares_free_string(expanded);
    at_ += static_cast<std::size_t>(length);
    return out;
  }
  const unsigned char* here() const { return message_ + at_; }

 private:
  const unsigned char* message_;
  std::size_t size_;
  std::size_t at_ = 0;
};

// Character-strings (RFC 1035 3.3), each a length byte and that many bytes, back to back
// filling `size`. Bytes outside printable ASCII are written as \DDD like dig does.
std::optional<std::vector<std::string>> character_strings(const unsigned char* data,
                                                          std::size_t size) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < size) {
    const std::size_t length = data[at++];
    if (length > size - at) return std::nullopt;
    std::string text;
    for (std::size_t i = 0; i < length; ++i) {
      const unsigned char c = data[at + i];
      if (c >= 0x20 && c < 0x7f) {
        text += static_cast<char>(c);
      } else {
        text += fmt::format("\\{:03d}", c);
      }
    }
    out.push_back(std::move(text));
    at += length;
  }
  return out;
}

// The presentation form of one record's data; false if the data does not fit its type.
bool describe(Reader& reader, std::size_t data_end, Record& record) {
  const std::size_t data_size = data_end - reader.position();
  const unsigned char* data = reader.here();
  switch (static_cast<RecordType>(record.type)) {
    case RecordType::A: {
      if (data_size != 4) return false;
      boost::asio::ip::address_v4::bytes_type bytes;
      std::copy(data, data + 4, bytes.begin());
      record.address = boost::asio::ip::address_v4(bytes);
      record.text = record.address->to_string();
      return true;
    }
    case RecordType::AAAA: {
      if (data_size != 16) return false;
      boost::asio::ip::address_v6::bytes_type bytes;
      std::copy(data, data + 16, bytes.begin());
      record.address = boost::asio::ip::address_v6(bytes);
      record.text = record.address->to_string();
      return true;
    }
    case RecordType::CNAME:
    case RecordType::NS:
    case RecordType::PTR: {
      auto name = reader.name();
      if (!name) return false;
      record.target_name = *name;
      record.text = *name;
      return reader.position() == data_end;
    }
    case RecordType::MX: {
      auto preference = reader.u16();
      auto exchange = reader.name();
      if (!preference || !exchange) return false;
      record.target_name = *exchange;
      record.text = fmt::format("{} {}", *preference, *exchange);
      return reader.position() == data_end;
    }
    case RecordType::SRV: {
      auto priority = reader.u16();
      auto weight = reader.u16();
      auto port = reader.u16();
      if (!priority || !weight || !port) return false;
      auto target = reader.name();
      if (!target) return false;
      record.target_name = *target;
      record.text = fmt::format("{} {} {} {}", *priority, *weight, *port, *target);
      return reader.position() == data_end;
    }
    case RecordType::SOA: {
      auto mname = reader.name();
      auto rname = mname ? reader.name() : std::nullopt;
      if (!rname) return false;
      std::array<std::uint32_t, 5> numbers{};
      for (auto& n : numbers) {
        auto value = reader.u32();
        if (!value) return false;
        n = *value;
      }
      record.target_name = *mname;
      record.text = fmt::format("{} {} {} {} {} {} {}", *mname, *rname, numbers[0], numbers[1],
                                numbers[2], numbers[3], numbers[4]);
      return reader.position() == data_end;
    }
    case RecordType::TXT: {
      auto strings = character_strings(data, data_size);
      if (!strings) return false;
      for (const auto& s : *strings) record.text += s;
      return true;
    }
    case RecordType::CAA: {
      // flags, tag length, tag, value (RFC 8659 4.1)
      if (data_size < 2 || data[1] > data_size - 2) return false;
      const std::size_t tag_length = data[1];
      std::string tag(reinterpret_cast<const char*>(data + 2), tag_length);
      std::string value(reinterpret_cast<const char*>(data + 2 + tag_length),
                        data_size - 2 - tag_length);
      record.text = fmt::format("{} {} {}", data[0], tag, value);
      return true;
    }
  }
  record.text = fmt::format("\\# {}", data_size);  // RFC 3597 form for unknown types
  return true;
}

std::string uppercase(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

}  // namespace

std::optional<RecordType> parse_record_type(std::string_view name) {
  const std::string upper = uppercase(name);
  for (const auto& entry : kTypeNames) {
    if (entry.name == upper) return entry.type;
  }
  return std::nullopt;
}

std::string record_type_name(std::uint16_t type) {
  for (const auto& entry : kTypeNames) {
    if (static_cast<std::uint16_t>(entry.type) == type) return std::string(entry.name);
  }
  return fmt::format("TYPE{}", type);
}

std::vector<const Record*> Reply::of_asked_type() const {
  std::vector<const Record*> out;
  for (const auto& record : answers) {
    if (record.type == question_type) out.push_back(&record);
  }
  return out;
}

ParseResult parse_reply(const unsigned char* message, std::size_t size) {
  auto fail = [](std::string why) { return ParseResult{std::nullopt, std::move(why)}; };
  if (message == nullptr || size < kHeaderSize) return fail("reply shorter than a DNS header");
  if (size > 65535) return fail("reply longer than a DNS message can be");
  Reply reply;
  reply.truncated = (message[2] & 0x02) != 0;
  reply.rcode = message[3] & 0x0F;
  const std::uint16_t question_count = read16(message + 4);
  const std::uint16_t answer_count = read16(message + 6);

  Reader reader(message, size);
  reader.seek(kHeaderSize);
  for (std::uint16_t i = 0; i < question_count; ++i) {
    auto name = reader.name();
    auto type = name ? reader.u16() : std::nullopt;
    auto klass = type ? reader.u16() : std::nullopt;
    if (!klass) return fail("malformed question section");
    if (i == 0) {
      reply.question = *name;
      reply.question_type = *type;
    }
  }
  for (std::uint16_t i = 0; i < answer_count; ++i) {
    Record record;
    auto owner = reader.name();
    auto type = owner ? reader.u16() : std::nullopt;
    auto klass = type ? reader.u16() : std::nullopt;
    auto ttl = klass ? reader.u32() : std::nullopt;
    auto data_size = ttl ? reader.u16() : std::nullopt;
    if (!data_size || !reader.has(*data_size)) {
      return fail(fmt::format("answer record {} of {} is cut short", i + 1, answer_count));
    }
    record.owner = *owner;
    record.type = *type;
    record.ttl = *ttl;
    const std::size_t data_end = reader.position() + *data_size;
    if (!describe(reader, data_end, record)) {
      return fail(
          fmt::format("malformed {} record for {}", record_type_name(record.type), record.owner));
    }
    reader.seek(data_end);
    reply.answers.push_back(std::move(record));
  }
  return ParseResult{std::move(reply), {}};
}

std::string reverse_name(const boost::asio::ip::address& address) {
  std::string out;
  if (address.is_v4()) {
    auto bytes = address.to_v4().to_bytes();
    for (auto it = bytes.rbegin(); it != bytes.rend(); ++it) out += fmt::format("{}.", *it);
    return out + "in-addr.arpa.";
  }
  auto bytes = address.to_v6().to_bytes();
  for (auto it = bytes.rbegin(); it != bytes.rend(); ++it) {
    out += fmt::format("{:x}.{:x}.", *it & 0x0F, *it >> 4);
  }
  return out + "ip6.arpa.";
}

std::vector<std::string> search_candidates(const std::string& name,
                                           const std::vector<std::string>& domains, int ndots) {
  if (name.empty()) return {};
  if (name.back() == '.' || domains.empty()) return {name};
  const auto dots = std::count(name.begin(), name.end(), '.');
  std::vector<std::string> out;
  if (dots >= ndots) out.push_back(name);
  for (const auto& domain : domains) {
    std::string candidate = name;
    candidate += '.';
    candidate += domain;
    out.push_back(std::move(candidate));
  }
  if (dots < ndots) out.push_back(name);
  return out;
}

}  // namespace reachprobe::dns
