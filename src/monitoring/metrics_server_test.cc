#include "monitoring/metrics_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/metrics.h"
#include "common/test_util.h"

namespace vigil {
namespace metrics_server_test {

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "<none>" : it->second;
  }
};

// A blocking HTTP/1.1 client on one TCP connection to 127.0.0.1, written against the
// protocol rather than with Beast, so the server is checked by independent code. Every
// read gives up after 10 s (a hung server fails the test instead of hanging it).
class Connection {
 public:
  explicit Connection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};
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

  // Reads one response. `head`: it answers a HEAD request, so it has no body whatever its
  // Content-Length says. Nothing on a timeout, a close or a response that does not parse.
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
    return ::recv(fd_, &c, 1, 0) == 0;
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

// One request on a new connection.
std::optional<Response> Fetch(int port, const std::string& request, bool head = false) {
  Connection c(port);
  if (!c.connected() || !c.Send(request)) return std::nullopt;
  return c.Read(head);
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    events_ = &registry_.AddCounter("vigil_test_events_total", "Events.", {{"source", "transactions"}});
    events_->Increment(3);
    auto server = MetricsServer::Start(&registry_);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    port_ = server_->port();
    ASSERT_GT(port_, 0);
  }

  MetricsRegistry registry_;
  Counter* events_ = nullptr;
  std::unique_ptr<MetricsServer> server_;
  int port_ = 0;
};

