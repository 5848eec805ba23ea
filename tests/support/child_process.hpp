#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace reachprobe::test {

// A program the test starts, with stdout and stderr captured to files. The destructor kills
// it by PID (SIGKILL) and reaps it if it still runs, so a failing test leaves nothing.
class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv,
                        const std::vector<std::string>& extra_env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void send_signal(int signal);
  // The exit status (or 128 + signal), or nullopt if still running after `limit`.
  std::optional<int> wait_for_exit(std::chrono::milliseconds limit);
  std::string stdout_text() const;
  std::string stderr_text() const;
  // Waits until stderr (or stdout) contains `needle`; false after `limit` or if it exited.
  bool wait_for_stderr(const std::string& needle, std::chrono::milliseconds limit);
  bool wait_for_stdout(const std::string& needle, std::chrono::milliseconds limit);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string stdout_path_;
  std::string stderr_path_;
};

struct CommandResult {
  int exit_code = -1;  // -1: killed at the limit
  std::string out;
  std::string err;
};

// Runs a program to completion, killed if it overruns `limit`.
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds limit = std::chrono::seconds(30),
                          const std::vector<std::string>& extra_env = {});

}  // namespace reachprobe::test
