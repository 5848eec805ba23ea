#include "probe/config/config_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <thread>

#include "tests/support/temp_dir.hpp"

namespace reachprobe::config {
namespace {

using test::TempDir;
using ::testing::HasSubstr;

TEST(ReadConfigFile, RegularFileIsReadWhole) {
  TempDir dir("reachprobe-config-file");
  const auto path = (dir / "c.yaml").string();
  std::string text = "targets: []\n";
  text += std::string(200000, '#');  // longer than one read
  std::ofstream(path) << text;
  auto file = read_config_file(path);
  EXPECT_EQ(file.problem, "");
  EXPECT_EQ(file.text, text);
}

TEST(ReadConfigFile, MissingFileSaysSo) {
  TempDir dir("reachprobe-config-file");
  auto file = read_config_file((dir / "nope.yaml").string());
  EXPECT_EQ(file.problem, "cannot read: No such file or directory");
  EXPECT_EQ(file.text, "");
}

TEST(ReadConfigFile, DirectoryIsNamedAndItsYamlFilesSuggested) {
  TempDir dir("reachprobe-config-file");
  EXPECT_EQ(read_config_file(dir.path().string()).problem,
            "is a directory, not a config file; --config takes the path of a YAML file");

  // A ConfigMap volume: the key as a file (a symlink into ..data), hidden bookkeeping.
  std::filesystem::create_directories(dir / "..2026_11_30");
  std::ofstream((dir / "..2026_11_30" / "config.yaml").string()) << "targets: []\n";
  std::filesystem::create_directory_symlink("..2026_11_30", dir / "..data");
  std::filesystem::create_symlink("..data/config.yaml", dir / "config.yaml");
  std::ofstream((dir / "README").string()) << "not yaml\n";
  auto file = read_config_file(dir.path().string() + "/");
  EXPECT_EQ(file.problem, "is a directory, not a config file; --config takes a file, e.g. " +
                              dir.path().string() + "/config.yaml (it holds config.yaml)");
  EXPECT_EQ(file.text, "");
}

TEST(ReadConfigFile, EmptyFileIsNamedEmpty) {
  TempDir dir("reachprobe-config-file");
  const auto path = (dir / "empty.yaml").string();
  std::ofstream{path};
  EXPECT_EQ(read_config_file(path).problem,
            "is empty (0 bytes); a config needs at least 'targets'");
}

TEST(ReadConfigFile, SocketIsNotARegularFile) {
  TempDir dir("reachprobe-config-file");
  const auto path = (dir / "sock").string();
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof address.sun_path);
  std::strcpy(address.sun_path, path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0)
      << std::strerror(errno);
  EXPECT_EQ(read_config_file(path).problem, "is a socket, not a regular file");
  ::close(fd);
}

TEST(ReadConfigFile, FifoIsReadSoProcessSubstitutionWorks) {
  TempDir dir("reachprobe-config-file");
  const auto path = (dir / "fifo").string();
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0) << std::strerror(errno);
  // The writer blocks in open until the reader opens: a thread, joined before the end.
  std::thread writer([&] { std::ofstream(path) << "targets: []\n"; });
  auto file = read_config_file(path);
  writer.join();
  EXPECT_EQ(file.problem, "");
  EXPECT_EQ(file.text, "targets: []\n");
}

TEST(ReadConfigFile, DeviceWithoutDataSaysWhatItIs) {
  EXPECT_EQ(read_config_file("/dev/null").problem,
            "is a character device that gave no data; a config needs at least 'targets'");
}

TEST(ReadConfigFile, EndlessDeviceStopsAtTheLimit) {
  auto file = read_config_file("/dev/zero");
  EXPECT_THAT(file.problem, HasSubstr("is larger than 64 MiB"));
  EXPECT_EQ(file.text, "");
}

}  // namespace
}  // namespace reachprobe::config
