#include "serving/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "common/test_util.h"

namespace vigil {
namespace http_server_test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "<none>" : it->second;
  }
  // The "error" of a JSON error body, or "<not an error body>".
  std::string Error() const {
    auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("error") || !j["error"].is_string()) return "<not an error body>";
    return j["error"].get<std::string>();
  }
};

// A blocking HTTP/1.1 client on one TCP connection to 127.0.0.1, written against the
// protocol rather than with Beast, so the server is checked by independent code. Reads
// give up after `timeout` (a hung server fails the test instead of hanging it).
class Connection {
 public:
  explicit Connection(int port, std::chrono::milliseconds timeout = 10s) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Connection() { ::close(fd_); }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool connected() const { return connected_; }

  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // No more requests: the server sees end of stream.
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

  // Reads one response. `head`: it answers a HEAD request (no body whatever its
  // Content-Length says). Nothing on a timeout, a close or a response that does not parse.
  std::optional<Response> Read(bool head = false) {
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    std::istringstream lines(buf_.substr(0, end));
    buf_.erase(0, end + 4);
    Response r;
    std::string line;
    std::getline(lines, line);
    if (line.rfind("HTTP/1.", 0) != 0 || line.size() < 12) return std::nullopt;
    r.status = std::atoi(line.c_str() + 9);
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      size_t colon = line.find(':');
      if (colon == std::string::npos) return std::nullopt;
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      size_t v = line.find_first_not_of(' ', colon + 1);
      r.headers[name] = v == std::string::npos ? "" : line.substr(v);
    }
    if (!r.headers.count("content-length")) return std::nullopt;  // the server always sends it
    size_t length = std::stoul(r.headers["content-length"]);
    if (head) return r;
    while (buf_.size() < length) {
      if (!Fill()) return std::nullopt;
    }
    r.body = buf_.substr(0, length);
    buf_.erase(0, length);
    return r;
  }

  // True when the server has closed the connection and sent nothing more.
  bool ServerClosed() {
    if (!buf_.empty()) return false;
    char c;
    ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }

  // The next `n` bytes (fewer on a close or timeout).
  std::string ReadBytes(size_t n) {
    while (buf_.size() < n && Fill()) {
    }
    std::string out = buf_.substr(0, n);
    buf_.erase(0, out.size());
    return out;
  }

  // Everything the server sends until it closes (or the read timeout).
  std::string ReadAll() {
    while (Fill()) {
    }
    return std::move(buf_);
  }

 private:
  bool Fill() {
    char chunk[4096];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

std::string Get(std::string_view target, std::string_view extra_headers = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + std::string(extra_headers) +
         "\r\n";
}

std::string Post(std::string_view target, std::string_view body, std::string_view extra_headers = "") {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         std::string(extra_headers) + "\r\n" + std::string(body);
}

// One request on a new connection.
std::optional<Response> Fetch(int port, const std::string& request, bool head = false) {
  Connection c(port);
  if (!c.connected() || !c.Send(request)) return std::nullopt;
  return c.Read(head);
}

// A handler that answers with what it was given, as JSON.
HttpResponse Echo(const HttpRequest& r) {
  nlohmann::json params = nlohmann::json::object();
  for (const auto& [k, v] : r.params) params[k] = v;
  nlohmann::json j = {{"method", r.method},         {"path", r.path},
                      {"query", r.query},           {"body", r.body},
                      {"params", params},           {"x_test", r.header("X-TEST")},
                      {"headers", r.headers.size()}};
  HttpResponse res =
      HttpResponse::Json(200, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  res.headers.emplace_back("X-Echo", "yes");
  return res;
}

std::unique_ptr<HttpServer> MustStart(std::vector<Route> routes, const HttpServerOptions& options = {}) {
  auto server = HttpServer::Start(std::move(routes), options);
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  if (!server.ok()) return nullptr;
  return std::move(server).value();
}

nlohmann::json Body(const Response& r) { return nlohmann::json::parse(r.body, nullptr, false); }

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = MustStart({
        {"GET", "/v2/models/{name}/ready", Access::kPublic, "model_ready", Echo},
        {"GET", "/v1/items/{id}", Access::kPublic, "item_get", Echo},
        {"POST", "/v1/items/{id}", Access::kPublic, "item_post", Echo},
        {"POST", "/v1/score", Access::kPublic, "score", Echo},
        {"GET", "/", Access::kPublic, "root", Echo},
        {"GET", "/throws", Access::kPublic, "throws",
         [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); }},
        {"GET", "/bad-status", Access::kPublic, "bad_status",
         [](const HttpRequest&) { return HttpResponse::Json(42, "{}"); }},
        {"GET", "/bad-header", Access::kPublic, "bad_header",
         [](const HttpRequest&) {
           HttpResponse r;
           r.headers.emplace_back("X-Split", "a\r\nSet-Cookie: evil=1");
           return r;
         }},
        {"GET", "/framing", Access::kPublic, "framing",
         [](const HttpRequest&) {
           HttpResponse r = HttpResponse::Json(200, "{}");
           r.headers = {{"Content-Length", "999"}, {"Connection", "close"}, {"X-Kept", "1"}};
           return r;
         }},
    });
    ASSERT_NE(server_, nullptr);
    port_ = server_->port();
    ASSERT_GT(port_, 0);
  }

  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
};