TEST_F(MetricsServerTest, MetricsIsTheRegistryInTextFormat) {
  auto r = Fetch(port_, Get("/metrics"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(r->body, registry_.RenderText());
  EXPECT_EQ(r->body,
            "# HELP vigil_test_events_total Events.\n# TYPE vigil_test_events_total counter\n"
            "vigil_test_events_total{source=\"transactions\"} 3\n");
  EXPECT_EQ(r->Header("content-length"), std::to_string(r->body.size()));
  // A query string does not change the path.
  auto q = Fetch(port_, Get("/metrics?name[]=x"));
  ASSERT_TRUE(q);
  EXPECT_EQ(q->status, 200);
  EXPECT_EQ(q->body, r->body);
}

TEST_F(MetricsServerTest, Healthz) {
  auto r = Fetch(port_, Get("/healthz"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok");
  EXPECT_EQ(r->Header("content-type"), "text/plain; charset=utf-8");
}

TEST_F(MetricsServerTest, UnknownPathIs404) {
  for (const char* target : {"/", "/metricsx", "/metrics/", "/favicon.ico", "*"}) {
    auto r = Fetch(port_, Get(target));
    ASSERT_TRUE(r) << target;
    EXPECT_EQ(r->status, 404) << target;
    EXPECT_NE(r->body.find("/metrics"), std::string::npos) << r->body;
  }
}

TEST_F(MetricsServerTest, OtherMethodsAre405) {
  Connection c(port_);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 405);
  EXPECT_EQ(r->Header("allow"), "GET, HEAD");
  // The connection stays usable after a 405 (its body was read in full).
  for (const char* method : {"DELETE", "PUT", "OPTIONS", "BREW"}) {
    ASSERT_TRUE(c.Send(std::string(method) + " /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    auto m = c.Read();
    ASSERT_TRUE(m) << method;
    EXPECT_EQ(m->status, 405) << method;
  }
  ASSERT_TRUE(c.Send(Get("/healthz")));
  auto ok = c.Read();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST_F(MetricsServerTest, HeadHasTheHeadersOfGetAndNoBody) {
  Connection c(port_);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send("HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto head = c.Read(/*head=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->Header("content-length"), std::to_string(registry_.RenderText().size()));
  EXPECT_EQ(head->Header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  // Had the server sent a body, this response would start inside it.
  ASSERT_TRUE(c.Send(Get("/healthz")));
  auto next = c.Read();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(next->body, "ok");
}

TEST_F(MetricsServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  Connection c(port_);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(Get("/metrics")));
  auto first = c.Read();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  EXPECT_NE(first->Header("connection"), "close");
  events_->Increment(4);
  ASSERT_TRUE(c.Send(Get("/metrics")));
  auto second = c.Read();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 200);
  EXPECT_NE(second->body.find("vigil_test_events_total{source=\"transactions\"} 7\n"), std::string::npos)
      << second->body;
  // Pipelined: three requests in one write, three responses in order.
  ASSERT_TRUE(c.Send(Get("/healthz") + Get("/nope") + Get("/metrics")));
  auto a = c.Read(), b = c.Read(), d = c.Read();
  ASSERT_TRUE(a && b && d);
  EXPECT_EQ(a->status, 200);
  EXPECT_EQ(b->status, 404);
  EXPECT_EQ(d->status, 200);
  EXPECT_EQ(d->body, second->body);
}

TEST_F(MetricsServerTest, ConnectionCloseAndHttp10AreHonoured) {
  Connection c(port_);
  ASSERT_TRUE(c.Send(Get("/healthz", "Connection: close\r\n")));
  auto r = c.Read();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("connection"), "close");
  EXPECT_TRUE(c.ServerClosed());

  Connection old(port_);
  ASSERT_TRUE(old.Send("GET /metrics HTTP/1.0\r\n\r\n"));
  auto r10 = old.Read();
  ASSERT_TRUE(r10);
  EXPECT_EQ(r10->status, 200);
  EXPECT_TRUE(old.ServerClosed());

  Connection kept(port_);
  ASSERT_TRUE(kept.Send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  ASSERT_TRUE(kept.Read());
  ASSERT_TRUE(kept.Send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto again = kept.Read();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->body, "ok");
}

TEST_F(MetricsServerTest, MalformedRequestsGet400AndTheServerLivesOn) {
  using namespace std::string_literals;
  const std::vector<std::string> bad = {
      "GARBAGE\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nNo colon in this header\r\n\r\n",
      "GET /metrics HTTP/x.y\r\n\r\n",
      "GET\t/metrics HTTP/1.1\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
      "POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00\r\n\r\n"s,  // a TLS hello
      "GET /metr\0ics HTTP/1.1\r\n\r\n"s,
  };
  for (const std::string& request : bad) {
    Connection c(port_);
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.Send(request));
    auto r = c.Read();
    ASSERT_TRUE(r) << request;
    EXPECT_EQ(r->status, 400) << request;
    EXPECT_EQ(r->Header("connection"), "close") << request;
    EXPECT_TRUE(c.ServerClosed()) << request;
  }
  // Headers over the limit: 431.
  auto big = Fetch(port_, Get("/metrics", "X-Big: " + std::string(10000, 'a') + "\r\n"));
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 431);
  // A client that sends half a request and hangs up leaves nothing behind.
  {
    Connection c(port_);
    ASSERT_TRUE(c.Send("GET /metrics HTTP/1.1\r\nHos"));
  }
  auto r = Fetch(port_, Get("/metrics"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(MetricsServerTest, ManyClientsAtOnce) {
  constexpr int kClients = 32;
  constexpr int kRequests = 20;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      Connection c(port_);
      for (int k = 0; k < kRequests; ++k) {
        if (!c.Send(Get(k % 2 ? "/metrics" : "/healthz"))) return;
        auto r = c.Read();
        if (r && r->status == 200) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), kClients * kRequests);
}

TEST_F(MetricsServerTest, StopClosesConnectionsAndIsIdempotent) {
  Connection c(port_);
  ASSERT_TRUE(c.Send(Get("/healthz")));
  ASSERT_TRUE(c.Read());
  server_->Stop();
  EXPECT_TRUE(c.ServerClosed());
  EXPECT_FALSE(Connection(port_).connected());
  server_->Stop();
  EXPECT_EQ(server_->port(), port_);
  server_.reset();  // the destructor stops again
}

TEST(MetricsServerStartTest, PortInUseIsAnIOErrorNamingAddressAndPort) {
  MetricsRegistry registry;
  auto first = MetricsServer::Start(&registry);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const int port = (*first)->port();
  auto second = MetricsServer::Start(&registry, {.address = "127.0.0.1", .port = port});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kIOError);
  EXPECT_NE(second.status().message().find("127.0.0.1:" + std::to_string(port)), std::string::npos)
      << second.status().ToString();
  EXPECT_NE(second.status().message().find("in use"), std::string::npos) << second.status().ToString();
  // The first one is unharmed.
  auto r = Fetch(port, Get("/healthz"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST(MetricsServerStartTest, RejectsBadAddressAndPort) {
  MetricsRegistry registry;
  auto host = MetricsServer::Start(&registry, {.address = "localhost"});
  EXPECT_TRUE(host.status().IsInvalidArgument()) << host.status().ToString();
  auto port = MetricsServer::Start(&registry, {.address = "127.0.0.1", .port = 70000});
  EXPECT_TRUE(port.status().IsInvalidArgument()) << port.status().ToString();
  // 192.0.2.1 (TEST-NET-1) is not an address of this host.
  auto foreign = MetricsServer::Start(&registry, {.address = "192.0.2.1"});
  EXPECT_EQ(foreign.status().code(), Status::Code::kIOError) << foreign.status().ToString();
  EXPECT_NE(foreign.status().message().find("192.0.2.1:0"), std::string::npos) << foreign.status().ToString();
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

// What Prometheus itself says about a scrape: `promtool check metrics` parses the text
// format and lints names, types, help and units.
TEST(MetricsServerPromtoolTest, ScrapePassesPromtoolCheckMetrics) {
  const std::string promtool = FindOnPath("promtool");
  ASSERT_FALSE(promtool.empty())
      << "promtool is not on PATH: run scripts/install-deps (Debian package prometheus)";

  MetricsRegistry registry;
  RegisterProcessMetrics(registry);
  Counter& events = registry.AddCounter("vigil_stream_events_total", "Events read by stream compute.",
                                        {{"source", "transactions"}});
  registry.AddCounter("vigil_stream_events_total", "Events read by stream compute.", {{"source", "logins"}});
  registry
      .AddCounter("vigil_stream_late_events_total", "Events sent to the dead-letter topic as late.",
                  {{"source", "tricky \"quoted\" \\ name\nwith newline"}})
      .Increment(2);
  events.Increment(12345);
  registry.AddGauge("vigil_online_rows", "Rows in the online store.").Set(1e6);
  registry
      .AddGauge("vigil_watermark_lag_seconds", "How far the watermark is behind the wall clock.",
                {{"source", "transactions"}})
      .Set(0.125);
  Histogram& lookup = registry.AddHistogram("vigil_serving_lookup_seconds", "Online lookup latency.",
                                            {{"view", "user_txn"}}, kLatencyBucketsSeconds);
  for (double v : {0.00004, 0.0003, 0.002, 0.002, 0.4, 12.0}) lookup.Observe(v);
  registry
      .AddHistogram("vigil_ingest_batch_rows", "Rows per ingested batch.", {}, ExponentialBuckets(1, 4, 8))
      .Observe(100);
  CallbackMetric lag =
      registry.AddGaugeFunction("vigil_stream_consumer_lag_records", "Records not yet read.",
                                {{"topic", "transactions"}, {"partition", "0"}}, [] { return 42.0; });
  CallbackMetric bytes = registry.AddCounterFunction("vigil_log_appended_bytes_total", "Bytes appended.",
                                                     {{"topic", "transactions"}}, [] { return 1.5e12; });

  auto server = MetricsServer::Start(&registry);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto scrape = Fetch((*server)->port(), Get("/metrics"));
  ASSERT_TRUE(scrape);
  ASSERT_EQ(scrape->status, 200);
  for (const char* family :
       {"process_cpu_seconds_total", "process_resident_memory_bytes", "vigil_serving_lookup_seconds_bucket",
        "vigil_stream_consumer_lag_records", "vigil_log_appended_bytes_total"}) {
    EXPECT_NE(scrape->body.find(family), std::string::npos) << family;
  }

  test::ScratchDir dir("vigil_promtool");
  test::WriteTextFile(dir.Path("scrape.txt"), scrape->body);
  const std::string command = promtool + " check metrics < " + dir.Path("scrape.txt") + " 2>&1";
  FILE* p = ::popen(command.c_str(), "r");
  ASSERT_NE(p, nullptr) << command;
  std::string output;
  char chunk[4096];
  for (size_t n; (n = std::fread(chunk, 1, sizeof chunk, p)) > 0;) output.append(chunk, n);
  const int status = ::pclose(p);
  ASSERT_TRUE(WIFEXITED(status)) << command;
  EXPECT_EQ(WEXITSTATUS(status), 0) << command << "\n" << output << "\nscrape:\n" << scrape->body;
  EXPECT_EQ(output, "") << "promtool complained:\n" << output << "\nscrape:\n" << scrape->body;
}

}  // namespace metrics_server_test
}  // namespace vigil
