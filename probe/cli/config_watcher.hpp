#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <string>

namespace reachprobe::cli {

// Calls `on_change` when the config file's content may have changed. It watches the
// file's directory, not the file: Kubernetes updates a mounted ConfigMap by swapping a
// `..data` symlink (a rename in the directory), and editors replace files by rename too;
// a watch on the old inode would see neither. Events are debounced, since one update is a
// burst of them. inotify through an Asio descriptor: no thread, nothing blocks.
class ConfigWatcher {
 public:
  ConfigWatcher(boost::asio::io_context& io, const std::string& config_path,
                std::function<void()> on_change,
                std::chrono::milliseconds debounce = std::chrono::milliseconds(200));
  ~ConfigWatcher();
  ConfigWatcher(const ConfigWatcher&) = delete;
  ConfigWatcher& operator=(const ConfigWatcher&) = delete;

  // False if inotify could not be set up (the reason is logged): SIGHUP still works.
  bool active() const { return descriptor_.is_open(); }

 private:
  void wait();
  boost::asio::posix::stream_descriptor descriptor_;
  boost::asio::steady_timer debounce_timer_;
  std::chrono::milliseconds debounce_;
  std::function<void()> on_change_;
  char buffer_[4096];
};

}  // namespace reachprobe::cli
