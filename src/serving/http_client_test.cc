#include "serving/http_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "serving/http_server.h"

namespace vigil {
namespace http_client_test {

std::unique_ptr<HttpServer> EchoServer(std::chrono::milliseconds idle_timeout, std::atomic<int>* calls) {
  HttpServerOptions o;
  o.idle_timeout = idle_timeout;
  o.api_token = "t0k";
  auto server = HttpServer::Start({{"POST", "/echo", Access::kApi, "echo",
                                    [calls](const HttpRequest& q) {
                                      ++*calls;
                                      return HttpResponse::Json(200, "{\"got\":" + q.body + "}");
                                    }}},
                                  o);
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return std::move(server).value();
}

TEST(HttpClient, SendsRequestsOverOneConnectionWithAToken) {
  std::atomic<int> calls = 0;
  auto server = EchoServer(std::chrono::seconds(60), &calls);
  auto c = HttpClient::Connect("http://127.0.0.1:" + std::to_string(server->port()));
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  for (int i = 0; i < 50; ++i) {
    auto r = (*c)->Request("POST", "/echo", std::to_string(i), "t0k");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "{\"got\":" + std::to_string(i) + "}");
  }
  EXPECT_EQ(calls.load(), 50);
  // A status is the caller's to judge, not an error.
  auto unauthorized = (*c)->Request("POST", "/echo", "1");
  ASSERT_TRUE(unauthorized.ok());
  EXPECT_EQ(unauthorized->status, 401);
  auto missing = (*c)->Request("GET", "/nowhere", "", "t0k");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->status, 404);
}

TEST(HttpClient, ReconnectsWhenTheServerClosedAnIdleConnection) {
  std::atomic<int> calls = 0;
  auto server = EchoServer(std::chrono::milliseconds(100), &calls);
  auto c = HttpClient::Connect("http://127.0.0.1:" + std::to_string(server->port()) + "/ignored/path");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ((*c)->Request("POST", "/echo", "1", "t0k")->status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));  // the server closes it
  auto r = (*c)->Request("POST", "/echo", "2", "t0k");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "{\"got\":2}");
  EXPECT_EQ(calls.load(), 2);
}

TEST(HttpClient, BadAddressesAreErrors) {
  EXPECT_TRUE(HttpClient::Connect("https://127.0.0.1:1").status().IsInvalidArgument());
  EXPECT_TRUE(HttpClient::Connect("http://127.0.0.1").status().IsInvalidArgument());
  // Nothing listens on a port just freed.
  std::atomic<int> calls = 0;
  int port = 0;
  {
    auto server = EchoServer(std::chrono::seconds(1), &calls);
    port = server->port();
  }
  auto c = HttpClient::Connect("http://127.0.0.1:" + std::to_string(port));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kIOError) << c.status().ToString();
  EXPECT_NE(c.status().message().find("127.0.0.1:" + std::to_string(port)), std::string::npos);
}

}  // namespace http_client_test
}  // namespace vigil
