// gateway/server/tls_stream: the data plane's TLS stream against Asio's own TLS client, on
// loopback sockets in one io_context (handshake, sniffed first bytes, writes that must wait for
// socket room, a peer ending mid-record, close_notify both ways, deadlines).
#include "gateway/server/tls_stream.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "gateway/server/tls13_records.hpp"
#include "tests/gateway/gateway_test_support.hpp"

namespace gatedrill::gateway {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::beast::error_code;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
using Client = asio::ssl::stream<tcp::socket>;

asio::awaitable<bool> handshaken(TlsStream& server) {
  auto [ec] = co_await server.async_handshake(asio::ssl::stream_base::server, kNoThrow);
  co_return !ec;
}

asio::awaitable<bool> handshaken(Client& client) {
  auto [ec] = co_await client.async_handshake(asio::ssl::stream_base::client, kNoThrow);
  co_return !ec;
}

// How a read of at most 64 bytes ended.
template <class Stream>
asio::awaitable<error_code> read_error(Stream& stream) {
  char data[64];
  auto [ec, n] = co_await stream.async_read_some(asio::buffer(data), kNoThrow);
  (void)n;
  co_return ec;
}

class TlsStreamTest : public ::testing::Test {
 public:  // for the helpers below
  TlsStreamTest() : dir_("tls-stream-") {
    auto config = test::write_localhost_certificate(clock_, dir_);
    server_ctx_.use_certificate_chain_file(config.cert_chain_file);
    server_ctx_.use_private_key_file(config.key_file, asio::ssl::context::pem);
    SSL_CTX_set_mode(server_ctx_.native_handle(), SSL_MODE_RELEASE_BUFFERS);
    client_ctx_.set_verify_mode(asio::ssl::verify_none);
    acceptor_.open(tcp::v4());
    acceptor_.bind(tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    acceptor_.listen();
  }

  // A connected loopback pair: {server side, client side}. `small_buffers`: socket buffers of
  // a few KB, so that a large write has to wait for the reader.
  std::pair<tcp::socket, tcp::socket> connect_pair(bool small_buffers = false) {
    tcp::socket client(io_);
    client.open(tcp::v4());
    if (small_buffers) client.set_option(asio::socket_base::receive_buffer_size(4096));
    client.connect(acceptor_.local_endpoint());
    tcp::socket server(io_);
    acceptor_.accept(server);
    if (small_buffers) server.set_option(asio::socket_base::send_buffer_size(4096));
    return {std::move(server), std::move(client)};
  }

  TlsStream server_stream(tcp::socket socket) {
    return TlsStream(std::move(socket), server_ctx_.native_handle());
  }

  // Both ends over one connected pair: the stream under test and Asio's TLS client.
  struct Connected {
    TlsStream server;
    Client client;
  };
  Connected connected(bool small_buffers = false) {
    auto [server_socket, client_socket] = connect_pair(small_buffers);
    return Connected{server_stream(std::move(server_socket)),
                     Client(std::move(client_socket), client_ctx_)};
  }

  // Handshakes both ends; the client sends `message`, the server echoes it back.
  std::string echo(Connected& pair, const std::string& message) {
    std::string echoed;
    spawn([&]() -> asio::awaitable<void> {
      pair.server.expires_after(std::chrono::seconds(5));
      if (!co_await handshaken(pair.server)) co_return;
      std::string data(message.size(), '\0');
      auto [ec, n] = co_await asio::async_read(pair.server, asio::buffer(data), kNoThrow);
      if (!ec) co_await asio::async_write(pair.server, asio::buffer(data, n), kNoThrow);
    });
    spawn([&]() -> asio::awaitable<void> {
      if (!co_await handshaken(pair.client)) co_return;
      co_await asio::async_write(pair.client, asio::buffer(message), kNoThrow);
      echoed.resize(message.size());
      auto [ec, n] = co_await asio::async_read(pair.client, asio::buffer(echoed), kNoThrow);
      echoed.resize(ec ? 0 : n);
    });
    run();
    return echoed;
  }

  // Raw bytes from the client after the handshake; the server's read error and the client's.
  std::pair<error_code, error_code> send_raw(Connected& pair, const std::string& raw) {
    error_code server_ec;
    error_code client_ec;
    spawn([&]() -> asio::awaitable<void> {
      pair.server.expires_after(std::chrono::seconds(5));
      if (!co_await handshaken(pair.server)) co_return;
      server_ec = co_await read_error(pair.server);
    });
    spawn([&]() -> asio::awaitable<void> {
      if (!co_await handshaken(pair.client)) co_return;
      co_await asio::async_write(pair.client.next_layer(), asio::buffer(raw), kNoThrow);
      client_ec = co_await read_error(pair.client);
    });
    run();
    return {server_ec, client_ec};
  }

  // Starts a coroutine lambda; the lambda (its captures) is kept until the test ends.
  template <class F>
  void spawn(F f) {
    auto held = std::make_shared<F>(std::move(f));
    kept_.push_back(held);
    asio::co_spawn(io_, (*held)(), asio::detached);
  }

  // Runs everything spawned to its end (bounded: a hang fails the test's checks).
  void run() {
    io_.restart();
    io_.run_for(std::chrono::seconds(5));
  }

  SystemTimeSource clock_;
  test::TestDir dir_;
  asio::io_context io_;
  asio::ssl::context server_ctx_{asio::ssl::context::tls_server};
  asio::ssl::context client_ctx_{asio::ssl::context::tls_client};
  tcp::acceptor acceptor_{io_};
  std::vector<std::shared_ptr<void>> kept_;
};

TEST_F(TlsStreamTest, HandshakesAndEchoesWithAsioClient) {
  Connected pair = connected();
  TlsStream& server = pair.server;
  Client& client = pair.client;
  std::optional<error_code> server_ec;
  std::string echoed;

  spawn([&]() -> asio::awaitable<void> {
    server.expires_after(std::chrono::seconds(5));
    auto [ec] = co_await server.async_handshake(asio::ssl::stream_base::server, kNoThrow);
    if (ec) {
      server_ec = ec;
      co_return;
    }
    std::string data(5, '\0');
    auto [read_ec, n] = co_await asio::async_read(server, asio::buffer(data), kNoThrow);
    if (!read_ec) co_await asio::async_write(server, asio::buffer(data, n), kNoThrow);
    server_ec = read_ec;
  });
  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(client)) co_return;
    co_await asio::async_write(client, asio::buffer(std::string("hello")), kNoThrow);
    echoed.resize(5);
    co_await asio::async_read(client, asio::buffer(echoed), kNoThrow);
  });
  run();
  ASSERT_TRUE(server_ec.has_value());
  EXPECT_FALSE(*server_ec) << server_ec->message();
  EXPECT_EQ(echoed, "hello");
  EXPECT_NE(server.native_handle(), nullptr);
  EXPECT_TRUE(SSL_is_init_finished(server.native_handle()));
}

