#include "serving/http_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <future>
#include <limits>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>

#include "serving/percent_decode.h"

namespace vigil {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// After the last response of a connection, how long to read and drop what the client
// still sends, so the close is a FIN and not a reset that could discard the response.
constexpr auto kLingerTimeout = std::chrono::seconds(2);
// An accept that fails (out of file descriptors) is retried after this pause.
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);
// How much to read when waiting for the first bytes of a request.
constexpr size_t kFirstRead = 4096;

constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kUnmatchedRoute = "unmatched";
constexpr std::string_view kInvalidRoute = "invalid";
constexpr std::string_view kMetricsRoute = "metrics";

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Equality whose time depends on the lengths only, not on where the first difference is,
// so a client cannot find a token byte by byte by timing 401s. REQUIRES: !expected.empty().
bool TokenEquals(std::string_view given, std::string_view expected) {
  unsigned diff = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i) {
    diff |= static_cast<unsigned char>(given[i]) ^ static_cast<unsigned char>(expected[i % expected.size()]);
  }
  return diff == 0;
}

std::string HostPort(const std::string& address, int port) {
  bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

// "/a/b" -> {"a", "b"}; "/" -> {""}; "/a/" -> {"a", ""}. REQUIRES: path starts with '/'.
std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> segments;
  path.remove_prefix(1);
  for (;;) {
    size_t slash = path.find('/');
    segments.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) return segments;
    path.remove_prefix(slash + 1);
  }
}

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// The metric series of one route label. The counters by status code are created on first
// use and then read without a lock.
struct RouteProbe {
  std::string name;
  Histogram* duration = nullptr;
  std::array<std::atomic<Counter*>, 500> by_code{};  // [status - 100]
};

struct Segment {
  std::string text;  // the literal, or the parameter's name
  bool param = false;
};

struct CompiledRoute {
  Route route;
  std::vector<Segment> segments;
  RouteProbe* probe = nullptr;
  // GET /metrics of options.metrics: answered on the io thread, never shed, so a scrape
  // still works when the handlers are saturated.
  bool is_metrics = false;

  // Fills `params` (raw, not yet decoded) when the path matches the pattern.
  bool Matches(const std::vector<std::string_view>& path,
               std::vector<std::pair<std::string, std::string_view>>* params) const {
    if (path.size() != segments.size()) return false;
    params->clear();
    for (size_t i = 0; i < path.size(); ++i) {
      if (segments[i].param) {
        if (path[i].empty()) return false;
        params->emplace_back(segments[i].text, path[i]);
      } else if (segments[i].text != path[i]) {
        return false;
      }
    }
    return true;
  }
};

// "/v2/models/{name}/ready" -> segments, or InvalidArgument naming the mistake.
Result<std::vector<Segment>> CompilePattern(const std::string& pattern) {
  if (pattern.empty() || pattern[0] != '/') {
    return Status::InvalidArgument("route pattern '" + pattern + "' does not start with '/'");
  }
  std::vector<Segment> segments;
  std::set<std::string, std::less<>> names;
  for (std::string_view s : SplitPath(pattern)) {
    if (s.find_first_of("{}") == std::string_view::npos) {
      segments.push_back({std::string(s), false});
      continue;
    }
    std::string_view name = s.size() >= 2 ? s.substr(1, s.size() - 2) : std::string_view();
    const bool valid = s.size() > 2 && s.front() == '{' && s.back() == '}' &&
                       std::all_of(name.begin(), name.end(), [](char c) {
                         return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
                       });
    if (!valid) {
      return Status::InvalidArgument("route pattern '" + pattern + "': segment '" + std::string(s) +
                                     "' is not a parameter of the form {name} (letters, digits, _)");
    }
    if (!names.insert(std::string(name)).second) {
      return Status::InvalidArgument("route pattern '" + pattern + "': parameter {" + std::string(name) +
                                     "} appears twice");
    }
    segments.push_back({std::string(name), true});
  }
  return segments;
}

