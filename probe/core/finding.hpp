#pragma once

namespace reachprobe {

// What a probe established about a failure beyond its outcome, where the outcome alone
// points at the wrong fix: a `refused` from a ClusterIP is no missing listener when the
// Service has no ready endpoint, a `timeout` of a stalled TLS handshake is no hung server
// when the same handshake passes with small segments. Hints and remediation key on it,
// never on the words of the message.
enum class Finding {
  None,
  // Refused by kube-proxy's reject rule: the Service behind the ClusterIP has no ready
  // endpoint (discovery counted them).
  NoReadyEndpoints,
  // A path-MTU black hole: the TLS handshake stalled with full-size segments and completed
  // with small ones (TCP_MAXSEG) on a second connection.
  MtuBlackHole,
  // The API server refused to dial the address ("Address is not allowed"): the control plane
  // has no route into the pod network (an overlay CNI on EKS).
  ControlPlaneCannotRoute,
  // The API server connected but got no response headers in time ("Client.Timeout exceeded
  // while awaiting headers"): the path is open, whatever holds the port did not answer.
  NoResponseHeaders,
};

}  // namespace reachprobe