TEST_F(HttpServerTest, RoutesParamsQueryAndHeaders) {
  auto r = Fetch(port_, Get("/v2/models/fraud%2Dv2/ready?verbose=1&x=%20", "x-Test: hello\r\n"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("content-type"), "application/json");
  EXPECT_EQ(r->Header("x-echo"), "yes");
  EXPECT_EQ(r->Header("server"), "vigil");
  nlohmann::json j = Body(*r);
  EXPECT_EQ(j["method"], "GET");
  EXPECT_EQ(j["path"], "/v2/models/fraud%2Dv2/ready");
  EXPECT_EQ(j["query"], "verbose=1&x=%20");
  EXPECT_EQ(j["params"], (nlohmann::json{{"name", "fraud-v2"}}));
  EXPECT_EQ(j["x_test"], "hello");  // header() is case-insensitive
  EXPECT_EQ(j["headers"], 2);

  auto post = Fetch(port_, Post("/v1/items/42", "{\"a\": 1}"));
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 200);
  EXPECT_EQ(Body(*post)["method"], "POST");
  EXPECT_EQ(Body(*post)["body"], "{\"a\": 1}");
  EXPECT_EQ(Body(*post)["params"]["id"], "42");

  // A chunked body is joined.
  auto chunked = Fetch(port_,
                       "POST /v1/score HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
  ASSERT_TRUE(chunked);
  EXPECT_EQ(chunked->status, 200);
  EXPECT_EQ(Body(*chunked)["body"], "hello world");

  auto root = Fetch(port_, Get("/"));
  ASSERT_TRUE(root);
  EXPECT_EQ(root->status, 200);
  EXPECT_EQ(Body(*root)["path"], "/");

  // A bad escape in a parameter is the client's mistake.
  auto bad = Fetch(port_, Get("/v1/items/%zz"));
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->Error().find("{id}"), std::string::npos) << bad->body;
}

