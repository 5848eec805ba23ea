#include "probe/config/duration.hpp"

#include <cstdint>
#include <limits>

namespace reachprobe::config {
namespace {

// Wide enough that whole * unit and the running sum cannot overflow before the range check.
using Wide = unsigned __int128;

constexpr std::int64_t kNanosecond = 1;
constexpr std::int64_t kMicrosecond = 1000 * kNanosecond;
constexpr std::int64_t kMillisecond = 1000 * kMicrosecond;
constexpr std::int64_t kSecond = 1000 * kMillisecond;
constexpr std::int64_t kMinute = 60 * kSecond;
constexpr std::int64_t kHour = 60 * kMinute;

std::optional<std::int64_t> unit_nanoseconds(std::string_view unit) {
  if (unit == "ns") return kNanosecond;
  // Go accepts both the micro sign (U+00B5) and the Greek mu (U+03BC).
  if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") return kMicrosecond;
  if (unit == "ms") return kMillisecond;
  if (unit == "s") return kSecond;
  if (unit == "m") return kMinute;
  if (unit == "h") return kHour;
  return std::nullopt;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// `value / unit` as a decimal number without trailing zeros: (1500, 1000) -> "1.5".
std::string decimal(std::uint64_t value, std::uint64_t unit) {
  std::string text = std::to_string(value / unit);
  std::uint64_t fraction = value % unit;
  if (fraction == 0) return text;
  std::string digits;
  for (std::uint64_t scale = unit / 10; scale > 0; scale /= 10) {
    digits += static_cast<char>('0' + (fraction / scale) % 10);
  }
  while (!digits.empty() && digits.back() == '0') digits.pop_back();
  return text + "." + digits;
}

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  const Wide limit = static_cast<Wide>(std::numeric_limits<std::int64_t>::max());
  Wide total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    Wide whole = 0;
    bool has_digits = false;
    while (i < text.size() && is_digit(text[i])) {
      whole = whole * 10 + static_cast<unsigned>(text[i] - '0');
      if (whole > limit) return std::nullopt;
      has_digits = true;
      ++i;
    }
    // Digits past 18 cannot change a nanosecond count of any unit up to an hour by more
    // than rounding, and keeping them would overflow.
    Wide fraction = 0;
    Wide fraction_scale = 1;
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && is_digit(text[i])) {
        if (fraction_scale < Wide{1'000'000'000'000'000'000ULL}) {
          fraction = fraction * 10 + static_cast<unsigned>(text[i] - '0');
          fraction_scale *= 10;
        }
        has_digits = true;
        ++i;
      }
    }
    if (!has_digits) return std::nullopt;
    std::size_t unit_start = i;
    while (i < text.size() && !is_digit(text[i]) && text[i] != '.') ++i;
    auto unit = unit_nanoseconds(text.substr(unit_start, i - unit_start));
    if (!unit) return std::nullopt;
    total +=
        whole * static_cast<Wide>(*unit) + fraction * static_cast<Wide>(*unit) / fraction_scale;
    if (total > limit) return std::nullopt;
  }
  return std::chrono::nanoseconds(static_cast<std::int64_t>(total));
}

std::string format_duration(std::chrono::nanoseconds d) {
  if (d.count() == 0) return "0s";
  std::string text = d.count() < 0 ? "-" : "";
  // Unsigned negation also covers the most negative value.
  std::uint64_t n = static_cast<std::uint64_t>(d.count());
  if (d.count() < 0) n = 0 - n;
  if (n < static_cast<std::uint64_t>(kMicrosecond)) return text + std::to_string(n) + "ns";
  if (n < static_cast<std::uint64_t>(kMillisecond)) return text + decimal(n, kMicrosecond) + "us";
  if (n < static_cast<std::uint64_t>(kSecond)) return text + decimal(n, kMillisecond) + "ms";
  std::uint64_t hours = n / kHour;
  std::uint64_t minutes = n % kHour / kMinute;
  std::uint64_t seconds = n % kMinute;
  if (hours > 0) text += std::to_string(hours) + "h";
  if (minutes > 0) text += std::to_string(minutes) + "m";
  if (seconds > 0) text += decimal(seconds, kSecond) + "s";
  return text;
}

}  // namespace reachprobe::config
