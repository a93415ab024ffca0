// Open-loop load at a fixed request rate against an HTTP endpoint (what wrk2 does; Debian
// ships only wrk, which is closed-loop): `connections` keep-alive connections share the
// rate; each request has a scheduled send time, and its latency is measured from that
// time, not from when it was actually sent, so a stalled server is not hidden
// (coordinated omission).
//
//   vigil_score_load --port P --path /v1/score --body FILE --rate 2000 --seconds 10
//                    [--connections 8] [--token T]
// prints: rate=2000/s sent=20000 ok=20000 errors=0 achieved=1999.8/s p50=0.41ms p90=...
//         p99=1.93ms max=7.2ms
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads one response on fd (Content-Length framing); returns its status, 0 on failure.
int ReadResponse(int fd, std::string* buf) {
  for (;;) {
    size_t head = buf->find("\r\n\r\n");
    if (head != std::string::npos) {
      size_t cl = 0;
      size_t at = buf->find("Content-Length:");
      if (at == std::string::npos) at = buf->find("content-length:");
      if (at != std::string::npos && at < head) cl = std::strtoull(buf->c_str() + at + 15, nullptr, 10);
      if (buf->size() >= head + 4 + cl) {
        int status = std::atoi(buf->c_str() + 9);
        buf->erase(0, head + 4 + cl);
        return status;
      }
    }
    char tmp[16384];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return 0;
    buf->append(tmp, static_cast<size_t>(n));
  }
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0, connections = 8;
  double rate = 1000, seconds = 10;
  std::string path = "/v1/score", body_file, token;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--port") port = std::atoi(v.c_str());
    else if (a == "--path") path = v;
    else if (a == "--body") body_file = v;
    else if (a == "--rate") rate = std::atof(v.c_str());
    else if (a == "--seconds") seconds = std::atof(v.c_str());
    else if (a == "--connections") connections = std::atoi(v.c_str());
    else if (a == "--token") token = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (port <= 0 || rate <= 0 || connections <= 0) {
    std::fprintf(stderr, "usage: %s --port P --body FILE --rate R [--seconds S] [--connections C] [--path /v1/score]\n",
                 argv[0]);
    return 2;
  }
  std::string body;
  if (!body_file.empty()) {
    std::ifstream f(body_file);
    body.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  std::string request = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n";
  if (!token.empty()) request += "Authorization: Bearer " + token + "\r\n";
  request += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;

  const auto start = Clock::now() + std::chrono::milliseconds(100);
  const int64_t total = static_cast<int64_t>(rate * seconds);
  const double interval_ns = 1e9 / rate;
  std::mutex mu;
  std::vector<double> latencies_ms;
  std::atomic<int64_t> ok{0}, errors{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      int fd = Connect(port);
      std::string buf;
      std::vector<double> local;
      // Connection c sends requests c, c + connections, c + 2 * connections, ...
      for (int64_t i = c; i < total; i += connections) {
        const auto scheduled = start + std::chrono::nanoseconds(static_cast<int64_t>(i * interval_ns));
        std::this_thread::sleep_until(scheduled);
        if (fd < 0) fd = Connect(port);
        int status = 0;
        if (fd >= 0 && ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
          status = ReadResponse(fd, &buf);
        }
        local.push_back(std::chrono::duration<double, std::milli>(Clock::now() - scheduled).count());
        if (status == 200) {
          ++ok;
        } else {
          ++errors;
          if (fd >= 0) ::close(fd);
          fd = -1;
          buf.clear();
        }
      }
      if (fd >= 0) ::close(fd);
      std::lock_guard l(mu);
      latencies_ms.insert(latencies_ms.end(), local.begin(), local.end());
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto pct = [&](double p) {
    if (latencies_ms.empty()) return 0.0;
    return latencies_ms[std::min(latencies_ms.size() - 1, static_cast<size_t>(p * latencies_ms.size()))];
  };
  std::printf("rate=%.0f/s sent=%lld ok=%lld errors=%lld achieved=%.1f/s p50=%.3fms p90=%.3fms p99=%.3fms max=%.3fms\n",
              rate, static_cast<long long>(total), static_cast<long long>(ok.load()),
              static_cast<long long>(errors.load()), static_cast<double>(ok.load()) / elapsed, pct(0.50), pct(0.90),
              pct(0.99), latencies_ms.empty() ? 0.0 : latencies_ms.back());
  return errors.load() == 0 ? 0 : 1;
}