TEST_F(TlsStreamTest, HandshakeStartsFromSniffedBytes) {
  auto [server_socket, client_socket] = connect_pair();
  Client client(std::move(client_socket), client_ctx_);
  std::optional<error_code> server_ec;
  size_t sniffed = 0;
  size_t used = 0;
  std::string echoed;

  spawn([&, socket = std::move(server_socket)]() mutable -> asio::awaitable<void> {
    // As the mTLS port does: the first bytes decide, then TLS goes on from them.
    std::string first(3, '\0');
    auto [read_ec, n] = co_await asio::async_read(socket, asio::buffer(first), kNoThrow);
    if (read_ec) co_return;
    sniffed = n;
    TlsStream server = server_stream(std::move(socket));
    auto [ec, consumed] = co_await server.async_handshake(asio::ssl::stream_base::server,
                                                          asio::buffer(first), kNoThrow);
    used = consumed;
    server_ec = ec;
    if (ec) co_return;
    std::string data(2, '\0');
    auto [ec2, m] = co_await asio::async_read(server, asio::buffer(data), kNoThrow);
    if (!ec2) co_await asio::async_write(server, asio::buffer(data, m), kNoThrow);
  });
  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(client)) co_return;
    co_await asio::async_write(client, asio::buffer(std::string("ok")), kNoThrow);
    echoed.resize(2);
    co_await asio::async_read(client, asio::buffer(echoed), kNoThrow);
  });
  run();
  ASSERT_TRUE(server_ec.has_value());
  EXPECT_FALSE(*server_ec) << server_ec->message();
  EXPECT_EQ(sniffed, 3u);
  EXPECT_EQ(used, 3u);
  EXPECT_EQ(echoed, "ok");
}

TEST_F(TlsStreamTest, WaitReadableHoldsNoBufferThenTheReadGetsTheBytes) {
  Connected pair = connected();
  TlsStream& server = pair.server;
  Client& client = pair.client;
  std::optional<error_code> wait_ec;
  std::string got;
  std::optional<error_code> end_ec;

  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(server)) co_return;
    server.expires_after(std::chrono::seconds(5));
    auto [ec] = co_await server.async_wait_readable(kNoThrow);
    wait_ec = ec;
    if (ec) co_return;
    got.resize(5);
    auto [rec, n] = co_await server.async_read_some(asio::buffer(got), kNoThrow);
    got.resize(rec ? 0 : n);
    // The peer's close_notify ends a wait as it ends a read.
    auto [eec] = co_await server.async_wait_readable(kNoThrow);
    end_ec = eec;
    co_await server.async_shutdown(kNoThrow);  // the client's shutdown waits for this
  });
  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(client)) co_return;
    co_await asio::async_write(client, asio::buffer(std::string("hello")), kNoThrow);
    co_await client.async_shutdown(kNoThrow);
  });
  run();
  ASSERT_TRUE(wait_ec.has_value());
  EXPECT_FALSE(*wait_ec) << wait_ec->message();
  EXPECT_EQ(got, "hello");
  ASSERT_TRUE(end_ec.has_value());
  EXPECT_EQ(*end_ec, asio::error::eof) << end_ec->message();
}

