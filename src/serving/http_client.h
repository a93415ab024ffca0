// A small blocking HTTP/1.1 client over one keep-alive connection (Boost.Beast), for
// vigil's own tools that call a running `vigil serve` (`vigil replay` scores through it).
//
//   auto c = HttpClient::Connect("http://127.0.0.1:8080");
//   auto r = c->Request("POST", "/v1/score", body, token);   // r->status, r->body
//
// The connection is opened by Connect and reopened once when a request finds it closed
// (the server's idle timeout). A response is any status: 4xx/5xx are the caller's to
// judge; only failing to connect, send or read is an error (IOError naming the address).
// Not thread-safe: one client per thread.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace vigil {

struct HttpClientResponse {
  int status = 0;
  std::string body;
};

class HttpClient {
 public:
  // `url`: "http://HOST:PORT" (a path after it is ignored). InvalidArgument for another
  // scheme or no port; IOError when nothing listens there.
  static Result<std::unique_ptr<HttpClient>> Connect(const std::string& url);
  ~HttpClient();

  // Sends one request (a bearer token when `token` is not empty) and reads its response.
  Result<HttpClientResponse> Request(const std::string& method, const std::string& target,
                                     const std::string& body, const std::string& token = "");

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil
