// The Prometheus scrape endpoint: a small HTTP/1.1 server for one MetricsRegistry.
//
//   GET /metrics  200, Content-Type: text/plain; version=0.0.4; charset=utf-8, the
//                 registry's RenderText() (callbacks run on the server's thread)
//   GET /healthz  200, "ok"
//   HEAD          as GET, without the body
//   other paths   404; other methods on /metrics or /healthz: 405 (Allow: GET, HEAD)
//   a request that does not parse: 400 and the connection is closed; headers over 8 KiB:
//                 431; a body over 8 KiB: 413
//
// A query string is ignored (/metrics?x=y is /metrics). Keep-alive and pipelining follow
// HTTP/1.1 (HTTP/1.0: "Connection: keep-alive"). A connection idle for 60 s is closed.
// The server runs on one background thread of its own, asynchronously (Boost.Beast over
// Asio): no thread per connection, and nothing it receives can crash the process.
#pragma once

#include <memory>
#include <string>

#include "common/metrics.h"
#include "common/status.h"

namespace vigil {

struct MetricsServerOptions {
  // IP address to listen on, IPv4 or IPv6, not a host name ("0.0.0.0" or "::" for every
  // interface). Default: loopback only.
  std::string address = "127.0.0.1";
  // TCP port; 0 picks a free one (see MetricsServer::port()). Default: 0.
  int port = 0;
};

// Safe for concurrent use: port() from any thread; Stop() from any thread but the
// server's own (that is, not from a metric callback).
class MetricsServer {
 public:
  // Listens on options.address:port and starts serving `registry`. InvalidArgument for
  // an address that is not an IP or a port outside 0..65535; IOError naming address and
  // port if it cannot listen (port in use, address not on this host).
  // REQUIRES: registry != nullptr and outlives the server (or its Stop()).
  static Result<std::unique_ptr<MetricsServer>> Start(const MetricsRegistry* registry,
                                                      const MetricsServerOptions& options = {});

  // Stops.
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // The port it listens on (the chosen one when options.port was 0).
  int port() const;

  // Closes the listening socket and every connection (a response in flight is cut off)
  // and joins the server thread. Idempotent; the destructor calls it.
  void Stop();

 private:
  struct Impl;
  explicit MetricsServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil
