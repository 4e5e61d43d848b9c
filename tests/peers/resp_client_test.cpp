// RespClient against a scripted in-process server on 127.0.0.1: replies, pipelining, error
// replies, a server that hangs up and one that never answers.
#include "core/resp/resp_client.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <thread>

#include <gtest/gtest.h>

namespace gatedrill {
namespace {

using std::chrono::milliseconds;

// Accepts one connection and calls `serve` with each command it reads; `serve` returns the
// bytes to answer (empty: answer nothing) or nullopt to hang up.
class ScriptedServer {
 public:
  using Serve = std::function<std::optional<std::string>(const resp::Value&)>;

  explicit ScriptedServer(Serve serve) : serve_(std::move(serve)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(listen_fd_, 4), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~ScriptedServer() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    if (conn_fd_ >= 0) ::shutdown(conn_fd_, SHUT_RDWR);
    thread_.join();
    ::close(listen_fd_);
    if (conn_fd_ >= 0) ::close(conn_fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void run() {
    conn_fd_ = ::accept(listen_fd_, nullptr, nullptr);
    if (conn_fd_ < 0) return;
    resp::Reader reader;
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(conn_fd_, buf, sizeof buf, 0);
      if (n <= 0) return;
      reader.feed(std::string_view(buf, static_cast<size_t>(n)));
      for (;;) {
        auto next = reader.next();
        if (!next.ok() || !next->has_value()) break;
        auto answer = serve_(**next);
        if (!answer) {
          ::shutdown(conn_fd_, SHUT_RDWR);
          return;
        }
        if (!answer->empty()) ::send(conn_fd_, answer->data(), answer->size(), MSG_NOSIGNAL);
      }
    }
  }

  Serve serve_;
  int listen_fd_ = -1;
  std::atomic<int> conn_fd_{-1};
  uint16_t port_ = 0;
  std::thread thread_;
};

// Echoes the command's arguments back as an array, "-ERR" for an empty command name.
std::optional<std::string> echo(const resp::Value& command) {
  if (command.elements.empty() || command.elements[0].str.empty()) {
    return resp::encode(resp::Value::error("ERR empty command"));
  }
  return resp::encode(command);
}

TEST(RespClient, SendsACommandAndReadsTheReply) {
  ScriptedServer server(echo);
  auto client = RespClient::connect("127.0.0.1", server.port(), milliseconds(2000));
  ASSERT_TRUE(client.ok()) << client.error().message;
  auto reply = client->command({"SET", "k", "v"});
  ASSERT_TRUE(reply.ok()) << reply.error().message;
  EXPECT_EQ(*reply, resp::Value::array({resp::Value::bulk("SET"), resp::Value::bulk("k"),
                                        resp::Value::bulk("v")}));
}

TEST(RespClient, PipelineReturnsOneReplyPerCommandInOrder) {
  ScriptedServer server(echo);
  auto client = RespClient::connect("127.0.0.1", server.port(), milliseconds(2000));
  ASSERT_TRUE(client.ok());
  std::vector<std::vector<std::string>> commands;
  for (int i = 0; i < 50; ++i) commands.push_back({"GET", "key" + std::to_string(i)});
  commands.push_back({""});
  auto replies = client->pipeline(commands);
  ASSERT_TRUE(replies.ok()) << replies.error().message;
  ASSERT_EQ(replies->size(), 51u);
  EXPECT_EQ((*replies)[37].elements.at(1), resp::Value::bulk("key37"));
  EXPECT_TRUE((*replies)[50].is_error());
  EXPECT_EQ((*replies)[50].str, "ERR empty command");
}

TEST(RespClient, ReportsAServerThatHangsUp) {
  ScriptedServer server([](const resp::Value&) { return std::optional<std::string>(); });
  auto client = RespClient::connect("127.0.0.1", server.port(), milliseconds(2000));
  ASSERT_TRUE(client.ok());
  auto reply = client->command({"PING"});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code, "closed");
  EXPECT_FALSE(client->connected());
  EXPECT_EQ(client->command({"PING"}).error().code, "closed");
}

TEST(RespClient, TimesOutOnASilentServer) {
  ScriptedServer server([](const resp::Value&) { return std::optional<std::string>(""); });
  auto client = RespClient::connect("127.0.0.1", server.port(), milliseconds(150));
  ASSERT_TRUE(client.ok());
  auto reply = client->command({"PING"});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code, "timeout");
}

TEST(RespClient, ReportsAMalformedReply) {
  ScriptedServer server([](const resp::Value&) { return std::optional<std::string>("!x\r\n"); });
  auto client = RespClient::connect("127.0.0.1", server.port(), milliseconds(2000));
  ASSERT_TRUE(client.ok());
  auto reply = client->command({"PING"});
  ASSERT_FALSE(reply.ok());
  EXPECT_EQ(reply.error().code, "resp_protocol");
}

TEST(RespClient, ConnectFailsOnAClosedPort) {
  uint16_t port = 0;
  {
    ScriptedServer server(echo);
    port = server.port();
    // Connect once so the server's accept returns and it can shut down.
    auto c = RespClient::connect("127.0.0.1", port, milliseconds(2000));
    ASSERT_TRUE(c.ok());
  }
  auto client = RespClient::connect("127.0.0.1", port, milliseconds(2000));
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().code, "connect_failed");
  EXPECT_NE(client.error().message.find("127.0.0.1"), std::string::npos);
}

}  // namespace
}  // namespace gatedrill