TEST_F(TlsStreamTest, ReadOrWaitReadsWhatIsThereAndWaitsWithoutABuffer) {
  Connected pair = connected();
  TlsStream& server = pair.server;
  Client& client = pair.client;
  std::optional<error_code> early_ec;
  bool waiting = false;
  size_t capacity_while_waiting = 1;
  std::vector<std::string> got;
  std::optional<error_code> end_ec;
  boost::beast::flat_buffer buffer;

  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(server)) co_return;
    server.expires_after(std::chrono::seconds(5));
    buffer.prepare(4096);  // a buffer from an earlier request, to be given back while idle
    error_code ec;
    char byte = 0;
    EXPECT_EQ(server.read_some_now(asio::buffer(&byte, 1), ec), 0u);
    early_ec = ec;   // nothing sent yet
    waiting = true;  // read_or_wait suspends in its wait before this coroutine yields
    // Waits (no record yet), then reads 5 of the record's 11 bytes; the rest is read at once.
    for (size_t size : {5, 64}) {
      if (auto rec = co_await read_or_wait(server, buffer, size)) co_return;
      got.emplace_back(static_cast<const char*>(buffer.data().data()), buffer.size());
      buffer.consume(buffer.size());
    }
    end_ec = co_await read_or_wait(server, buffer, 64);  // the peer's close_notify
    co_await server.async_shutdown(kNoThrow);
  });
  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(client)) co_return;
    // The server runs on this thread: yield until it is suspended in its wait.
    while (!waiting) co_await asio::post(client.get_executor(), asio::use_awaitable);
    capacity_while_waiting = buffer.capacity();
    co_await asio::async_write(client, asio::buffer(std::string("hello world")), kNoThrow);
    co_await client.async_shutdown(kNoThrow);
  });
  run();
  ASSERT_TRUE(early_ec.has_value());
  EXPECT_EQ(*early_ec, asio::error::would_block) << early_ec->message();
  EXPECT_EQ(capacity_while_waiting, 0u);
  EXPECT_EQ(got, (std::vector<std::string>{"hello", " world"}));
  ASSERT_TRUE(end_ec.has_value());
  EXPECT_EQ(*end_ec, asio::error::eof) << end_ec->message();
}

TEST_F(TlsStreamTest, LargeWriteWaitsForRoomAndArrivesWhole) {
  Connected pair = connected(/*small_buffers=*/true);
  TlsStream& server = pair.server;
  Client& client = pair.client;
  std::string sent(4 << 20, '\0');
  for (size_t i = 0; i < sent.size(); ++i)
    sent[i] = static_cast<char>('a' + (i * 7 + i / 5000) % 26);
  bool server_ready = false;
  std::optional<error_code> write_ec;
  size_t written = 0;
  asio::steady_timer go(io_, asio::steady_timer::time_point::max());  // the reader's start signal
  std::string received;

  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(server)) co_return;
    server_ready = true;
    server.expires_after(std::chrono::seconds(5));
    auto [wec, n] = co_await asio::async_write(server, asio::buffer(sent), kNoThrow);
    write_ec = wec;
    written = n;
  });
  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(client)) co_return;
    co_await go.async_wait(kNoThrow);
    received.resize(sent.size());
    co_await asio::async_read(client, asio::buffer(received), kNoThrow);
  });
  // Run until nothing is ready: the handshake is done and the write is parked on a full socket.
  io_.restart();
  for (int round = 0; round < 100000; ++round)
    if (io_.poll() == 0 && server_ready) break;
  ASSERT_TRUE(server_ready);
  EXPECT_FALSE(write_ec.has_value()) << "4 MB cannot fit in the socket buffers";
  go.cancel();
  run();
  ASSERT_TRUE(write_ec.has_value());
  EXPECT_FALSE(*write_ec) << write_ec->message();
  EXPECT_EQ(written, sent.size());
  EXPECT_TRUE(received == sent);
}

TEST_F(TlsStreamTest, PeerEndingMidRecordIsTruncated) {
  Connected pair = connected();
  TlsStream& server = pair.server;
  Client& client = pair.client;
  std::optional<error_code> read_ec;

  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(server)) co_return;
    server.expires_after(std::chrono::seconds(5));
    read_ec = co_await read_error(server);
  });
  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(client)) co_return;
    // An application-data record header announcing 64 bytes, 10 of them, then FIN.
    const std::string partial = std::string("\x17\x03\x03\x00\x40", 5) + std::string(10, 'x');
    co_await asio::async_write(client.next_layer(), asio::buffer(partial), kNoThrow);
    error_code ignored;
    client.next_layer().shutdown(tcp::socket::shutdown_send, ignored);
  });
  run();
  ASSERT_TRUE(read_ec.has_value());
  EXPECT_EQ(*read_ec, asio::ssl::error::stream_truncated) << read_ec->message();
  // The stream stays usable as an object: a later read reports the same failure at once.
  std::optional<error_code> again;
  spawn([&]() -> asio::awaitable<void> { again = co_await read_error(server); });
  run();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(*again, asio::ssl::error::stream_truncated);
}