// The request as a handler sees it, built from Beast's.
HttpRequest ToHttpRequest(http::request<http::string_body>&& req, Clock::time_point deadline) {
  HttpRequest r;
  r.method = std::string(req.method_string());
  std::string_view target(req.target().data(), req.target().size());
  size_t q = target.find('?');
  r.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) r.query = std::string(target.substr(q + 1));
  for (const auto& field : req) {
    r.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  r.body = std::move(req.body());
  r.deadline = deadline;
  return r;
}

class Session;

// Everything the sessions share: options, routes, metrics, the admission count and the
// drain bookkeeping. Lives until the runtime (and with it every session) is gone.
class Server {
 public:
  HttpServerOptions options;
  std::vector<CompiledRoute> routes;
  std::map<std::string, std::unique_ptr<RouteProbe>, std::less<>> probes;
  RouteProbe* unmatched_probe = nullptr;
  RouteProbe* invalid_probe = nullptr;
  Gauge* in_flight_gauge = nullptr;
  Counter* shed_counter = nullptr;
  int port = 0;

  std::atomic<bool> draining{false};

  struct Runtime {
    asio::io_context ioc;
    tcp::acceptor acceptor{asio::make_strand(ioc)};
    asio::steady_timer retry{acceptor.get_executor()};
  };
  std::unique_ptr<Runtime> runtime;
  std::unique_ptr<asio::thread_pool> pool;
  std::vector<std::thread> io_threads;

  RouteProbe* ProbeFor(std::string_view name) {
    auto it = probes.find(name);
    if (it != probes.end()) return it->second.get();
    auto probe = std::make_unique<RouteProbe>();
    probe->name = std::string(name);
    if (options.metrics != nullptr) {
      probe->duration = &options.metrics->AddHistogram(
          "vigil_http_request_duration_seconds",
          "Time from the first byte of an HTTP request to its response being ready.",
          {{"route", probe->name}}, kLatencyBucketsSeconds);
    }
    RouteProbe* raw = probe.get();
    probes.emplace(std::string(name), std::move(probe));
    return raw;
  }

  void Record(RouteProbe* probe, int status, Clock::duration elapsed) {
    if (options.metrics == nullptr) return;
    probe->duration->ObserveDuration(elapsed);
    std::atomic<Counter*>& slot = probe->by_code[static_cast<size_t>(status - 100)];
    Counter* counter = slot.load(std::memory_order_acquire);
    if (counter == nullptr) {  // two threads may both get here: the registry returns one series
      counter = &options.metrics->AddCounter("vigil_http_requests_total",
                                             "HTTP responses by route and status code.",
                                             {{"route", probe->name}, {"code", std::to_string(status)}});
      slot.store(counter, std::memory_order_release);
    }
    counter->Increment();
  }

  // Admission: true and one more in flight, or false when max_in_flight are already.
  bool TryAdmit() {
    if (in_flight_.fetch_add(1, std::memory_order_acq_rel) >= options.max_in_flight) {
      in_flight_.fetch_sub(1, std::memory_order_acq_rel);
      if (shed_counter != nullptr) shed_counter->Increment();
      return false;
    }
    if (in_flight_gauge != nullptr) in_flight_gauge->Add(1);
    return true;
  }
  void Release() {
    in_flight_.fetch_sub(1, std::memory_order_acq_rel);
    if (in_flight_gauge != nullptr) in_flight_gauge->Add(-1);
  }

  // Exchanges: requests whose first byte has arrived and whose response is not yet
  // written (or given up). Shutdown waits for them to reach zero.
  void BeginExchange() {
    std::lock_guard lock(drain_mu_);
    ++exchanges_;
  }
  void EndExchange() {
    std::lock_guard lock(drain_mu_);
    if (--exchanges_ == 0) drain_cv_.notify_all();
  }
  bool WaitForExchanges(std::chrono::milliseconds timeout) {
    std::unique_lock lock(drain_mu_);
    return drain_cv_.wait_for(lock, timeout, [&] { return exchanges_ == 0; });
  }

