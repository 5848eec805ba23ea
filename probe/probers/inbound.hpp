#pragma once

#include <boost/asio/io_context.hpp>
#include <map>
#include <memory>
#include <string>

#include "probe/probers/kubernetes.hpp"
#include "probe/probers/prober.hpp"

namespace reachprobe {

// The listeners of inbound probes: on each probed port, a plain-HTTP server that answers
// `GET /reachprobe/inbound/<nonce>` with the nonce and nothing else. Any nonce is echoed,
// so a `check` on a node where the daemon holds the port is answered by the daemon.
class InboundListeners {
 public:
  explicit InboundListeners(boost::asio::io_context& io) : io_(io) {}
  ~InboundListeners();
  InboundListeners(const InboundListeners&) = delete;
  InboundListeners& operator=(const InboundListeners&) = delete;

  enum class State { Listening, HeldByAnother, Failed };
  struct Status {
    State state = State::Failed;
    std::string problem;  // for Failed: why nobody can listen here
  };
  // Listens on `port` unless it already does; a port held by another process is retried
  // at every call, so the probe takes over once it is free.
  Status ensure(std::uint16_t port, bool ipv6);

 private:
  struct Listener;
  boost::asio::io_context& io_;
  std::map<std::uint16_t, std::shared_ptr<Listener>> listeners_;
};

// `type: inbound`: the path control plane -> this node on a port, the one a node security
// group guards (the outage's webhook on 9443). The API server is asked to connect to this
// pod's port through the pod proxy; the nonce coming back proves the connection arrived.
class InboundProber final : public Prober {
 public:
  InboundProber(boost::asio::io_context& io, std::shared_ptr<dns::Resolver> resolver,
                KubernetesApi api);
  boost::asio::awaitable<ProbeResult> probe(const Endpoint& endpoint, Deadline deadline) override;

 private:
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