TEST_F(TlsStreamTest, ShutdownExchangesCloseNotify) {
  Connected pair = connected();
  TlsStream& server = pair.server;
  Client& client = pair.client;
  std::optional<error_code> shutdown_ec;
  std::optional<error_code> client_read_ec;

  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(server)) co_return;
    server.expires_after(std::chrono::seconds(5));
    auto [sec] = co_await server.async_shutdown(kNoThrow);
    shutdown_ec = sec;
  });
  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(client)) co_return;
    client_read_ec = co_await read_error(client);
    co_await client.async_shutdown(kNoThrow);
  });
  run();
  ASSERT_TRUE(client_read_ec.has_value());
  EXPECT_EQ(*client_read_ec, asio::error::eof) << client_read_ec->message();
  ASSERT_TRUE(shutdown_ec.has_value());
  EXPECT_FALSE(*shutdown_ec) << shutdown_ec->message();
}

TEST_F(TlsStreamTest, ClientCloseNotifyReadsAsEof) {
  Connected pair = connected();
  TlsStream& server = pair.server;
  Client& client = pair.client;
  std::optional<error_code> read_ec;

  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(server)) co_return;
    read_ec = co_await read_error(server);
    co_await server.async_shutdown(kNoThrow);
  });
  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(client)) co_return;
    co_await client.async_shutdown(kNoThrow);
  });
  run();
  ASSERT_TRUE(read_ec.has_value());
  EXPECT_EQ(*read_ec, asio::error::eof) << read_ec->message();
}

TEST_F(TlsStreamTest, IdleReadTimesOutAndClosesTheSocket) {
  Connected pair = connected();
  TlsStream& server = pair.server;
  Client& client = pair.client;
  std::optional<error_code> read_ec;
  std::optional<error_code> client_ec;

  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(server)) co_return;
    server.expires_after(std::chrono::milliseconds(50));
    read_ec = co_await read_error(server);
  });
  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(client)) co_return;
    client_ec = co_await read_error(client);
  });
  run();
  ASSERT_TRUE(read_ec.has_value());
  EXPECT_EQ(*read_ec, boost::beast::error::timeout) << read_ec->message();
  EXPECT_FALSE(server.socket().is_open());
  ASSERT_TRUE(client_ec.has_value());
  EXPECT_TRUE(*client_ec);
}

TEST_F(TlsStreamTest, SilentClientTimesOutTheHandshake) {
  auto [server_socket, client_socket] = connect_pair();
  TlsStream server = server_stream(std::move(server_socket));
  std::optional<error_code> handshake_ec;

  spawn([&]() -> asio::awaitable<void> {
    server.expires_after(std::chrono::milliseconds(50));
    auto [ec] = co_await server.async_handshake(asio::ssl::stream_base::server, kNoThrow);
    handshake_ec = ec;
  });
  run();
  ASSERT_TRUE(handshake_ec.has_value());
  EXPECT_EQ(*handshake_ec, boost::beast::error::timeout) << handshake_ec->message();
}

TEST_F(TlsStreamTest, BusyDirectionKeepsItsDeadline) {
  // As HTTP/2 does: a read waits under the idle deadline while the writer sets its own, shorter
  // or longer; the pending read must keep the one it started with.
  Connected pair = connected();
  TlsStream& server = pair.server;
  Client& client = pair.client;
  std::optional<error_code> read_ec;
  std::optional<error_code> write_ec;

  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(server)) co_return;
    server.expires_after(std::chrono::milliseconds(100));
    // The reader runs (co_spawn dispatches) until its read waits for the socket.
    spawn([&]() -> asio::awaitable<void> { read_ec = co_await read_error(server); });
    server.expires_after(std::chrono::seconds(30));  // the write's; the read keeps 100 ms
    auto [wec, n] = co_await asio::async_write(server, asio::buffer(std::string("x")), kNoThrow);
    (void)n;
    write_ec = wec;
  });
  spawn([&]() -> asio::awaitable<void> {
    auto [ec] = co_await client.async_handshake(asio::ssl::stream_base::client, kNoThrow);
    (void)ec;
  });
  run();
  ASSERT_TRUE(write_ec.has_value());
  EXPECT_FALSE(*write_ec) << write_ec->message();
  ASSERT_TRUE(read_ec.has_value());
  EXPECT_EQ(*read_ec, boost::beast::error::timeout) << read_ec->message();
}