  void Register(const std::shared_ptr<Session>& session);
  void Unregister(Session* session) {
    std::lock_guard lock(sessions_mu_);
    sessions_.erase(session);
  }
  std::vector<std::shared_ptr<Session>> LiveSessions() {
    std::vector<std::shared_ptr<Session>> live;
    std::lock_guard lock(sessions_mu_);
    for (auto& [raw, weak] : sessions_) {
      if (auto s = weak.lock()) live.push_back(std::move(s));
    }
    return live;
  }

  // nullopt when `authorization` (the header's value) grants `access`, else the 401/403.
  std::optional<HttpResponse> Authorize(Access access, std::string_view authorization) const {
    const std::string& api = options.api_token;
    const std::string& admin = options.admin_token;
    if (access == Access::kPublic) return std::nullopt;
    // Which tokens open this route; none required when both are "".
    const bool admin_only = access == Access::kAdmin && !admin.empty();
    const bool required = admin_only || !api.empty();
    if (!required) return std::nullopt;
    const char* env = admin_only ? "VIGIL_ADMIN_TOKEN" : "VIGIL_API_TOKEN";
    constexpr std::string_view kScheme = "Bearer ";
    while (!authorization.empty() && authorization.back() == ' ') authorization.remove_suffix(1);
    if (authorization.size() <= kScheme.size() ||
        !IEquals(authorization.substr(0, kScheme.size()), kScheme)) {
      HttpResponse r = HttpResponse::Error(
          401,
          std::string("missing bearer token: send 'Authorization: Bearer <token>' with the token of ") + env);
      r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"vigil\"");
      return r;
    }
    std::string_view token = authorization.substr(kScheme.size());
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    // Both comparisons always run: the time does not tell which token was close.
    const bool is_api = !api.empty() && TokenEquals(token, api);
    const bool is_admin = !admin.empty() && TokenEquals(token, admin);
    if (is_admin || (is_api && !admin_only)) return std::nullopt;
    if (is_api) {
      return HttpResponse::Error(403,
                                 "forbidden: this endpoint needs the admin token (VIGIL_ADMIN_TOKEN), "
                                 "not the API token");
    }
    HttpResponse r =
        HttpResponse::Error(401, std::string("invalid bearer token: it is not the token of ") + env);
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"vigil\", error=\"invalid_token\"");
    return r;
  }

  void Accept();
  void RunIo();
  void Shutdown(std::chrono::milliseconds drain_timeout);

 private:
  std::atomic<int> in_flight_{0};
  std::mutex drain_mu_;
  std::condition_variable drain_cv_;
  int exchanges_ = 0;
  std::mutex sessions_mu_;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
  std::mutex shutdown_mu_;
};

