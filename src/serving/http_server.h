// The HTTP layer of `vigil serve`: an asynchronous HTTP/1.1 server (Boost.Beast over Asio,
// no thread per connection) that routes requests to handlers, with bearer-token auth,
// size limits, per-request deadlines, bounded concurrency with load shedding, graceful
// drain on shutdown and Prometheus metrics.
//
// Threads. `io_threads` threads do every network thing: accept, read and parse, route,
// check auth, admit or shed, write. Handlers run on a separate pool of `handler_threads`
// threads, so a slow handler never stops the server from reading, shedding (503) or
// timing out (504) other requests.
//
// What a request goes through, in order (every error body is {"error": "<what is wrong>"}):
//   1. read: the request line and headers (over max_header_bytes: 431) and the whole body
//      (over max_body_bytes: 413; chunked bodies are decoded), all before its deadline =
//      first byte received + request_timeout, else the connection is cut (no response: the
//      client is too slow to take one). Bytes that are not HTTP/1.x: 400. After a 400, 413
//      or 431 the connection is closed. "Expect: 100-continue" is answered.
//   2. route: the path (the target up to '?') against the routes in the order given; the
//      first route whose pattern and method match wins. No pattern matches: 404. Some
//      pattern matches but not with this method: 405 with "Allow". HEAD is served by a
//      GET route, without the body. A target not starting with '/': 400.
//   3. auth (`Authorization: Bearer <token>`, compared in constant time):
//        kPublic  never asks for a token.
//        kApi     needs api_token or admin_token, when api_token is set.
//        kAdmin   needs admin_token when it is set; when only api_token is set it needs
//                 that (setting VIGIL_API_TOKEN alone never leaves admin endpoints open).
//      No token or a wrong one: 401 with `WWW-Authenticate: Bearer realm="vigil"`. A valid
//      api token on an admin route: 403 (the caller is known, but not allowed).
//   4. admit: at most max_in_flight requests are admitted (queued for or running in a
//      handler) at once; one more is answered 503 with "Retry-After: 1" at once, without
//      running its handler. While the server drains, every new request gets 503 too.
//   5. handle: the handler runs on a pool thread. If its response is not ready at the
//      deadline, the client gets 504 at the deadline, and the response computed later is
//      dropped; a request still queued at its deadline is not run at all. The connection
//      stays open after a 504. A handler that throws gives 500.
//   6. write: within request_timeout, else the connection is cut. Keep-alive and
//      pipelining follow HTTP/1.1 (HTTP/1.0: "Connection: keep-alive"); pipelined
//      requests are handled one after another, answered in order.
// A connection with no request for idle_timeout is closed. Nothing a client sends can
// crash the process.
//
// Metrics (when options.metrics is set), registered once per server:
//   vigil_http_requests_total{route,code}          responses by route name and status code
//   vigil_http_request_duration_seconds{route}     first byte of the request -> response
//                                                  ready to write (histogram)
//   vigil_http_in_flight_requests                  admitted requests not yet handled
//   vigil_http_shed_requests_total                 requests refused by load shedding (503)
// `route` is Route::name; "unmatched" for a 404 and "invalid" for a request that does not
// parse (400, 413, 431). QPS is rate(vigil_http_requests_total[1m]). The server also
// answers `GET /metrics` (public, never shed, run on the io thread) with the registry in
// Prometheus text format.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/metrics.h"
#include "common/status.h"

namespace vigil {

// A request as its handler sees it. Valid for the duration of the handler call.
struct HttpRequest {
  std::string method;  // "GET", "POST", ... (for HEAD: "HEAD")
  std::string path;    // the target up to '?', as sent (not percent-decoded)
  std::string query;   // after '?', as sent; "" if none
  std::string body;    // decoded (a chunked body is joined)
  // Header fields in the order received, names as sent.
  std::vector<std::pair<std::string, std::string>> headers;
  // The {param} segments of the route pattern, percent-decoded:
  // /v2/models/{name}/ready on /v2/models/fraud%2Dv2/ready -> {"name": "fraud-v2"}.
  std::map<std::string, std::string> params;
  // When the client gets a 504 if the handler has not returned. A handler doing slow work
  // (many lookups) checks it and returns early; nothing interrupts it otherwise.
  std::chrono::steady_clock::time_point deadline;

