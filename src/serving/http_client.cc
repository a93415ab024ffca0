#include "serving/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace vigil {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct HttpClient::Impl {
  std::string host, port, address;
  asio::io_context io;
  beast::tcp_stream stream{io};
  beast::flat_buffer buffer;
  bool open = false;

  Status Open() {
    beast::error_code ec;
    if (open) stream.socket().close(ec);
    open = false;
    tcp::resolver resolver(io);
    auto results = resolver.resolve(host, port, ec);
    if (ec) return Status::IOError("resolve " + address + ": " + ec.message());
    stream.connect(results, ec);
    if (ec) return Status::IOError("connect to " + address + ": " + ec.message());
    stream.socket().set_option(tcp::no_delay(true), ec);
    buffer.clear();
    open = true;
    return Status::OK();
  }

  // One exchange on the open connection; false in *retry when the connection was closed
  // before anything was read back (safe to send again).
  Result<HttpClientResponse> Exchange(const http::request<http::string_body>& req, bool* stale) {
    beast::error_code ec;
    http::write(stream, req, ec);
    if (ec) {
      *stale = true;
      return Status::IOError("send to " + address + ": " + ec.message());
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(64u << 20);
    http::read(stream, buffer, parser, ec);
    if (ec) {
      *stale = ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
               ec == asio::error::eof || ec == asio::error::broken_pipe;
      return Status::IOError("read from " + address + ": " + ec.message());
    }
    auto res = parser.release();
    if (!res.keep_alive()) {
      stream.socket().close(ec);
      open = false;
    }
    return HttpClientResponse{static_cast<int>(res.result_int()), std::move(res.body())};
  }
};

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

Result<std::unique_ptr<HttpClient>> HttpClient::Connect(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return Status::InvalidArgument("not an http:// address: '" + url + "'");
  std::string rest = url.substr(scheme.size());
  rest = rest.substr(0, rest.find('/'));
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos || colon + 1 == rest.size()) {
    return Status::InvalidArgument("the address has no port: '" + url + "'");
  }
  auto impl = std::make_unique<Impl>();
  impl->host = rest.substr(0, colon);
  impl->port = rest.substr(colon + 1);
  impl->address = rest;
  VIGIL_RETURN_IF_ERROR(impl->Open());
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

Result<HttpClientResponse> HttpClient::Request(const std::string& method, const std::string& target,
                                               const std::string& body, const std::string& token) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, impl_->address);
  req.set(http::field::content_type, "application/json");
  if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
  req.keep_alive(true);
  req.body() = body;
  req.prepare_payload();
  for (int attempt = 0;; ++attempt) {
    if (!impl_->open) VIGIL_RETURN_IF_ERROR(impl_->Open());
    bool stale = false;
    auto r = impl_->Exchange(req, &stale);
    if (r.ok() || !stale || attempt > 0) return r;
    impl_->open = false;  // the server closed an idle connection: once more on a new one
  }
}

}  // namespace vigil