// One client connection, driven by completion handlers on its own strand: wait for a
// request, read it, route and admit it, hand it to the handler pool, write the response,
// and again while the connection is kept alive. Every pending handler holds a shared_ptr
// to it; when the last is gone (closed, timed out, runtime destroyed) the socket closes.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Server& server)
      : stream_(std::move(socket)), server_(server), timer_(stream_.get_executor()) {}
  ~Session() { server_.Unregister(this); }

  void Start() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::WaitForRequest, shared_from_this()));
  }

  // Called by Shutdown: a connection waiting for a request is closed now; one reading or
  // handling a request closes after its response.
  void Drain() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      self->close_after_ = true;
      if (self->state_ == State::kIdle || self->state_ == State::kClosing) self->stream_.close();
    });
  }

 private:
  enum class State { kIdle, kReading, kHandling, kWriting, kClosing };

  // Ends an exchange when destroyed, whatever path the session takes.
  struct ExchangeToken {
    explicit ExchangeToken(Server& s) : server(s) { server.BeginExchange(); }
    ~ExchangeToken() { server.EndExchange(); }
    ExchangeToken(const ExchangeToken&) = delete;
    ExchangeToken& operator=(const ExchangeToken&) = delete;
    Server& server;
  };

  // Keeps one admission until destroyed (after the handler ran, or unrun when the pool
  // is stopped).
  struct Admission {
    explicit Admission(Server& s) : server(s) {}
    ~Admission() { server.Release(); }
    Admission(const Admission&) = delete;
    Admission& operator=(const Admission&) = delete;
    Server& server;
  };

  void WaitForRequest() {
    state_ = State::kIdle;
    if (close_after_ || server_.draining.load()) return stream_.close();
    if (buffer_.size() > 0) return ReadHeader();  // a pipelined request is already here
    stream_.expires_after(server_.options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kFirstRead),
                            beast::bind_front_handler(&Session::OnFirstBytes, shared_from_this()));
  }

  void OnFirstBytes(beast::error_code ec, std::size_t n) {
    if (ec) return;  // the client closed, went idle too long, or Shutdown closed us
    buffer_.commit(n);
    ReadHeader();
  }

  void ReadHeader() {
    state_ = State::kReading;
    exchange_ = std::make_unique<ExchangeToken>(server_);
    arrival_ = Clock::now();
    deadline_ = arrival_ + server_.options.request_timeout;
    parser_.emplace();  // a parser serves one message
    parser_->header_limit(static_cast<std::uint32_t>(server_.options.max_header_bytes));
    parser_->body_limit(static_cast<std::uint64_t>(server_.options.max_body_bytes));
    stream_.expires_at(deadline_);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) return OnReadError(ec);
    const auto& req = parser_->get();
    const beast::string_view expect = req[http::field::expect];
    if (!parser_->is_done() && req.version() >= 11 && beast::iequals(expect, "100-continue")) {
      // The client waits for this before it sends the body.
      return asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                               [self = shared_from_this()](beast::error_code wec, std::size_t) {
                                 if (wec) return;
                                 self->ReadBody();
                               });
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) return OnReadError(ec);
    Dispatch(parser_->release());
  }

  void OnReadError(beast::error_code ec) {
    // The peer went away, was too slow (the stream closed itself at the deadline), or
    // Shutdown closed us: nobody to answer.
    if (ec.category() != http::make_error_code(http::error::bad_target).category() ||
        ec == http::error::partial_message || ec == http::error::end_of_stream) {
      return;
    }
    // A request that does not parse: say why, then close (the stream cannot resync).
    HttpResponse r;
    if (ec == http::error::header_limit) {
      r = HttpResponse::Error(431, "request line and header fields exceed the limit of " +
                                       std::to_string(server_.options.max_header_bytes) + " bytes");
    } else if (ec == http::error::body_limit) {
      r = HttpResponse::Error(413, "request body exceeds the limit of " +
                                       std::to_string(server_.options.max_body_bytes) + " bytes");
    } else {
      r = HttpResponse::Error(400, "malformed HTTP request: " + ec.message());
    }
    version_ = 11;
    head_ = false;
    Finish(server_.invalid_probe, std::move(r), /*close=*/true);
  }

  void Dispatch(http::request<http::string_body> req) {
    state_ = State::kHandling;
    version_ = req.version();
    keep_alive_ = req.keep_alive();
    head_ = req.method() == http::verb::head;
    HttpRequest r = ToHttpRequest(std::move(req), deadline_);

    if (server_.draining.load()) {
      HttpResponse busy = HttpResponse::Error(503, "shutting down: retry on another instance");
      busy.headers.emplace_back("Retry-After", "1");
      return Finish(server_.invalid_probe, std::move(busy), /*close=*/true);
    }
    if (r.path.empty() || r.path[0] != '/') {
      return Finish(
          server_.invalid_probe,
          HttpResponse::Error(400, "request target '" + r.path + "' is not a path starting with '/'"),
          /*close=*/false);
    }

    // Route: the first route whose pattern and method match.
    const std::vector<std::string_view> path = SplitPath(r.path);
    std::vector<std::pair<std::string, std::string_view>> raw_params;
    const CompiledRoute* route = nullptr;
    const CompiledRoute* path_match = nullptr;
    std::vector<std::string> allow;
    for (const CompiledRoute& candidate : server_.routes) {
      if (!candidate.Matches(path, &raw_params)) continue;
      if (path_match == nullptr) path_match = &candidate;
      const std::string& m = candidate.route.method;
      if (m == r.method || (head_ && m == "GET")) {
        route = &candidate;
        break;
      }
      if (std::find(allow.begin(), allow.end(), m) == allow.end()) allow.push_back(m);
      if (m == "GET" && std::find(allow.begin(), allow.end(), "HEAD") == allow.end()) allow.push_back("HEAD");
    }
    if (path_match == nullptr) {
      return Finish(server_.unmatched_probe,
                    HttpResponse::Error(404, "not found: no route for path " + r.path),
                    /*close=*/false);
    }
    if (route == nullptr) {
      std::string methods;
      for (const std::string& m : allow) methods += (methods.empty() ? "" : ", ") + m;
      HttpResponse r405 = HttpResponse::Error(
          405, "method " + r.method + " is not allowed on " + r.path + ": use " + methods);
      r405.headers.emplace_back("Allow", methods);
      return Finish(path_match->probe, std::move(r405), /*close=*/false);
    }
    RouteProbe* probe = route->probe;  // raw_params are route's: the loop stopped at it
    for (const auto& [name, value] : raw_params) {
      std::optional<std::string> decoded = PercentDecodePath(value);
      if (!decoded) {
        return Finish(probe,
                      HttpResponse::Error(400, "path segment '" + std::string(value) + "' (parameter {" +
                                                   name + "}) has a '%' not followed by two hex digits"),
                      /*close=*/false);
      }
      r.params.emplace(name, std::move(*decoded));
    }

    if (auto denied = server_.Authorize(route->route.access, r.header("Authorization"))) {
      return Finish(probe, std::move(*denied), /*close=*/false);
    }
    if (route->is_metrics) {
      HttpResponse m;
      m.content_type = std::string(kMetricsContentType);
      m.body = server_.options.metrics->RenderText();
      return Finish(probe, std::move(m), /*close=*/false);
    }
    if (!server_.TryAdmit()) {
      HttpResponse shed =
          HttpResponse::Error(503, "overloaded: " + std::to_string(server_.options.max_in_flight) +
                                       " requests in flight; retry later");
      shed.headers.emplace_back("Retry-After", "1");
      return Finish(probe, std::move(shed), /*close=*/false);
    }

    // The handler runs on the pool; the timer answers 504 if it is not done by the deadline.
    const uint64_t seq = ++seq_;
    answered_ = false;
    probe_ = probe;
    timer_.expires_at(deadline_);
    timer_.async_wait([self = shared_from_this(), seq](beast::error_code ec) { self->OnDeadline(ec, seq); });
    auto request = std::make_shared<HttpRequest>(std::move(r));
    auto admission = std::make_shared<Admission>(server_);
    asio::post(*server_.pool, [self = shared_from_this(), route, request, admission, seq]() mutable {
      if (Clock::now() >= request->deadline) return;  // waited too long in the queue: the timer answers
      HttpResponse response = Run(*route, *request);
      admission.reset();
      asio::post(self->stream_.get_executor(), [self, seq, response = std::move(response)]() mutable {
        self->OnHandled(seq, std::move(response));
      });
    });
  }

  // Runs the handler; no exception escapes. Checks what Beast would choke on.
  static HttpResponse Run(const CompiledRoute& route, const HttpRequest& request) {
    try {
      HttpResponse r = route.route.handler(request);
      if (r.status < 200 || r.status > 599) {
        std::fprintf(stderr, "vigil: http: route %s returned status %d\n", route.route.name.c_str(),
                     r.status);
        return HttpResponse::Error(500, "internal error in route " + route.route.name + ": invalid status");
      }
      bool bad_header = HasLineBreak(r.content_type);
      for (const auto& [name, value] : r.headers)
        bad_header |= name.empty() || HasLineBreak(name) || HasLineBreak(value);
      if (bad_header) {
        std::fprintf(stderr, "vigil: http: route %s returned a header with a line break\n",
                     route.route.name.c_str());
        return HttpResponse::Error(500, "internal error in route " + route.route.name + ": invalid header");
      }
      return r;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "vigil: http: route %s: handler threw: %s\n", route.route.name.c_str(), e.what());
    } catch (...) {
      std::fprintf(stderr, "vigil: http: route %s: handler threw\n", route.route.name.c_str());
    }
    return HttpResponse::Error(500, "internal error in route " + route.route.name);
  }

  void OnHandled(uint64_t seq, HttpResponse response) {
    if (seq != seq_ || answered_) return;  // too late: the client got a 504
    answered_ = true;
    timer_.cancel();
    Finish(probe_, std::move(response), /*close=*/false);
  }

  void OnDeadline(beast::error_code ec, uint64_t seq) {
    if (ec || seq != seq_ || answered_) return;
    answered_ = true;
    Finish(probe_,
           HttpResponse::Error(504, "deadline exceeded: no response within the request timeout of " +
                                        std::to_string(server_.options.request_timeout.count()) + " ms"),
           /*close=*/false);
  }

  void Finish(RouteProbe* probe, HttpResponse response, bool close) {
    state_ = State::kWriting;
    server_.Record(probe, response.status, Clock::now() - arrival_);
    res_ = {};
    res_.version(version_);
    res_.result(static_cast<unsigned>(response.status));
    res_.set(http::field::server, "vigil");
    for (const auto& [name, value] : response.headers) {
      // The server frames the message itself: a handler's framing fields would break it.
      if (IEquals(name, "Content-Length") || IEquals(name, "Transfer-Encoding") ||
          IEquals(name, "Connection") || IEquals(name, "Server") || IEquals(name, "Content-Type")) {
        continue;
      }
      res_.insert(name, value);
    }
    const bool no_body = response.status == 204 || response.status == 304;
    if (!no_body) {
      res_.set(http::field::content_type, response.content_type);
      // A HEAD response announces the length of the body it does not carry.
      res_.content_length(response.body.size());
      if (!head_) res_.body() = std::move(response.body);
    }
    res_.keep_alive(keep_alive_ && !close && !close_after_ && !server_.draining.load());
    stream_.expires_after(server_.options.request_timeout);
    http::async_write(stream_, res_, beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t /*bytes*/) {
    exchange_.reset();
    if (ec) return;
    if (!res_.keep_alive()) return Close();
    WaitForRequest();  // pipelined requests already in buffer_ are parsed from there
  }

  // Half-closes, then reads and drops until the client closes too (or kLingerTimeout).
  void Close() {
    state_ = State::kClosing;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return;
    stream_.expires_after(kLingerTimeout);
    Linger();
  }

  void Linger() {
    stream_.async_read_some(asio::buffer(linger_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (!ec) self->Linger();
                            });
  }

  beast::tcp_stream stream_;
  Server& server_;
  asio::steady_timer timer_;  // the deadline of the request being handled
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::unique_ptr<ExchangeToken> exchange_;
  State state_ = State::kIdle;
  bool close_after_ = false;  // Shutdown: no more requests on this connection
  // The request being handled.
  uint64_t seq_ = 0;
  bool answered_ = true;
  RouteProbe* probe_ = nullptr;
  unsigned version_ = 11;
  bool keep_alive_ = true;
  bool head_ = false;
  Clock::time_point arrival_;
  Clock::time_point deadline_;
  std::array<char, 1024> linger_{};
};

