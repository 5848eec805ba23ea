#include "probe/config/kubeconfig.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "probe/config/config.hpp"
#include "tests/support/temp_dir.hpp"

namespace reachprobe::config {
namespace {

// The kubelet kubeconfig an EKS AL2023 node is bootstrapped with.
constexpr const char* kKubeletKubeconfig = R"(---
apiVersion: v1
kind: Config
clusters:
  - name: kubernetes
    cluster:
      certificate-authority: /etc/kubernetes/pki/ca.crt
      server: https://0123456789ABCDEF0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com
current-context: kubelet
contexts:
  - name: kubelet
    context:
      cluster: kubernetes
      user: kubelet
users:
  - name: kubelet
    user:
      exec:
        apiVersion: client.authentication.k8s.io/v1beta1
        command: aws
        args: [eks, get-token, --cluster-name, demo, --region, eu-west-1]
)";

class KubeconfigTest : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const std::string& text) {
    const auto path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  static std::string problem(const std::variant<KubeconfigServer, std::string>& r) {
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : "";
  }
  test::TempDir dir_{"reachprobe-kubeconfig"};
};

TEST_F(KubeconfigTest, TheServerOfTheCurrentContext) {
  const auto path = write("kubeconfig", kKubeletKubeconfig);
  auto r = read_kubeconfig_server({path});
  ASSERT_TRUE(std::holds_alternative<KubeconfigServer>(r)) << problem(r);
  const auto& s = std::get<KubeconfigServer>(r);
  EXPECT_EQ(s.host, "0123456789ABCDEF0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com");
  EXPECT_EQ(s.port, 443);
  EXPECT_EQ(s.path, path);
}

TEST_F(KubeconfigTest, TheFirstFileThatExistsAndTheOnlyClusterWithoutAContext) {
  const auto path =
      write("al2023",
            "clusters:\n- name: c\n  cluster:\n    server: https://api.example.internal:6443\n");
  auto r = read_kubeconfig_server({(dir_ / "al2").string(), path});
  ASSERT_TRUE(std::holds_alternative<KubeconfigServer>(r)) << problem(r);
  EXPECT_EQ(std::get<KubeconfigServer>(r).host, "api.example.internal");
  EXPECT_EQ(std::get<KubeconfigServer>(r).port, 6443);
}

TEST_F(KubeconfigTest, EveryBrokenFileIsAMessage) {
  const auto missing = (dir_ / "nope").string();
  EXPECT_NE(problem(read_kubeconfig_server({missing})).find("no file " + missing),
            std::string::npos);
  EXPECT_NE(problem(read_kubeconfig_server({dir_.path().string()})).find("is a directory"),
            std::string::npos);
  EXPECT_NE(problem(read_kubeconfig_server({write("empty", "")})).find("is empty"),
            std::string::npos);
  EXPECT_NE(problem(read_kubeconfig_server({write("junk", "clusters: [unclosed")}))
                .find("is not a kubeconfig"),
            std::string::npos);
  EXPECT_NE(problem(read_kubeconfig_server({write("none", "kind: Config\n")})).find("no clusters"),
            std::string::npos);
  EXPECT_NE(problem(read_kubeconfig_server(
                        {write("noserver", "clusters:\n- name: c\n  cluster: {insecure: true}\n")}))
                .find("has no server"),
            std::string::npos);
  EXPECT_NE(problem(read_kubeconfig_server({write(
                        "http", "clusters:\n- name: c\n  cluster: {server: http://x:80}\n")}))
                .find("is not https://"),
            std::string::npos);
  EXPECT_NE(problem(read_kubeconfig_server(
                        {write("two",
                               "clusters:\n- {name: a, cluster: {server: https://a}}\n- {name: b, "
                               "cluster: {server: https://b}}\n")}))
                .find("2 clusters and no current-context"),
            std::string::npos);
  std::string other_context = kKubeletKubeconfig;
  other_context.replace(other_context.find("current-context: kubelet"), 24,
                        "current-context: other");
  EXPECT_NE(problem(read_kubeconfig_server({write("ctx", other_context)}))
                .find("current-context 'other' is not among its contexts"),
            std::string::npos);
}

TEST_F(KubeconfigTest, ATargetTakesItsHostAndPortFromTheKubeconfig) {
  const auto path = write("kubeconfig", kKubeletKubeconfig);
  auto loaded = load_config_string(
      "targets:\n  - name: apiserver-endpoint\n    type: tcp\n    kubeconfig_server: [" +
          (dir_ / "missing").string() + ", " + path + "]\n",
      "c.yaml", [](std::string_view) { return std::optional<std::string>(); });
  ASSERT_TRUE(loaded.config) << loaded.errors.front().to_string();
  const auto& t = loaded.config->targets.front();
  EXPECT_EQ(t.hosts, std::vector<std::string>{
                         "0123456789ABCDEF0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com"});
  EXPECT_EQ(t.ports, std::vector<std::uint16_t>{443});
  EXPECT_TRUE(t.cluster_endpoint);
  EXPECT_EQ(t.kubeconfig, path);
}

TEST_F(KubeconfigTest, ConfigErrorsPointAtTheKey) {
  const auto none = [](std::string_view) { return std::optional<std::string>(); };
  auto missing = load_config_string(
      "targets:\n  - name: e\n    type: tcp\n    kubeconfig_server: /nonexistent/kubeconfig\n",
      "c.yaml", none);
  ASSERT_EQ(missing.errors.size(), 1u);
  EXPECT_EQ(missing.errors[0].to_string(),
            "c.yaml:4:24: 'kubeconfig_server': no file /nonexistent/kubeconfig (the node's kubelet "
            "kubeconfig, mounted read-only from the host)");

  const auto path = write("kubeconfig", kKubeletKubeconfig);
  auto both = load_config_string(
      "targets:\n  - name: e\n    type: tcp\n    hosts: [a.b]\n"
      "    ports: [443]\n    kubeconfig_server: " +
          path + "\n",
      "c.yaml", none);
  ASSERT_EQ(both.errors.size(), 1u);
  EXPECT_EQ(both.errors[0].line, 4);
  EXPECT_NE(both.errors[0].message.find("exclude each other"), std::string::npos);

  auto tls = load_config_string(
      "targets:\n  - name: e\n    type: tls\n    kubeconfig_server: " + path + "\n", "c.yaml",
      none);
  ASSERT_FALSE(tls.errors.empty());
  EXPECT_NE(tls.errors[0].message.find("not valid for a tls target"), std::string::npos);
}

}  // namespace
}  // namespace reachprobe::config