// The same stream on a context prepared for the own record layer: after a TLS 1.3 handshake
// the records are ours and the SSL object is gone; OpenSSL's client on the other end checks
// every record we send (sequence numbers after its session tickets included).
class OwnRecordsTest : public TlsStreamTest {
 protected:
  OwnRecordsTest() { TlsStream::use_own_records(server_ctx_.native_handle()); }
};

TEST_F(OwnRecordsTest, EchoesThenHoldsNoSslObject) {
  Connected pair = connected();
  EXPECT_EQ(echo(pair, "hello"), "hello");
  EXPECT_TRUE(pair.server.own_records());
  EXPECT_EQ(pair.server.native_handle(), nullptr);
  EXPECT_EQ(pair.server.alpn(), "");
  EXPECT_EQ(pair.server.take_peer_certificate(), nullptr);
  EXPECT_GE(tls_record_counts().own, 1u);
}

TEST_F(OwnRecordsTest, OtherSuitesToo) {
  for (const char* suite : {"TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}) {
    ASSERT_EQ(SSL_CTX_set_ciphersuites(client_ctx_.native_handle(), suite), 1);
    Connected pair = connected();
    EXPECT_EQ(echo(pair, std::string(20000, 'z')), std::string(20000, 'z')) << suite;
    EXPECT_TRUE(pair.server.own_records()) << suite;
    EXPECT_STREQ(SSL_get_cipher_name(pair.client.native_handle()), suite);
  }
}

TEST_F(OwnRecordsTest, Tls12ClientKeepsOpenSsl) {
  SSL_CTX_set_max_proto_version(client_ctx_.native_handle(), TLS1_2_VERSION);
  Connected pair = connected();
  EXPECT_EQ(echo(pair, "hello"), "hello");
  EXPECT_FALSE(pair.server.own_records());
  EXPECT_NE(pair.server.native_handle(), nullptr);
}

TEST_F(OwnRecordsTest, LargeWritesBothWays) {
  // 1 MB up (records up to 16 KB, several per recv), 4 MB down through small socket buffers
  // (the socket takes part of a record: the rest waits for room).
  Connected pair = connected(/*small_buffers=*/true);
  std::string up(1 << 20, '\0');
  for (size_t i = 0; i < up.size(); ++i) up[i] = static_cast<char>(i * 13 + i / 777);
  std::string down(4 << 20, '\0');
  for (size_t i = 0; i < down.size(); ++i) down[i] = static_cast<char>(i * 7 + i / 5000);
  std::string got_up(up.size(), '\0');
  std::string got_down(down.size(), '\0');
  std::optional<error_code> write_ec;
  spawn([&]() -> asio::awaitable<void> {
    pair.server.expires_after(std::chrono::seconds(5));
    if (!co_await handshaken(pair.server)) co_return;
    auto [ec, n] = co_await asio::async_read(pair.server, asio::buffer(got_up), kNoThrow);
    if (ec) co_return;
    auto [wec, m] = co_await asio::async_write(pair.server, asio::buffer(down), kNoThrow);
    write_ec = wec;
  });
  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(pair.client)) co_return;
    co_await asio::async_write(pair.client, asio::buffer(up), kNoThrow);
    co_await asio::async_read(pair.client, asio::buffer(got_down), kNoThrow);
  });
  run();
  EXPECT_TRUE(pair.server.own_records());
  EXPECT_TRUE(got_up == up);
  ASSERT_TRUE(write_ec.has_value());
  EXPECT_FALSE(*write_ec) << write_ec->message();
  EXPECT_TRUE(got_down == down);
}

TEST_F(OwnRecordsTest, ManySmallRecordsInOneRecv) {
  Connected pair = connected();
  asio::steady_timer go(io_, asio::steady_timer::time_point::max());
  std::string sent;
  std::string got;
  size_t reads = 0;
  spawn([&]() -> asio::awaitable<void> {
    pair.server.expires_after(std::chrono::seconds(5));
    if (!co_await handshaken(pair.server)) co_return;
    co_await go.async_wait(kNoThrow);  // every record is in the socket by now
    boost::beast::flat_buffer buffer;
    while (got.size() < 200 * 10) {
      if (co_await read_or_wait(pair.server, buffer, 4096)) co_return;
      got.append(static_cast<const char*>(buffer.data().data()), buffer.size());
      buffer.consume(buffer.size());
      ++reads;
    }
  });
  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(pair.client)) co_return;
    for (int i = 0; i < 200; ++i) {  // one record each
      std::string part = "record" + std::to_string(1000 + i);
      sent += part;
      co_await asio::async_write(pair.client, asio::buffer(part), kNoThrow);
    }
    go.cancel();
  });
  run();
  EXPECT_EQ(got, sent);
  EXPECT_LE(reads, 200u / 4) << "several records per read";
}