TEST_F(HttpServerTest, UnknownPathIs404AndWrongMethodIs405) {
  for (const char* target : {"/nope", "/v1/items", "/v1/items/", "/v1/items/1/x", "/v2/models//ready"}) {
    auto r = Fetch(port_, Get(target));
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 404) << target;
    EXPECT_EQ(r->Header("content-type"), "application/json");
    EXPECT_NE(r->Error().find(target), std::string::npos) << r->body;
  }
  // Not an origin-form target.
  auto star = Fetch(port_, Get("*"));
  ASSERT_TRUE(star);
  EXPECT_EQ(star->status, 400);
  EXPECT_NE(star->Error().find("starting with '/'"), std::string::npos) << star->body;

  Connection c(port_);
  ASSERT_TRUE(c.Send("DELETE /v1/items/7 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->Header("allow"), "GET, HEAD, POST");
  EXPECT_NE(r->Error().find("DELETE"), std::string::npos) << r->body;
  // The connection stays usable after a 405 (its body was read in full).
  ASSERT_TRUE(c.Send(Get("/v1/items/7")));
  auto ok = c.Read();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
  auto post_only = Fetch(port_, Get("/v1/score"));
  ASSERT_TRUE(post_only);
  EXPECT_EQ(post_only->status, 405);
  EXPECT_EQ(post_only->Header("allow"), "POST");
}

TEST_F(HttpServerTest, HeadIsGetWithoutTheBody) {
  Connection c(port_);
  ASSERT_TRUE(c.Send("HEAD /v1/items/9 HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto head = c.Read(/*head=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  auto get = Fetch(port_, "GET /v1/items/9 HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(get);
  // The handler saw method "HEAD", one byte longer than "GET" in the echo.
  EXPECT_EQ(head->Header("content-length"), std::to_string(get->body.size() + 1));
  // Had the server sent a body, this response would start inside it.
  ASSERT_TRUE(c.Send(Get("/v1/items/10")));
  auto next = c.Read();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(Body(*next)["params"]["id"], "10");
}

TEST_F(HttpServerTest, KeepAlivePipeliningAndConnectionClose) {
  Connection c(port_);
  ASSERT_TRUE(c.Send(Get("/v1/items/1") + Post("/v1/score", "abc") + Get("/nope") + Get("/v1/items/2")));
  auto a = c.Read(), b = c.Read(), d = c.Read(), e = c.Read();
  ASSERT_TRUE(a && b && d && e);
  EXPECT_EQ(Body(*a)["params"]["id"], "1");
  EXPECT_EQ(Body(*b)["body"], "abc");
  EXPECT_EQ(d->status, 404);
  EXPECT_EQ(Body(*e)["params"]["id"], "2");
  EXPECT_NE(e->Header("connection"), "close");

  ASSERT_TRUE(c.Send(Get("/v1/items/3", "Connection: close\r\n")));
  auto last = c.Read();
  ASSERT_TRUE(last);
  EXPECT_EQ(last->Header("connection"), "close");
  EXPECT_TRUE(c.ServerClosed());

  Connection old(port_);
  ASSERT_TRUE(old.Send("GET /v1/items/4 HTTP/1.0\r\n\r\n"));
  auto r10 = old.Read();
  ASSERT_TRUE(r10);
  EXPECT_EQ(r10->status, 200);
  EXPECT_TRUE(old.ServerClosed());
}

TEST_F(HttpServerTest, HandlerErrorsAre500AndTheServerLivesOn) {
  for (const char* target : {"/throws", "/bad-status", "/bad-header"}) {
    auto r = Fetch(port_, Get(target));
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 500) << target;
    EXPECT_NE(r->Error().find("internal error"), std::string::npos) << r->body;
    EXPECT_EQ(r->Header("set-cookie"), "<none>");
  }
  // Framing fields from a handler are ignored: the server frames the message.
  Connection c(port_);
  ASSERT_TRUE(c.Send(Get("/framing")));
  auto framed = c.Read();
  ASSERT_TRUE(framed);
  EXPECT_EQ(framed->Header("content-length"), "2");
  EXPECT_EQ(framed->Header("x-kept"), "1");
  ASSERT_TRUE(c.Send(Get("/v1/items/1")));  // still kept alive
  auto ok = c.Read();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(HttpServerTest, MalformedRequestsGet400AndAClose) {
  using namespace std::string_literals;
  const std::vector<std::string> bad = {
      "GARBAGE\r\n\r\n",
      "GET /v1/items/1 HTTP/1.1\r\nNo colon in this header\r\n\r\n",
      "GET /v1/items/1 HTTP/x.y\r\n\r\n",
      "GET\t/v1/items/1 HTTP/1.1\r\n\r\n",
      "GET /v1/items/1 HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
      "GET /v1/items/1 HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
      "GET /v1/items/1 HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "POST /v1/score HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "POST /v1/score HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffffff\r\n",
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00\r\n\r\n"s,  // a TLS hello
      "GET /v1/it\0ems/1 HTTP/1.1\r\n\r\n"s,
  };
  for (const std::string& request : bad) {
    Connection c(port_);
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.Send(request));
    auto r = c.Read();
    ASSERT_TRUE(r) << request;
    EXPECT_EQ(r->status, 400) << request;
    EXPECT_NE(r->Error().find("malformed HTTP request"), std::string::npos) << r->body;
    EXPECT_EQ(r->Header("connection"), "close") << request;
    EXPECT_TRUE(c.ServerClosed()) << request;
  }
  auto r = Fetch(port_, Get("/v1/items/1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(HttpServerLimitsTest, BodyOverTheLimitIs413HeadersOverTheLimitAre431) {
  auto server = MustStart({{"POST", "/echo", Access::kPublic, "echo", Echo}},
                          {.max_body_bytes = 1000, .max_header_bytes = 2000});
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  // At the limit: fine.
  auto at = Fetch(port, Post("/echo", std::string(1000, 'b')));
  ASSERT_TRUE(at);
  EXPECT_EQ(at->status, 200);
  // Over it, by Content-Length (refused before the body is read) and by chunks.
  auto over = Fetch(port, Post("/echo", std::string(1001, 'b')));
  ASSERT_TRUE(over);
  EXPECT_EQ(over->status, 413);
  EXPECT_NE(over->Error().find("1000 bytes"), std::string::npos) << over->body;
  EXPECT_EQ(over->Header("connection"), "close");
  std::string chunked = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) chunked += "190\r\n" + std::string(400, 'c') + "\r\n";
  chunked += "0\r\n\r\n";
  auto over_chunked = Fetch(port, chunked);
  ASSERT_TRUE(over_chunked);
  EXPECT_EQ(over_chunked->status, 413);

  auto big = Fetch(port, Post("/echo", "x", "X-Big: " + std::string(2100, 'a') + "\r\n"));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 431);
  EXPECT_NE(big->Error().find("2000 bytes"), std::string::npos) << big->body;
  auto long_url = Fetch(port, Get("/echo?" + std::string(2100, 'q')));
  ASSERT_TRUE(long_url);
  EXPECT_EQ(long_url->status, 431);

  // Expect: 100-continue is answered before the client sends the body.
  Connection c(port);
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  EXPECT_EQ(c.ReadBytes(interim.size()), interim);
  ASSERT_TRUE(c.Send("hello"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(Body(*r)["body"], "hello");
}

struct AuthCase {
  std::string api, admin;     // the server's tokens
  std::string path;           // /public, /score or /admin/reload
  std::string authorization;  // the header's value, "" for none
  int status;
};

TEST(HttpServerAuthTest, Matrix) {
  const std::vector<AuthCase> cases = {
      // No token set: nothing is asked for (a token sent anyway is ignored).
      {"", "", "/public", "", 200},
      {"", "", "/score", "", 200},
      {"", "", "/admin/reload", "", 200},
      {"", "", "/score", "Bearer whatever", 200},
      // API token only: scoring and admin need it.
      {"api-secret", "", "/public", "", 200},
      {"api-secret", "", "/score", "", 401},
      {"api-secret", "", "/score", "Bearer api-secret", 200},
      {"api-secret", "", "/score", "bearer api-secret", 200},  // the scheme is case-insensitive
      {"api-secret", "", "/score", "Bearer api-secreT", 401},
      {"api-secret", "", "/score", "Bearer api-secret-and-more", 401},
      {"api-secret", "", "/score", "Bearer ", 401},
      {"api-secret", "", "/score", "Basic YXBpOnNlY3JldA==", 401},
      {"api-secret", "", "/admin/reload", "", 401},
      {"api-secret", "", "/admin/reload", "Bearer api-secret", 200},
      // Both: admin routes need the admin token; the admin token also opens scoring.
      {"api-secret", "admin-secret", "/public", "Bearer wrong", 200},
      {"api-secret", "admin-secret", "/score", "", 401},
      {"api-secret", "admin-secret", "/score", "Bearer api-secret", 200},
      {"api-secret", "admin-secret", "/score", "Bearer admin-secret", 200},
      {"api-secret", "admin-secret", "/score", "Bearer wrong", 401},
      {"api-secret", "admin-secret", "/admin/reload", "", 401},
      {"api-secret", "admin-secret", "/admin/reload", "Bearer api-secret", 403},
      {"api-secret", "admin-secret", "/admin/reload", "Bearer admin-secret", 200},
      {"api-secret", "admin-secret", "/admin/reload", "Bearer wrong", 401},
      // Admin token only: scoring is open, admin is not.
      {"", "admin-secret", "/score", "", 200},
      {"", "admin-secret", "/admin/reload", "", 401},
      {"", "admin-secret", "/admin/reload", "Bearer api-secret", 401},
      {"", "admin-secret", "/admin/reload", "Bearer admin-secret", 200},
  };
  std::map<std::pair<std::string, std::string>, std::unique_ptr<HttpServer>> servers;
  for (const AuthCase& c : cases) {
    auto& server = servers[{c.api, c.admin}];
    if (server == nullptr) {
      server = MustStart({{"GET", "/public", Access::kPublic, "public", Echo},
                          {"POST", "/score", Access::kApi, "score", Echo},
                          {"POST", "/admin/reload", Access::kAdmin, "reload", Echo}},
                         {.api_token = c.api, .admin_token = c.admin});
      ASSERT_NE(server, nullptr);
    }
    const std::string header = c.authorization.empty() ? "" : "Authorization: " + c.authorization + "\r\n";
    const std::string request = c.path == "/public" ? Get(c.path, header) : Post(c.path, "{}", header);
    const std::string what =
        "api='" + c.api + "' admin='" + c.admin + "' " + c.path + " [" + c.authorization + "]";
    auto r = Fetch(server->port(), request);
    ASSERT_TRUE(r) << what;
    EXPECT_EQ(r->status, c.status) << what << " " << r->body;
    if (r->status == 401) {
      EXPECT_EQ(r->Header("www-authenticate").rfind("Bearer realm=\"vigil\"", 0), 0u) << what;
      EXPECT_NE(r->Error().find("bearer token"), std::string::npos) << r->body;
      EXPECT_EQ(r->body.find("secret"), std::string::npos) << "a token leaked: " << r->body;
    }
    if (r->status == 403) {
      EXPECT_NE(r->Error().find("VIGIL_ADMIN_TOKEN"), std::string::npos) << r->body;
    }
  }
}

TEST(HttpServerTimeoutTest, SlowClientsAreCutAndOthersAreUnaffected) {
  auto server = MustStart({{"POST", "/echo", Access::kPublic, "echo", Echo}}, {.request_timeout = 400ms});
  ASSERT_NE(server, nullptr);
  const int port = server->port();

  // Half a request, then nothing.
  Connection stalled(port);
  const auto start = Clock::now();
  ASSERT_TRUE(stalled.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"));
  // A slowloris: a byte every 50 ms keeps it active, but the deadline counts from its first byte.
  std::atomic<bool> loris_cut{false};
  Clock::duration loris_time{};
  std::thread loris([&] {
    Connection c(port);
    const std::string request = Get("/echo", "X-Slow: " + std::string(100, 'z') + "\r\n");
    const auto t0 = Clock::now();
    for (char ch : request) {
      if (!c.Send(std::string_view(&ch, 1))) break;
      std::this_thread::sleep_for(50ms);
      if (Clock::now() - t0 > 3s) break;
    }
    loris_cut = c.ServerClosed();
    loris_time = Clock::now() - t0;
  });
  // Meanwhile other clients are served at once.
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    auto r = Fetch(port, Post("/echo", "fast"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(Clock::now() - t0, 200ms);
  }
  EXPECT_TRUE(stalled.ServerClosed());
  const auto cut_after = Clock::now() - start;
  EXPECT_GE(cut_after, 350ms);
  EXPECT_LT(cut_after, 2s);
  loris.join();
  EXPECT_TRUE(loris_cut);
  EXPECT_LT(loris_time, 2s);
}

TEST(HttpServerTimeoutTest, IdleConnectionsAreClosed) {
  auto server = MustStart({{"POST", "/echo", Access::kPublic, "echo", Echo}}, {.idle_timeout = 300ms});
  ASSERT_NE(server, nullptr);
  Connection c(server->port());
  ASSERT_TRUE(c.Send(Post("/echo", "x")));
  ASSERT_TRUE(c.Read());
  const auto t0 = Clock::now();
  EXPECT_TRUE(c.ServerClosed());
  EXPECT_GE(Clock::now() - t0, 250ms);
  EXPECT_LT(Clock::now() - t0, 2s);
}

TEST(HttpServerTimeoutTest, AHandlerPastTheDeadlineGives504AtTheDeadline) {
  MetricsRegistry registry;
  std::atomic<bool> saw_deadline{false};
  auto server = MustStart({{"GET", "/slow", Access::kPublic, "slow",
                            [&](const HttpRequest& r) {
                              saw_deadline = r.deadline > Clock::now() && r.deadline < Clock::now() + 400ms;
                              std::this_thread::sleep_for(700ms);
                              return HttpResponse::Json(200, "{}");
                            }},
                           {"GET", "/fast", Access::kPublic, "fast", Echo}},
                          {.request_timeout = 300ms, .metrics = &registry});
  ASSERT_NE(server, nullptr);
  Connection c(server->port());
  const auto t0 = Clock::now();
  ASSERT_TRUE(c.Send(Get("/slow")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 504);
  EXPECT_NE(r->Error().find("300 ms"), std::string::npos) << r->body;
  EXPECT_GE(Clock::now() - t0, 250ms);
  EXPECT_LT(Clock::now() - t0, 650ms);  // not waiting for the handler
  EXPECT_TRUE(saw_deadline);
  // The connection goes on; the late response is dropped, not sent in place of this one.
  ASSERT_TRUE(c.Send(Get("/fast")));
  auto next = c.Read();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(Body(*next)["path"], "/fast");
  std::this_thread::sleep_for(600ms);  // the slow handler returns; nothing more arrives
  ASSERT_TRUE(c.Send(Get("/fast")));
  auto third = c.Read();
  ASSERT_TRUE(third);
  EXPECT_EQ(Body(*third)["path"], "/fast");
  EXPECT_NE(registry.RenderText().find("vigil_http_requests_total{code=\"504\",route=\"slow\"} 1\n"),
            std::string::npos)
      << registry.RenderText();
}

TEST(HttpServerLoadTest, OverMaxInFlightIsShedWith503AndRetryAfter) {
  MetricsRegistry registry;
  std::atomic<int> running{0}, max_running{0};
  auto server = MustStart({{"POST", "/score", Access::kPublic, "score",
                            [&](const HttpRequest&) {
                              int now = ++running;
                              int seen = max_running.load();
                              while (now > seen && !max_running.compare_exchange_weak(seen, now)) {
                              }
                              std::this_thread::sleep_for(200ms);
                              --running;
                              return HttpResponse::Json(200, "{\"score\": 0.5}");
                            }}},
                          {.handler_threads = 4, .max_in_flight = 2, .metrics = &registry});
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  constexpr int kClients = 20;
  std::vector<std::optional<Response>> responses(kClients);
  std::vector<Clock::duration> latency(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      const auto t0 = Clock::now();
      responses[i] = Fetch(port, Post("/score", "{}"));
      latency[i] = Clock::now() - t0;
    });
  }
  for (auto& t : clients) t.join();
  int ok = 0, shed = 0;
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(responses[i]) << i;
    if (responses[i]->status == 200) {
      ++ok;
      EXPECT_EQ(Body(*responses[i])["score"], 0.5);
    } else {
      ASSERT_EQ(responses[i]->status, 503) << responses[i]->body;
      ++shed;
      EXPECT_EQ(responses[i]->Header("retry-after"), "1");
      EXPECT_NE(responses[i]->Error().find("overloaded"), std::string::npos) << responses[i]->body;
      EXPECT_LT(latency[i], 1s);  // shed at once, not queued
    }
  }
  EXPECT_GE(ok, 2);
  EXPECT_GE(shed, 1);
  EXPECT_LE(max_running.load(), 2);
  const std::string text = registry.RenderText();
  EXPECT_NE(text.find("vigil_http_shed_requests_total " + std::to_string(shed) + "\n"), std::string::npos)
      << text;
  EXPECT_NE(
      text.find("vigil_http_requests_total{code=\"503\",route=\"score\"} " + std::to_string(shed) + "\n"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("vigil_http_in_flight_requests 0\n"), std::string::npos) << text;
  // Once the load is gone, requests are admitted again.
  auto after = Fetch(port, Post("/score", "{}"));
  ASSERT_TRUE(after);
  EXPECT_EQ(after->status, 200);
}

TEST(HttpServerShutdownTest, InFlightRequestsFinishNewConnectionsAreRefused) {
  std::atomic<int> started{0};
  auto server = MustStart({{"POST", "/score", Access::kPublic, "score",
                            [&](const HttpRequest&) {
                              ++started;
                              std::this_thread::sleep_for(400ms);
                              return HttpResponse::Json(200, "{\"done\": true}");
                            }},
                           {"GET", "/fast", Access::kPublic, "fast", Echo}},
                          {.handler_threads = 4});
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  // A kept-alive idle connection.
  Connection idle(port);
  ASSERT_TRUE(idle.Send(Get("/fast")));
  ASSERT_TRUE(idle.Read());

  constexpr int kInFlight = 3;
  std::vector<std::optional<Response>> responses(kInFlight);
  std::vector<std::thread> clients;
  for (int i = 0; i < kInFlight; ++i) {
    clients.emplace_back([&, i] { responses[i] = Fetch(port, Post("/score", "{}")); });
  }
  while (started.load() < kInFlight) std::this_thread::sleep_for(5ms);

  const auto t0 = Clock::now();
  std::thread stopper([&] { server->Shutdown(5s); });
  std::this_thread::sleep_for(100ms);  // draining now
  EXPECT_FALSE(Connection(port).connected());
  EXPECT_TRUE(idle.ServerClosed());
  stopper.join();
  const auto took = Clock::now() - t0;
  for (auto& t : clients) t.join();
  for (int i = 0; i < kInFlight; ++i) {
    ASSERT_TRUE(responses[i]) << i;
    EXPECT_EQ(responses[i]->status, 200);
    EXPECT_EQ(responses[i]->Header("connection"), "close");
  }
  EXPECT_LT(took, 3s);
  EXPECT_FALSE(Connection(port).connected());
  server->Shutdown();  // idempotent
  server.reset();      // and again from the destructor
}

TEST(HttpServerShutdownTest, ARequestBeingReadWhenDrainStartsGets503) {
  auto server = MustStart({{"POST", "/echo", Access::kPublic, "echo", Echo}});
  ASSERT_NE(server, nullptr);
  Connection c(server->port());
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhe"));
  std::this_thread::sleep_for(50ms);
  std::thread stopper([&] { server->Shutdown(5s); });
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(c.Send("llo"));
  auto r = c.Read();
  stopper.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->Header("retry-after"), "1");
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_NE(r->Error().find("shutting down"), std::string::npos) << r->body;
}

TEST(HttpServerShutdownTest, DrainTimeoutBoundsTheWaitForResponses) {
  auto server = MustStart({{"GET", "/slow", Access::kPublic, "slow",
                            [&](const HttpRequest&) {
                              std::this_thread::sleep_for(600ms);
                              return HttpResponse::Json(200, "{}");
                            }}},
                          {.request_timeout = 10s});
  ASSERT_NE(server, nullptr);
  Connection c(server->port());
  ASSERT_TRUE(c.Send(Get("/slow")));
  std::this_thread::sleep_for(100ms);
  const auto t0 = Clock::now();
  server->Shutdown(100ms);
  // Returns once the running handler does (it cannot be interrupted), the response unsent.
  EXPECT_LT(Clock::now() - t0, 2s);
  EXPECT_FALSE(c.Read());
}

// The path of an executable named `name` on $PATH, or "".
std::string FindOnPath(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

TEST(HttpServerMetricsTest, CountsByRouteAndCodeAndServesMetrics) {
  MetricsRegistry registry;
  auto server = MustStart({{"POST", "/v1/score", Access::kApi, "score", Echo},
                           {"GET", "/v2/models/{name}", Access::kPublic, "model", Echo}},
                          {.api_token = "t0ken", .metrics = &registry});
  ASSERT_NE(server, nullptr);
  const int port = server->port();
  for (int i = 0; i < 3; ++i) {
    auto r = Fetch(port, Post("/v1/score", "{}", "Authorization: Bearer t0ken\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
  }
  ASSERT_EQ(Fetch(port, Post("/v1/score", "{}"))->status, 401);
  ASSERT_EQ(Fetch(port, Get("/v2/models/fraud"))->status, 200);
  ASSERT_EQ(Fetch(port, Get("/nope"))->status, 404);
  ASSERT_EQ(Fetch(port, "BAD\r\n\r\n")->status, 400);

  const std::string text = registry.RenderText();
  for (const std::string line : {
           "vigil_http_requests_total{code=\"200\",route=\"score\"} 3\n",
           "vigil_http_requests_total{code=\"401\",route=\"score\"} 1\n",
           "vigil_http_requests_total{code=\"200\",route=\"model\"} 1\n",
           "vigil_http_requests_total{code=\"404\",route=\"unmatched\"} 1\n",
           "vigil_http_requests_total{code=\"400\",route=\"invalid\"} 1\n",
           "vigil_http_request_duration_seconds_count{route=\"score\"} 4\n",
           "# TYPE vigil_http_request_duration_seconds histogram\n",
           "vigil_http_in_flight_requests 0\n",
           "vigil_http_shed_requests_total 0\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }

  // GET /metrics is public (even with an API token set) and never shed.
  auto scrape = Fetch(port, Get("/metrics"));
  ASSERT_TRUE(scrape);
  EXPECT_EQ(scrape->status, 200);
  EXPECT_EQ(scrape->Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(scrape->body.find("vigil_http_requests_total{code=\"200\",route=\"score\"} 3\n"),
            std::string::npos);
  EXPECT_EQ(Fetch(port, Post("/metrics", ""))->status, 405);

  const std::string promtool = FindOnPath("promtool");
  if (promtool.empty()) GTEST_SKIP() << "promtool is not on PATH";
  test::ScratchDir dir("vigil_http");
  const std::string file = dir.Path("metrics.txt");
  test::WriteTextFile(file, Fetch(port, Get("/metrics"))->body);
  const std::string out = dir.Path("promtool.out");
  const int rc = std::system((promtool + " check metrics < " + file + " > " + out + " 2>&1").c_str());
  std::ifstream f(out);
  std::stringstream ss;
  ss << f.rdbuf();
  EXPECT_EQ(rc, 0) << ss.str();
  EXPECT_EQ(ss.str(), "") << ss.str();
}

TEST(HttpServerStartTest, RejectsBadRoutesAndOptions) {
  auto start = [](std::vector<Route> routes, HttpServerOptions options = {}) {
    return HttpServer::Start(std::move(routes), options).status();
  };
  const auto h = Echo;
  EXPECT_NE(start({{"GET", "nope", Access::kPublic, "x", h}}).message().find("does not start with '/'"),
            std::string::npos);
  EXPECT_NE(start({{"GET", "/a/{b", Access::kPublic, "x", h}}).message().find("{name}"), std::string::npos);
  EXPECT_NE(start({{"GET", "/a/{}", Access::kPublic, "x", h}}).message().find("{name}"), std::string::npos);
  EXPECT_NE(start({{"GET", "/a/{b}/{b}", Access::kPublic, "x", h}}).message().find("twice"),
            std::string::npos);
  EXPECT_NE(start({{"get", "/a", Access::kPublic, "x", h}}).message().find("upper case"), std::string::npos);
  EXPECT_NE(start({{"GET", "/a", Access::kPublic, "x", nullptr}}).message().find("no handler"),
            std::string::npos);
  EXPECT_NE(start({{"GET", "/a/{x}", Access::kPublic, "x", h}, {"GET", "/a/{y}", Access::kPublic, "y", h}})
                .message()
                .find("matches the same requests"),
            std::string::npos);
  MetricsRegistry registry;
  EXPECT_NE(start({{"GET", "/metrics", Access::kPublic, "x", h}}, {.metrics = &registry})
                .message()
                .find("collides"),
            std::string::npos);
  EXPECT_TRUE(start({}, {.port = 70000}).IsInvalidArgument());
  EXPECT_TRUE(start({}, {.address = "localhost"}).IsInvalidArgument());
  EXPECT_TRUE(start({}, {.io_threads = 0}).IsInvalidArgument());
  EXPECT_TRUE(start({}, {.max_in_flight = 0}).IsInvalidArgument());
  EXPECT_TRUE(start({}, {.request_timeout = 0ms}).IsInvalidArgument());

  auto first = HttpServer::Start({}, {});
  ASSERT_TRUE(first.ok());
  auto second = start({}, {.port = (*first)->port()});
  EXPECT_EQ(second.code(), Status::Code::kIOError);
  EXPECT_NE(second.message().find("127.0.0.1:" + std::to_string((*first)->port())), std::string::npos)
      << second.ToString();
}

// A request made of random or mutated bytes: random method lines, bad headers, bad chunk
// sizes, huge Content-Lengths, truncations, byte flips.
std::string Mutate(std::mt19937& rng) {
  static const std::vector<std::string> seeds = {
      "GET /v1/items/1?q=2 HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n",
      "POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
      "POST /v1/score HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      "HEAD /v2/models/m/ready HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
      "POST /v1/items/7 HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
  };
  static const std::vector<std::string> fragments = {
      "\r\n",
      "\r\n\r\n",
      ":",
      " ",
      "\t",
      "\0",
      "HTTP/1.1",
      "HTTP/9.9",
      "Content-Length: ",
      "Transfer-Encoding: chunked\r\n",
      "99999999999999999999999999",
      "-1",
      "0x10",
      "ffffffffffffffffff\r\n",
      "GET",
      "POST",
      "%",
      "%zz",
      "{",
      "/../",
      "?",
      "\xff\xfe",
      "Expect: 100-continue\r\n",
      "Connection: close\r\n",
      "Content-Length: 18446744073709551616\r\n",
      "Host: \r\n",
      "; ext=1",
      "\n",
  };
  std::uniform_int_distribution<int> pick(0, 99);
  auto rnd = [&](size_t n) {
    return n == 0 ? size_t{0} : std::uniform_int_distribution<size_t>(0, n - 1)(rng);
  };
  if (pick(rng) < 10) {  // pure noise
    std::string s(rnd(300), '\0');
    for (char& c : s) c = static_cast<char>(rnd(256));
    return s;
  }
  std::string s = seeds[rnd(seeds.size())];
  const int edits = 1 + static_cast<int>(rnd(6));
  for (int e = 0; e < edits; ++e) {
    const size_t at = rnd(s.size() + 1);
    switch (rnd(6)) {
      case 0:  // flip a byte
        if (!s.empty()) s[rnd(s.size())] = static_cast<char>(rnd(256));
        break;
      case 1:  // insert a fragment
        s.insert(at, fragments[rnd(fragments.size())]);
        break;
      case 2:  // delete a range
        s.erase(at, rnd(8));
        break;
      case 3:  // duplicate a range
        s.insert(at, s.substr(rnd(s.size() + 1), rnd(40)));
        break;
      case 4:  // truncate
        s.resize(at);
        break;
      case 5: {  // a random method line in front
        std::string method(1 + rnd(10), 'A');
        for (char& c : method) c = static_cast<char>(rnd(2) ? 'A' + rnd(26) : rnd(256));
        s = method + " /" + std::string(rnd(20), 'x') + " HTTP/1." + std::to_string(rnd(3)) + "\r\n" +
            s.substr(std::min(s.size(), s.find("\r\n") == std::string::npos ? s.size() : s.find("\r\n") + 2));
        break;
      }
    }
  }
  return s;
}

TEST_F(HttpServerTest, FuzzedRequestsNeverBreakTheServer) {
  std::mt19937 rng(20240617);
  int responses = 0;
  for (int i = 0; i < 2000; ++i) {
    const std::string request = Mutate(rng);
    Connection c(port_, 5s);
    ASSERT_TRUE(c.connected()) << "iteration " << i;
    c.Send(request);  // the server may close before it has read everything: fine
    c.ShutdownWrite();
    const std::string got = c.ReadAll();
    if (got.empty()) continue;  // e.g. a truncated request: the server just closes
    ++responses;
    ASSERT_EQ(got.rfind("HTTP/1.", 0), 0u) << "iteration " << i << ": " << got;
    const int status = std::atoi(got.c_str() + 9);
    EXPECT_TRUE(status >= 100 && status <= 599) << got;
    const size_t body = got.find("\r\n\r\n");
    ASSERT_NE(body, std::string::npos) << got;
    if (status >= 400 && body + 4 < got.size()) {
      EXPECT_EQ(got.compare(body + 4, 9, "{\"error\":"), 0) << "iteration " << i << ": " << got;
    }
  }
  EXPECT_GT(responses, 1000);
  auto r = Fetch(port_, Get("/v1/items/1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

}  // namespace http_server_test
}  // namespace vigil
