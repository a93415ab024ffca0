#include "monitoring/metrics_server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <exception>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

namespace vigil {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// A connection that sends nothing for this long (between requests, or within one) is
// closed: a stuck or slow client cannot hold a socket forever.
constexpr auto kIdleTimeout = std::chrono::seconds(60);
// After the last response, how long to read and drop what the client still sends so the
// close is a FIN and not a reset that could discard the response (a "lingering close").
constexpr auto kLingerTimeout = std::chrono::seconds(5);
// Scrapes are GETs: anything bigger is not a scraper.
constexpr std::uint32_t kHeaderLimit = 8192;
constexpr std::uint64_t kBodyLimit = 8192;
// An accept that fails (out of file descriptors) is retried after this pause, not in a
// busy loop.
constexpr auto kAcceptRetry = std::chrono::milliseconds(100);

constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";

std::string HostPort(const std::string& address, int port) {
  bool v6 = address.find(':') != std::string::npos;
  return (v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

// One client connection: reads a request, writes its response, and again while the
// connection is kept alive. Every handler holds a shared_ptr to it; when the last
// handler is gone (closed, timed out, or the io_context destroyed) the socket closes.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const MetricsRegistry* registry)
      : stream_(std::move(socket)), registry_(registry) {}

  void Start() {
    asio::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::Read, shared_from_this()));
  }

 private:
  void Read() {
    parser_.emplace();  // a parser serves one message
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kBodyLimit);
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec == http::error::end_of_stream) return Close();  // the client is done
    if (ec) {
      // The peer went away (reset, timeout, closed mid-request): nobody to answer.
      if (ec.category() != http::make_error_code(http::error::bad_target).category() ||
          ec == http::error::partial_message) {
        return;
      }
      // A request that does not parse: say why, then close (the stream cannot resync).
      http::status status = ec == http::error::header_limit ? http::status::request_header_fields_too_large
                            : ec == http::error::body_limit ? http::status::payload_too_large
                                                            : http::status::bad_request;
      SetResponse(status, 11, /*keep_alive=*/false, kTextContentType,
                  std::string(http::obsolete_reason(status)) + ": " + ec.message() + "\n", /*head=*/false);
      return Write();
    }
    Respond(parser_->get());
    Write();
  }

  void Respond(const http::request<http::string_body>& req) {
    std::string_view path(req.target().data(), req.target().size());
    path = path.substr(0, path.find('?'));
    const bool head = req.method() == http::verb::head;
    const bool get_or_head = head || req.method() == http::verb::get;
    if (path != "/metrics" && path != "/healthz") {
      return SetResponse(http::status::not_found, req.version(), req.keep_alive(), kTextContentType,
                         "not found: the paths are /metrics and /healthz\n", head);
    }
    if (!get_or_head) {
      SetResponse(http::status::method_not_allowed, req.version(), req.keep_alive(), kTextContentType,
                  "method not allowed: use GET or HEAD\n", head);
      res_.set(http::field::allow, "GET, HEAD");
      return;
    }
    if (path == "/healthz") {
      return SetResponse(http::status::ok, req.version(), req.keep_alive(), kTextContentType, "ok", head);
    }
    SetResponse(http::status::ok, req.version(), req.keep_alive(), kMetricsContentType,
                registry_->RenderText(), head);
  }

  void SetResponse(http::status status, unsigned version, bool keep_alive, std::string_view content_type,
                   std::string body, bool head) {
    res_ = {};
    res_.result(status);
    res_.version(version);
    res_.set(http::field::server, "vigil");
    res_.set(http::field::content_type, beast::string_view(content_type.data(), content_type.size()));
    // A HEAD response announces the length of the body it does not carry.
    res_.content_length(body.size());
    if (!head) res_.body() = std::move(body);
    res_.keep_alive(keep_alive);
  }

  void Write() {
    stream_.expires_after(kIdleTimeout);
    http::async_write(stream_, res_, beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) return;
    if (!res_.keep_alive()) return Close();
    Read();  // pipelined requests already in buffer_ are parsed from there
  }

  // Half-closes, then reads and drops until the client closes too (or kLingerTimeout).
  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return;
    stream_.expires_after(kLingerTimeout);
    Drain();
  }

  void Drain() {
    stream_.async_read_some(asio::buffer(drain_),
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (!ec) self->Drain();
                            });
  }

  beast::tcp_stream stream_;
  const MetricsRegistry* registry_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::array<char, 1024> drain_{};
};

}  // namespace

struct MetricsServer::Impl {
  // What lives on the server thread; destroyed as one in Stop(), which closes every
  // connection (their sessions are owned by pending handlers in the io_context).
  struct Runtime {
    asio::io_context ioc{1};
    tcp::acceptor acceptor{ioc};
    asio::steady_timer retry{ioc};
  };

  const MetricsRegistry* registry = nullptr;
  std::unique_ptr<Runtime> runtime = std::make_unique<Runtime>();
  std::thread thread;
  int port = 0;
  std::mutex stop_mu;

  void Accept() {
    runtime->acceptor.async_accept(runtime->ioc, [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {  // e.g. EMFILE: try again shortly, the rest of the server keeps working
        runtime->retry.expires_after(kAcceptRetry);
        runtime->retry.async_wait([this](beast::error_code wait_ec) {
          if (!wait_ec) Accept();
        });
        return;
      }
      std::make_shared<Session>(std::move(socket), registry)->Start();
      Accept();
    });
  }

  void Run() {
    // A handler that throws (bad_alloc, a throwing metric callback is already contained
    // by the registry) ends that connection, not the server: run() resumes.
    for (;;) {
      try {
        runtime->ioc.run();
        return;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "vigil: metrics server: %s\n", e.what());
      } catch (...) {
        std::fprintf(stderr, "vigil: metrics server: unknown exception\n");
      }
    }
  }
};

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() { Stop(); }

int MetricsServer::port() const { return impl_->port; }

Result<std::unique_ptr<MetricsServer>> MetricsServer::Start(const MetricsRegistry* registry,
                                                            const MetricsServerOptions& options) {
  if (options.port < 0 || options.port > 65535) {
    return Status::InvalidArgument("metrics server: port " + std::to_string(options.port) +
                                   " is not in 0..65535");
  }
  beast::error_code ec;
  const asio::ip::address address = asio::ip::make_address(options.address, ec);
  if (ec) {
    return Status::InvalidArgument("metrics server: address '" + options.address +
                                   "' is not an IPv4 or IPv6 address (use e.g. 127.0.0.1 or 0.0.0.0)");
  }
  try {
    auto impl = std::make_unique<Impl>();
    impl->registry = registry;
    const tcp::endpoint endpoint(address, static_cast<unsigned short>(options.port));
    tcp::acceptor& acceptor = impl->runtime->acceptor;
    auto fail = [&](const char* what) {
      return Status::IOError("metrics server: cannot " + std::string(what) + " " +
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
    impl->port = local.port();
    impl->Accept();
    Impl* raw = impl.get();
    impl->thread = std::thread([raw] { raw->Run(); });
    return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
  } catch (const std::exception& e) {  // no exception leaves the part
    return Status::IOError("metrics server on " + HostPort(options.address, options.port) + ": " + e.what());
  }
}

void MetricsServer::Stop() {
  std::lock_guard lock(impl_->stop_mu);
  if (impl_->runtime == nullptr) return;
  impl_->runtime->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_->runtime.reset();  // closes the listener and every connection
}

}  // namespace vigil