// Counts the KeyUpdate messages the client receives.
void count_key_updates(int write_p, int, int content_type, const void* buf, size_t len, SSL*,
                       void* arg) {
  if (write_p == 0 && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
      static_cast<const unsigned char*>(buf)[0] == SSL3_MT_KEY_UPDATE)
    ++*static_cast<int*>(arg);
}

TEST_F(OwnRecordsTest, ClientKeyUpdateWithAndWithoutRequest) {
  Connected pair = connected();
  int updates_received = 0;
  SSL_set_msg_callback(pair.client.native_handle(), count_key_updates);
  SSL_set_msg_callback_arg(pair.client.native_handle(), &updates_received);
  std::vector<std::string> replies;
  std::vector<int> updates_seen;
  spawn([&]() -> asio::awaitable<void> {
    pair.server.expires_after(std::chrono::seconds(5));
    if (!co_await handshaken(pair.server)) co_return;
    for (int round = 0; round < 3; ++round) {
      std::string data(4, '\0');
      auto [ec, n] = co_await asio::async_read(pair.server, asio::buffer(data), kNoThrow);
      if (ec) co_return;
      co_await asio::async_write(pair.server, asio::buffer(data, n), kNoThrow);
    }
  });
  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(pair.client)) co_return;
    SSL* ssl = pair.client.native_handle();
    for (int type :
         {SSL_KEY_UPDATE_REQUESTED, SSL_KEY_UPDATE_NOT_REQUESTED, SSL_KEY_UPDATE_REQUESTED}) {
      if (SSL_key_update(ssl, type) != 1) co_return;
      co_await asio::async_write(pair.client, asio::buffer(std::string("ping")), kNoThrow);
      std::string reply(4, '\0');
      auto [ec, n] = co_await asio::async_read(pair.client, asio::buffer(reply), kNoThrow);
      if (ec) co_return;
      replies.push_back(reply);
      updates_seen.push_back(updates_received);
    }
  });
  run();
  EXPECT_EQ(replies, (std::vector<std::string>{"ping", "ping", "ping"}));
  // Ours came before the reply when asked, and only then.
  EXPECT_EQ(updates_seen, (std::vector<int>{1, 1, 2}));
}

TEST_F(OwnRecordsTest, CloseNotifyBothWays) {
  {
    Connected pair = connected();
    std::optional<error_code> shutdown_ec;
    std::optional<error_code> client_read_ec;
    spawn([&]() -> asio::awaitable<void> {
      pair.server.expires_after(std::chrono::seconds(5));
      if (!co_await handshaken(pair.server)) co_return;
      auto [sec] = co_await pair.server.async_shutdown(kNoThrow);
      shutdown_ec = sec;
    });
    spawn([&]() -> asio::awaitable<void> {
      if (!co_await handshaken(pair.client)) co_return;
      client_read_ec = co_await read_error(pair.client);
      co_await pair.client.async_shutdown(kNoThrow);
    });
    run();
    EXPECT_TRUE(pair.server.own_records());
    ASSERT_TRUE(client_read_ec.has_value());
    EXPECT_EQ(*client_read_ec, asio::error::eof) << client_read_ec->message();
    ASSERT_TRUE(shutdown_ec.has_value());
    EXPECT_FALSE(*shutdown_ec) << shutdown_ec->message();
  }
  {
    Connected pair = connected();
    std::optional<error_code> read_ec;
    std::optional<error_code> client_shutdown_ec;
    spawn([&]() -> asio::awaitable<void> {
      pair.server.expires_after(std::chrono::seconds(5));
      if (!co_await handshaken(pair.server)) co_return;
      read_ec = co_await read_error(pair.server);
      co_await pair.server.async_shutdown(kNoThrow);
    });
    spawn([&]() -> asio::awaitable<void> {
      if (!co_await handshaken(pair.client)) co_return;
      auto [ec] = co_await pair.client.async_shutdown(kNoThrow);
      client_shutdown_ec = ec;
    });
    run();
    ASSERT_TRUE(read_ec.has_value());
    EXPECT_EQ(*read_ec, asio::error::eof) << read_ec->message();
    ASSERT_TRUE(client_shutdown_ec.has_value());
    EXPECT_FALSE(*client_shutdown_ec) << client_shutdown_ec->message();
  }
}

TEST_F(OwnRecordsTest, CorruptedRecordIsBadRecordMacAndTheNextConnectionWorks) {
  Connected pair = connected();
  const std::string forged = std::string("\x17\x03\x03\x00\x20", 5) + std::string(32, 'x');
  auto [server_ec, client_ec] = send_raw(pair, forged);
  EXPECT_TRUE(pair.server.own_records());
  EXPECT_NE(server_ec.message().find("bad record mac"), std::string::npos) << server_ec.message();
  EXPECT_NE(client_ec.message().find("bad record mac"), std::string::npos) << client_ec.message();
  Connected next = connected();
  EXPECT_EQ(echo(next, "again"), "again");
}