void Server::Register(const std::shared_ptr<Session>& session) {
  std::lock_guard lock(sessions_mu_);
  sessions_.emplace(session.get(), session);
}

void Server::Accept() {
  runtime->acceptor.async_accept(
      asio::make_strand(runtime->ioc), [this](beast::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !runtime->acceptor.is_open()) return;
        if (ec) {  // e.g. EMFILE: try again shortly, the rest of the server keeps working
          runtime->retry.expires_after(kAcceptRetry);
          runtime->retry.async_wait([this](beast::error_code wait_ec) {
            if (!wait_ec) Accept();
          });
          return;
        }
        auto session = std::make_shared<Session>(std::move(socket), *this);
        Register(session);
        session->Start();
        Accept();
      });
}

void Server::RunIo() {
  // A handler that throws (bad_alloc) ends that connection, not the server: run() resumes.
  for (;;) {
    try {
      runtime->ioc.run();
      return;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "vigil: http server: %s\n", e.what());
    } catch (...) {
      std::fprintf(stderr, "vigil: http server: unknown exception\n");
    }
  }
}

void Server::Shutdown(std::chrono::milliseconds drain_timeout) {
  std::lock_guard lock(shutdown_mu_);
  if (runtime == nullptr) return;
  draining.store(true);
  // 1. No new connections: close the listener on its strand (and wait for that).
  auto close_listener = [this] {
    beast::error_code ec;
    runtime->acceptor.close(ec);
    runtime->retry.cancel();
  };
  if (io_threads.empty()) {  // Start failed before the threads ran
    close_listener();
  } else {
    std::promise<void> closed;
    asio::post(runtime->acceptor.get_executor(), [&] {
      close_listener();
      closed.set_value();
    });
    closed.get_future().wait();
  }
  // 2. Idle connections close now, the others after their response.
  for (const std::shared_ptr<Session>& session : LiveSessions()) session->Drain();
  // 3. Wait for the responses of requests already started.
  if (!WaitForExchanges(drain_timeout)) {
    std::fprintf(stderr, "vigil: http server: requests still in flight after the drain timeout of %lld ms\n",
                 static_cast<long long>(drain_timeout.count()));
  }
  // 4. Stop: the io threads, then the handlers (queued ones are dropped, running ones
  // finish), then every connection with the io_context.
  runtime->ioc.stop();
  for (std::thread& t : io_threads) t.join();
  io_threads.clear();
  if (pool != nullptr) {
    pool->stop();
    pool->join();
    pool.reset();
  }
  runtime.reset();
}

}  // namespace

