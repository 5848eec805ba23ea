#pragma once

#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "probe/probers/kubernetes.hpp"
#include "probe/probers/prober.hpp"

namespace reachprobe {

// The listeners of inbound probes: on each probed port, a plain-HTTP server that answers
// `GET /reachprobe/inbound/<nonce>` with the nonce and nothing else. A port is held only
// while a probe runs, so that a process that owns it (a hostNetwork webhook on 9443) can
// bind it between probes; any nonce is echoed, so probes running at the same time on one
// port (or a `check` while the daemon probes) share one listener.
class InboundListeners {
 public:
  explicit InboundListeners(boost::asio::io_context& io) : io_(io) {}
  InboundListeners(const InboundListeners&) = delete;
  InboundListeners& operator=(const InboundListeners&) = delete;

  enum class State {
    Listening,      // reachprobe listens: the answer must carry the nonce
    HeldByAnother,  // another process holds the port: any accept it makes proves the path
    Kubelet,        // 10250: never listened on; the kubelet holds it
    Failed,         // nobody can listen here (permissions, no such address family)
  };
  struct Listener;
  // One probe's hold on a port: the listener closes, with every connection it accepted, when
  // the last hold on it goes, so nothing of reachprobe's stays bound to the port.
  class Hold {
   public:
    Hold() = default;
    Hold(State state, std::shared_ptr<Listener> listener, std::string problem = {});
    Hold(Hold&& other) noexcept;
    Hold& operator=(Hold&& other) noexcept;
    ~Hold();
    State state() const { return state_; }
    const std::string& problem() const { return problem_; }  // for Failed: why
    void release();

   private:
    State state_ = State::Failed;
    std::shared_ptr<Listener> listener_;
    std::string problem_;
  };

  // Listens on `port` (or joins the listener a concurrent probe opened) for as long as the
  // returned hold lives. SO_REUSEADDR only lets it bind over its own connections' leftovers;
  // it never takes a port another socket listens on (no SO_REUSEPORT: that would share the
  // other process's connections).
  Hold hold(std::uint16_t port, bool ipv6);
  // Whether reachprobe listens on the port now (for tests and logs).
  bool listening(std::uint16_t port, bool ipv6) const;

 private:
  boost::asio::io_context& io_;
  std::map<std::pair<std::uint16_t, bool>, std::weak_ptr<Listener>> listeners_;
};

// What an answer through the pod proxy from a port held by another process says: how the
// holder took the connection ("answered HTTP 400", "accepted the connection and closed it"),
// or nullopt if the answer is the API server's own (its RBAC, its dial error), which
// explain_api_failure reads. Any connection the holder accepted proves the path open: an
// HTTP answer of any status (a TLS server's "HTTP request to an HTTPS server" 400 included)
// or the proxy's "error trying to reach service" after the connect (EOF, a reset, a
// malformed response such as a TLS alert). `pod_name` tells the API server's Status answers
// about this pod (403, 404) from a holder's own.
std::optional<std::string> judge_held_port_answer(const HttpResponseSummary& response,
                                                  std::string_view pod_name);

// `type: inbound`: the path control plane -> this node on a port, the one a node security
// group guards (the outage's webhook on 9443). The API server is asked to connect to this
// pod's port through the pod proxy; the nonce coming back proves the connection arrived.
class InboundProber final : public Prober {
 public:
  InboundProber(boost::asio::io_context& io, std::shared_ptr<dns::Resolver> resolver,
                KubernetesApi api);
  boost::asio::awaitable<ProbeResult> probe(const Endpoint& endpoint, Deadline deadline) override;

 private:
  // One request through the pod proxy to the port, `hold` kept until the answer is in.
  boost::asio::awaitable<ProbeResult> ask_through_pod_proxy(const Endpoint& endpoint,
                                                            Deadline deadline,
                                                            InboundListeners::Hold hold);

  InboundListeners listeners_;
  KubernetesClient client_;
};

// `type: kubelet`: the path control plane -> this node's kubelet (10250), the one
// `kubectl logs/exec` use: the API server is asked for one line of this pod's log.
class KubeletProber final : public Prober {
 public:
  KubeletProber(std::shared_ptr<dns::Resolver> resolver, KubernetesApi api)
      : client_(std::move(resolver), std::move(api)) {}
  boost::asio::awaitable<ProbeResult> probe(const Endpoint& endpoint, Deadline deadline) override;

 private:
  KubernetesClient client_;
};

}  // namespace reachprobe