TEST_F(OwnRecordsTest, OversizedRecordIsRecordOverflow) {
  Connected pair = connected();
  const std::string header("\x17\x03\x03\x41\x01", 5);  // 16641 bytes: one too many
  auto [server_ec, client_ec] = send_raw(pair, header + std::string(100, 'x'));
  EXPECT_NE(server_ec.message().find("length too long"), std::string::npos) << server_ec.message();
  EXPECT_NE(client_ec.message().find("record overflow"), std::string::npos) << client_ec.message();
}

TEST_F(OwnRecordsTest, PeerEndingMidRecordIsTruncated) {
  Connected pair = connected();
  std::optional<error_code> read_ec;
  spawn([&]() -> asio::awaitable<void> {
    pair.server.expires_after(std::chrono::seconds(5));
    if (!co_await handshaken(pair.server)) co_return;
    read_ec = co_await read_error(pair.server);
  });
  spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(pair.client)) co_return;
    const std::string partial = std::string("\x17\x03\x03\x00\x40", 5) + std::string(10, 'x');
    co_await asio::async_write(pair.client.next_layer(), asio::buffer(partial), kNoThrow);
    error_code ignored;
    pair.client.next_layer().shutdown(tcp::socket::shutdown_send, ignored);
  });
  run();
  ASSERT_TRUE(read_ec.has_value());
  EXPECT_EQ(*read_ec, asio::ssl::error::stream_truncated) << read_ec->message();
}

// A second connection resumes the first one's session (a TLS 1.3 ticket); true when it did.
template <class Fixture>
bool resumes(Fixture& test) {
  SSL_SESSION* session = nullptr;
  {
    auto pair = test.connected();
    EXPECT_EQ(test.echo(pair, "first"), "first");  // the client read the tickets with the reply
    session = SSL_get1_session(pair.client.native_handle());
    // A client frees a session it did not close with close_notify as not resumable.
    test.spawn([&]() -> asio::awaitable<void> { co_await pair.server.async_shutdown(kNoThrow); });
    test.spawn([&]() -> asio::awaitable<void> { co_await pair.client.async_shutdown(kNoThrow); });
    test.run();
  }
  if (session == nullptr) return false;
  auto pair = test.connected();
  SSL_set_session(pair.client.native_handle(), session);
  SSL_SESSION_free(session);
  EXPECT_EQ(test.echo(pair, "second"), "second");
  EXPECT_EQ(pair.server.own_records(), pair.server.native_handle() == nullptr);
  return SSL_session_reused(pair.client.native_handle()) == 1;
}

// What the idle wait receives (the first KB of a record, in place) and what comes after it:
// messages of every size, each sent while the server waits between requests, read whole.
template <class Fixture>
void reads_after_idle_waits(Fixture& test) {
  auto pair = test.connected();
  const std::vector<size_t> sizes = {1, 700, 1002, 1003, 3000, 17000, 100000, 5, 700};
  std::string sent;
  std::string got;
  std::optional<error_code> end_ec;
  test.spawn([&]() -> asio::awaitable<void> {
    pair.server.expires_after(std::chrono::seconds(5));
    if (!co_await handshaken(pair.server)) co_return;
    boost::beast::flat_buffer buffer;
    for (;;) {
      if (auto ec = co_await read_or_wait(pair.server, buffer, 4096)) {
        end_ec = ec;
        break;
      }
      got.append(static_cast<const char*>(buffer.data().data()), buffer.size());
      buffer.consume(buffer.size());
    }
    co_await pair.server.async_shutdown(kNoThrow);
  });
  test.spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(pair.client)) co_return;
    for (size_t size : sizes) {
      // The server has read everything before: it is waiting again (or about to).
      while (got.size() < sent.size())
        co_await asio::post(pair.client.get_executor(), asio::use_awaitable);
      std::string message(size, '\0');
      for (size_t i = 0; i < size; ++i) message[i] = static_cast<char>('a' + (i + size) % 26);
      sent += message;
      co_await asio::async_write(pair.client, asio::buffer(message), kNoThrow);
    }
    co_await pair.client.async_shutdown(kNoThrow);
  });
  test.run();
  EXPECT_EQ(got.size(), sent.size());
  EXPECT_TRUE(got == sent);
  ASSERT_TRUE(end_ec.has_value());
  EXPECT_EQ(*end_ec, asio::error::eof) << end_ec->message();
}

// Copies `from` to `to` in pieces of `piece` bytes, letting the other coroutines (and the
// reactor) run between pieces, so that a record arrives in parts across the reader's waits.
asio::awaitable<void> relay(tcp::socket& from, tcp::socket& to, size_t piece) {
  char data[4096];
  for (;;) {
    auto [ec, n] = co_await from.async_read_some(asio::buffer(data), kNoThrow);
    if (ec) break;
    for (size_t at = 0; at < n; at += piece) {
      auto [wec, m] = co_await asio::async_write(
          to, asio::buffer(data + at, std::min(piece, n - at)), kNoThrow);
      if (wec) co_return;
      for (int i = 0; i < 4; ++i) co_await asio::post(to.get_executor(), asio::use_awaitable);
    }
  }
  error_code ignored;
  to.shutdown(tcp::socket::shutdown_send, ignored);
}