std::string HttpRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (IEquals(n, name)) return v;
  }
  return "";
}

HttpResponse HttpResponse::Json(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::Error(int status, std::string_view message) {
  nlohmann::json j = {{"error", std::string(message)}};
  return Json(status, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

struct HttpServer::Impl {
  Server server;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() { Shutdown(); }

int HttpServer::port() const { return impl_->server.port; }

void HttpServer::Shutdown(std::chrono::milliseconds drain_timeout) { impl_->server.Shutdown(drain_timeout); }

Result<std::unique_ptr<HttpServer>> HttpServer::Start(std::vector<Route> routes,
                                                      const HttpServerOptions& options) {
  const std::string where = "http server on " + HostPort(options.address, options.port);
  auto invalid = [&](const std::string& what) { return Status::InvalidArgument(where + ": " + what); };
  if (options.port < 0 || options.port > 65535) {
    return invalid("port " + std::to_string(options.port) + " is not in 0..65535");
  }
  beast::error_code ec;
  const asio::ip::address address = asio::ip::make_address(options.address, ec);
  if (ec) {
    return invalid("address '" + options.address +
                   "' is not an IPv4 or IPv6 address (use e.g. 127.0.0.1 or 0.0.0.0)");
  }
  if (options.io_threads < 1) return invalid("io_threads must be at least 1");
  if (options.handler_threads < 0) return invalid("handler_threads must be 0 (one per core) or more");
  if (options.max_in_flight < 1) return invalid("max_in_flight must be at least 1");
  if (options.max_header_bytes < 1 || options.max_header_bytes > std::numeric_limits<std::uint32_t>::max()) {
    return invalid("max_header_bytes must be in 1..4294967295");
  }
  if (options.request_timeout.count() <= 0 || options.idle_timeout.count() <= 0) {
    return invalid("request_timeout and idle_timeout must be positive");
  }

  auto impl = std::make_unique<Impl>();
  Server& server = impl->server;
  server.options = options;
  if (options.metrics != nullptr) {
    server.in_flight_gauge = &options.metrics->AddGauge(
        "vigil_http_in_flight_requests", "HTTP requests admitted and not yet handled (queued or running).");
    server.shed_counter =
        &options.metrics->AddCounter("vigil_http_shed_requests_total",
                                     "HTTP requests refused with 503 because max_in_flight were in flight.");
  }
  server.unmatched_probe = server.ProbeFor(kUnmatchedRoute);
  server.invalid_probe = server.ProbeFor(kInvalidRoute);

  std::map<std::string, std::string> seen;  // method + normalized pattern -> pattern
  for (Route& route : routes) {
    const std::string label = route.method + " " + route.pattern;
    if (route.method.empty() ||
        !std::all_of(route.method.begin(), route.method.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
      return invalid("route '" + label + "': the method must be an HTTP method in upper case");
    }
    if (!route.handler) return invalid("route '" + label + "' has no handler");
    if (options.metrics != nullptr && route.pattern == "/metrics" &&
        (route.method == "GET" || route.method == "HEAD")) {
      return invalid("route '" + label +
                     "' collides with the /metrics the server serves from options.metrics");
    }
    Result<std::vector<Segment>> segments = CompilePattern(route.pattern);
    if (!segments.ok()) return invalid(segments.status().message());
    std::string key = route.method + " ";
    for (const Segment& s : *segments) key += "/" + (s.param ? std::string("{}") : s.text);
    auto [it, inserted] = seen.emplace(key, route.pattern);
    if (!inserted) {
      return invalid("route '" + label + "' matches the same requests as '" + route.method + " " +
                     it->second + "' given before it");
    }
    CompiledRoute compiled;
    compiled.segments = std::move(segments).value();
    compiled.probe = server.ProbeFor(route.name);
    compiled.route = std::move(route);
    server.routes.push_back(std::move(compiled));
  }
  if (options.metrics != nullptr) {
    CompiledRoute metrics;
    metrics.route = {"GET", "/metrics", Access::kPublic, std::string(kMetricsRoute), nullptr};
    metrics.segments = {{"metrics", false}};
    metrics.probe = server.ProbeFor(kMetricsRoute);
    metrics.is_metrics = true;
    server.routes.push_back(std::move(metrics));
  }

  try {
    server.runtime = std::make_unique<Server::Runtime>();
    const tcp::endpoint endpoint(address, static_cast<unsigned short>(options.port));
    tcp::acceptor& acceptor = server.runtime->acceptor;
    auto fail = [&](const char* what) {
      return Status::IOError("http server: cannot " + std::string(what) + " " +
                             HostPort(options.address, options.port) + ": " + ec.message());
    };
    acceptor.open(endpoint.protocol(), ec);
    if (ec) return fail("open a socket for");
    // Lets a restarted server take its port back while old connections sit in TIME_WAIT;
    // on Linux it does not allow two listeners on one port.
    acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (ec) return fail("set options on");
    acceptor.bind(endpoint, ec);
    if (ec) return fail("listen on");
    acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return fail("listen on");
    const tcp::endpoint local = acceptor.local_endpoint(ec);
    if (ec) return fail("read the port of");
    server.port = local.port();

    int handler_threads = options.handler_threads;
    if (handler_threads == 0)
      handler_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    server.pool = std::make_unique<asio::thread_pool>(static_cast<std::size_t>(handler_threads));
    server.Accept();
    for (int i = 0; i < options.io_threads; ++i) {
      server.io_threads.emplace_back([&server] { server.RunIo(); });
    }
    return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
  } catch (const std::exception& e) {  // no exception leaves the part (e.g. no thread)
    if (server.runtime != nullptr) server.Shutdown(std::chrono::milliseconds(0));
    return Status::IOError(where + ": " + e.what());
  }
}

}  // namespace vigil
