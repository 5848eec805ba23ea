#include "tests/support/exposition.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <sstream>

namespace reachprobe::test {

std::uint16_t free_tcp_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(
      io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();
}

std::optional<double> sample(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      try {
        return std::stod(line.substr(series.size() + 1));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

std::map<std::string, double> samples(const std::string& exposition) {
  std::map<std::string, double> out;
  std::istringstream in(exposition);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto space = line.rfind(' ');
    std::string series = line.substr(0, space);
    for (const char* key : {"le=\"", "quantile=\""}) {
      auto at = series.find(key);
      if (at == std::string::npos) continue;
      at += std::char_traits<char>::length(key);
      auto end = series.find('"', at);
      auto bound = series.substr(at, end - at);
      if (bound != "+Inf") bound = std::to_string(std::stod(bound));
      series = series.substr(0, at) + bound + series.substr(end);
    }
    const auto value = line.substr(space + 1);
    out[series] = value == "NaN" || value == "Nan" ? -1234.5 : std::stod(value);
  }
  return out;
}

}  // namespace reachprobe::test