// The client's bytes reach the server in pieces (a record header alone, a body in parts).
template <class Fixture>
void reads_records_arriving_in_pieces(Fixture& test, size_t piece) {
  auto [server_socket, to_server] = test.connect_pair();
  auto [from_client, client_socket] = test.connect_pair();
  TlsStream server = test.server_stream(std::move(server_socket));
  Client client(std::move(client_socket), test.client_ctx_);
  std::string sent;
  for (size_t size : {1, 700, 3000, 20000}) {
    for (size_t i = 0; i < size; ++i) sent += static_cast<char>('A' + (i * 3 + size) % 26);
  }
  std::string got;
  std::optional<error_code> end_ec;
  test.spawn([&]() -> asio::awaitable<void> { co_await relay(from_client, to_server, piece); });
  test.spawn([&]() -> asio::awaitable<void> { co_await relay(to_server, from_client, 4096); });
  test.spawn([&]() -> asio::awaitable<void> {
    server.expires_after(std::chrono::seconds(5));
    if (!co_await handshaken(server)) co_return;
    boost::beast::flat_buffer buffer;
    for (;;) {
      if (auto ec = co_await read_or_wait(server, buffer, 4096)) {
        end_ec = ec;
        break;
      }
      got.append(static_cast<const char*>(buffer.data().data()), buffer.size());
      buffer.consume(buffer.size());
    }
    co_await server.async_shutdown(kNoThrow);
    error_code ignored;
    server.socket().close(ignored);  // the relays end
  });
  test.spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(client)) co_return;
    size_t at = 0;
    for (size_t size : {1, 700, 3000, 20000}) {
      co_await asio::async_write(client, asio::buffer(sent.data() + at, size), kNoThrow);
      at += size;
    }
    co_await client.async_shutdown(kNoThrow);
    error_code ignored;
    client.next_layer().close(ignored);
  });
  test.run();
  EXPECT_EQ(got.size(), sent.size()) << "pieces of " << piece;
  EXPECT_TRUE(got == sent) << "pieces of " << piece;
  ASSERT_TRUE(end_ec.has_value());
  EXPECT_EQ(*end_ec, asio::error::eof) << end_ec->message();
}

// A connection reset while the server waits between requests ends the wait with the reset
// (what the wait received from the socket, not the end of the stream the next read would see).
template <class Fixture>
void reset_while_idle_is_reset(Fixture& test) {
  auto pair = test.connected();
  bool waiting = false;
  std::optional<error_code> wait_ec;
  test.spawn([&]() -> asio::awaitable<void> {
    pair.server.expires_after(std::chrono::seconds(5));
    if (!co_await handshaken(pair.server)) co_return;
    boost::beast::flat_buffer buffer;
    waiting = true;
    wait_ec = co_await read_or_wait(pair.server, buffer, 4096);
  });
  test.spawn([&]() -> asio::awaitable<void> {
    if (!co_await handshaken(pair.client)) co_return;
    while (!waiting) co_await asio::post(pair.client.get_executor(), asio::use_awaitable);
    tcp::socket& socket = pair.client.next_layer();
    socket.set_option(asio::socket_base::linger(true, 0));  // close sends RST
    error_code ignored;
    socket.close(ignored);
  });
  test.run();
  ASSERT_TRUE(wait_ec.has_value());
  EXPECT_EQ(*wait_ec, asio::error::connection_reset) << wait_ec->message();
}

TEST_F(TlsStreamTest, ReadsAfterIdleWaitsOfEverySize) {
  reads_after_idle_waits(*this);
}

TEST_F(OwnRecordsTest, ReadsAfterIdleWaitsOfEverySize) {
  reads_after_idle_waits(*this);
}

TEST_F(TlsStreamTest, ReadsRecordsArrivingInPieces) {
  for (size_t piece : {3, 700, 1500}) reads_records_arriving_in_pieces(*this, piece);
}

TEST_F(OwnRecordsTest, ReadsRecordsArrivingInPieces) {
  for (size_t piece : {3, 700, 1500}) reads_records_arriving_in_pieces(*this, piece);
}

TEST_F(TlsStreamTest, ResetWhileIdleIsReset) {
  reset_while_idle_is_reset(*this);
}

TEST_F(OwnRecordsTest, ResetWhileIdleIsReset) {
  reset_while_idle_is_reset(*this);
}

TEST_F(TlsStreamTest, SessionResumption) {
  EXPECT_TRUE(resumes(*this));
}

TEST_F(OwnRecordsTest, SessionResumptionStillWorks) {
  EXPECT_TRUE(resumes(*this));
}

}  // namespace
}  // namespace gatedrill::gateway
