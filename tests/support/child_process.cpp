#include "tests/support/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/wait.hpp"

extern char** environ;

namespace reachprobe::test {

namespace {

std::string temp_path(const char* what) {
  static std::atomic<int> counter{0};
  return (std::filesystem::temp_directory_path() / ("reachprobe-test-" + std::to_string(getpid()) +
                                                    "-" + std::to_string(counter++) + "." + what))
      .string();
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int decode(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv,
                           const std::vector<std::string>& extra_env)
    : stdout_path_(temp_path("out")), stderr_path_(temp_path("err")) {
  if (argv.empty()) throw std::invalid_argument("ChildProcess: empty argv");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  // extra_env replaces a variable of the same name (getenv would find the first of two).
  auto name_of = [](std::string_view entry) { return entry.substr(0, entry.find('=')); };
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) {
    const std::string_view entry(*e);
    const bool replaced =
        std::any_of(extra_env.begin(), extra_env.end(),
                    [&](const std::string& x) { return name_of(x) == name_of(entry); });
    if (!replaced) env_strings.emplace_back(entry);
  }
  for (const auto& e : extra_env) env_strings.push_back(e);
  std::vector<char*> env;
  for (auto& e : env_strings) env.push_back(e.data());
  env.push_back(nullptr);

  const int out = open(stdout_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int err = open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0 || err < 0) throw std::runtime_error("ChildProcess: cannot create output files");
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    // Only stdin, stdout and stderr go to the child. Asio opens sockets without CLOEXEC, so
    // the child would otherwise hold the test's listeners and stand-in servers open: a port
    // the test closes would still accept, and the child's descriptor count includes them.
    close_range(3, ~0U, 0);
    // A test process that crashes or is killed must not leave its children behind.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    execve(args[0], args.data(), env.data());
    execvpe(args[0], args.data(), env.data());
    dprintf(STDERR_FILENO, "exec %s: %s\n", args[0], strerror(errno));
    _exit(127);
  }
  close(out);
  close(err);
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + strerror(errno));
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  std::error_code ignored;
  std::filesystem::remove(stdout_path_, ignored);
  std::filesystem::remove(stderr_path_, ignored);
}

bool ChildProcess::running() {
  if (status_) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    status_ = decode(status);
    return false;
  }
  return true;
}

void ChildProcess::send_signal(int signal) {
  if (running()) kill(pid_, signal);
}

std::optional<int> ChildProcess::wait_for_exit(std::chrono::milliseconds limit) {
  wait_until([this] { return !running(); }, limit, std::chrono::milliseconds(5));
  return status_;
}

std::string ChildProcess::stdout_text() const { return slurp(stdout_path_); }
std::string ChildProcess::stderr_text() const { return slurp(stderr_path_); }

bool ChildProcess::wait_for_stderr(const std::string& needle, std::chrono::milliseconds limit) {
  return wait_until([&] { return stderr_text().find(needle) != std::string::npos || !running(); },
                    limit) &&
         stderr_text().find(needle) != std::string::npos;
}

bool ChildProcess::wait_for_stdout(const std::string& needle, std::chrono::milliseconds limit) {
  return wait_until([&] { return stdout_text().find(needle) != std::string::npos || !running(); },
                    limit) &&
         stdout_text().find(needle) != std::string::npos;
}

CommandResult run_command(const std::vector<std::string>& argv, std::chrono::milliseconds limit,
                          const std::vector<std::string>& extra_env) {
  ChildProcess child(argv, extra_env);
  CommandResult r;
  auto status = child.wait_for_exit(limit);
  r.exit_code = status.value_or(-1);
  r.out = child.stdout_text();
  r.err = child.stderr_text();
  return r;
}

}  // namespace reachprobe::test
