#include "probe/cli/config_watcher.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "probe/log/logging.hpp"

namespace reachprobe::cli {

ConfigWatcher::ConfigWatcher(boost::asio::io_context& io, const std::string& config_path,
                             std::function<void()> on_change, std::chrono::milliseconds debounce)
    : descriptor_(io), debounce_timer_(io), debounce_(debounce), on_change_(std::move(on_change)) {
  const int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    log::event(spdlog::level::warn, "cannot watch the config file; reload with SIGHUP",
               {{"error", std::strerror(errno)}});
    return;
  }
  auto dir = std::filesystem::path(config_path).parent_path();
  if (dir.empty()) dir = ".";
  if (inotify_add_watch(fd, dir.c_str(),
                        IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB) < 0) {
    log::event(spdlog::level::warn, "cannot watch the config directory; reload with SIGHUP",
               {{"directory", dir.string()}, {"error", std::strerror(errno)}});
    close(fd);
    return;
  }
  descriptor_.assign(fd);
  wait();
}

ConfigWatcher::~ConfigWatcher() {
  boost::system::error_code ignored;
  debounce_timer_.cancel();
  descriptor_.close(ignored);
}

void ConfigWatcher::wait() {
  descriptor_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                         [this](boost::system::error_code ec) {
                           if (ec) return;
                           // Drain: the content of the events does not matter, any of them may be
                           // the config.
                           while (read(descriptor_.native_handle(), buffer_, sizeof buffer_) > 0) {
                           }
                           debounce_timer_.expires_after(debounce_);
                           debounce_timer_.async_wait([this](boost::system::error_code ec) {
                             if (!ec) on_change_();
                           });
                           wait();
                         });
}

}  // namespace reachprobe::cli