  // The value of the first header named `name` (case-insensitive); "" if there is none.
  std::string header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;  // 100..599, else the client gets 500
  std::string content_type = "application/json";
  std::string body;
  // Extra header fields. The server sets Content-Length, Connection, Server and
  // Content-Type itself (fields of those names here are ignored; Transfer-Encoding too).
  // A name or value with CR or LF makes the response a 500.
  std::vector<std::pair<std::string, std::string>> headers;

  static HttpResponse Json(int status, std::string body);
  // {"error": "<message>"}, the message JSON-escaped (bytes that are not UTF-8 become
  // U+FFFD).
  static HttpResponse Error(int status, std::string_view message);
};

// Who may call a route; see step 3 at the top of this file.
enum class Access { kPublic, kApi, kAdmin };

struct Route {
  std::string method;  // "GET", "POST", ...: an HTTP token, upper case
  // An exact path, or one with whole-segment parameters: "/v2/models/{name}/ready".
  // A {param} matches one non-empty segment.
  std::string pattern;
  Access access = Access::kApi;
  std::string name;  // the `route` label of the metrics, e.g. "score"
  // Called on a handler thread, possibly on several at once: must be thread-safe. Should
  // not throw (a throw is caught: 500).
  std::function<HttpResponse(const HttpRequest&)> handler;
};

struct HttpServerOptions {
  // IP address to listen on, IPv4 or IPv6, not a host name. Default: loopback only.
  std::string address = "127.0.0.1";
  // TCP port; 0 picks a free one (see HttpServer::port()). Default: 0.
  int port = 0;
  // Threads for network I/O (cheap work only). Default: 1.
  int io_threads = 1;
  // Threads running handlers; 0: one per CPU core. Default: 0.
  int handler_threads = 0;
  // Body of one request (after chunked decoding): more is 413. Default: 1 MiB.
  size_t max_body_bytes = 1 << 20;
  // Request line plus header fields: more is 431. Default: 8 KiB.
  size_t max_header_bytes = 8 << 10;
  // First byte of a request -> its response ready (and, separately, the time to write it).
  // Default: 2 s.
  std::chrono::milliseconds request_timeout{2000};
  // A kept-alive connection with no new request for this long is closed. Default: 60 s.
  std::chrono::milliseconds idle_timeout{60000};
  // Requests admitted (queued for or running in a handler) at once; more are shed with
  // 503. Default: 64.
  int max_in_flight = 64;
  // Bearer tokens (VIGIL_API_TOKEN, VIGIL_ADMIN_TOKEN); "" means not required. Default: "".
  std::string api_token = "";
  std::string admin_token = "";
  // Where the metrics at the top of this file go, and what GET /metrics serves; null for
  // neither. Must outlive the server. Default: null.
  MetricsRegistry* metrics = nullptr;
};

// port() and Shutdown() are safe from any thread, except that Shutdown() must not be
// called from a handler (it waits for handlers).
class HttpServer {
 public:
  // Listens on options.address:port and starts serving `routes`. InvalidArgument naming
  // the mistake for: an address that is not an IP, a port outside 0..65535, a thread
  // count, limit or timeout that is not positive, a route with an empty method, no
  // handler, a pattern not starting with '/' or with a bad {param}, two routes with the
  // same method and pattern, or GET /metrics among the routes while options.metrics is
  // set. IOError naming address and port if it cannot listen (port in use).
  static Result<std::unique_ptr<HttpServer>> Start(std::vector<Route> routes,
                                                   const HttpServerOptions& options);

  // Shuts down (with the default drain timeout).
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The port it listens on (the chosen one when options.port was 0).
  int port() const;

  // Graceful stop: closes the listening socket (new connections are refused) and every
  // connection waiting for a request. A request whose first byte has arrived is still
  // answered: one being read gets 503 (shutting down) once read, an admitted one runs to
  // the end; those responses carry "Connection: close". Once they are written, or after
  // drain_timeout, closes every connection, drops handler calls still queued, waits for
  // the handlers still running (they cannot be interrupted: they watch their deadline)
  // and joins the threads. Idempotent; the destructor calls it.
  void Shutdown(std::chrono::milliseconds drain_timeout = std::chrono::seconds(10));

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil
