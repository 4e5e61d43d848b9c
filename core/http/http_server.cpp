#include "core/http/http_server.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace gatedrill {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
// A TLS handshake or a final write gets this long, whatever the idle timeout.
constexpr std::chrono::seconds kHandshakeTimeout{10};

struct Route {
  std::string method;
  std::string path;
  bool prefix = false;
  HttpHandler handler;
};

// Malformed input (as opposed to a timeout, a reset, or a client that left mid-request).
bool is_parse_error(const beast::error_code& ec) {
  static const auto& category = http::make_error_code(http::error::bad_target).category();
  return ec.category() == category && ec != http::error::end_of_stream &&
         ec != http::error::partial_message;
}

bool path_matches(const Route& route, std::string_view path) {
  if (!route.prefix) return path == route.path;
  return path.substr(0, route.path.size()) == route.path;
}

HttpRequest to_request(http::request<http::string_body>&& in, const std::string& remote) {
  HttpRequest out;
  out.method = std::string(in.method_string());
  out.target = std::string(in.target());
  auto question = out.target.find('?');
  out.path = out.target.substr(0, question);
  if (question != std::string::npos) out.query = out.target.substr(question + 1);
  for (const auto& field : in) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = std::move(in.body());
  out.remote = remote;
  return out;
}

http::response<http::string_body> to_beast(const HttpResponse& in, unsigned version,
                                           bool keep_alive) {
  http::response<http::string_body> out;
  out.version(version);
  out.result(static_cast<unsigned>(in.status));
  if (!in.content_type.empty()) out.set(http::field::content_type, in.content_type);
  for (const auto& [name, value] : in.headers) out.insert(name, value);
  out.body() = in.body;
  out.keep_alive(keep_alive);
  out.prepare_payload();
  return out;
}

std::string endpoint_text(const tcp::endpoint& endpoint) {
  auto address = endpoint.address();
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(endpoint.port());
}

}  // namespace

namespace {

// The verified client certificate as PEM; "" when the client sent none.
std::string peer_certificate(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return {};
  std::string pem;
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    if (PEM_write_bio_X509(bio, cert) == 1) {
      char* data = nullptr;
      const long n = BIO_get_mem_data(bio, &data);
      if (n > 0) pem.assign(data, static_cast<size_t>(n));
    }
    BIO_free(bio);
  }
  X509_free(cert);
  return pem;
}

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  std::vector<Route> routes;
  // Declared before the io_context: TLS streams in abandoned sessions may refer to it until the
  // io_context destroys their handlers.
  std::unique_ptr<asio::ssl::context> ssl;
  asio::io_context io;
  tcp::acceptor acceptor{io};
  std::vector<std::thread> threads;
  std::mutex stop_mutex;
  bool started = false;
  bool stopped = false;
  uint16_t bound_port = 0;

  explicit Impl(HttpServerOptions o) : options(std::move(o)), io(std::max(1, options.threads)) {}

  HttpResponse dispatch(const HttpRequest& request) const {
    bool path_found = false;
    std::string allowed;
    for (const auto& route : routes) {
      if (!path_matches(route, request.path)) continue;
      path_found = true;
      if (route.method == "*" || route.method == request.method) {
        try {
          return route.handler(request);
        } catch (const std::exception& e) {
          return json_error(500, "internal_error", std::string("handler failed: ") + e.what());
        } catch (...) {
          return json_error(500, "internal_error", "handler failed with an unknown exception");
        }
      }
      if (!allowed.empty()) allowed += ", ";
      allowed += route.method;
    }
    if (!path_found) return json_error(404, "not_found", "no route for " + request.path);
    auto response = json_error(405, "method_not_allowed",
                               request.method + " is not allowed on " + request.path);
    response.headers.emplace_back("Allow", allowed);
    return response;
  }

  // Answers a request the parser rejected, then the caller closes the connection.
  template <class Stream>
  asio::awaitable<void> reject(Stream& stream, const beast::error_code& ec) {
    HttpResponse response =
        ec == http::error::body_limit
            ? json_error(
                  413, "body_too_large",
                  "request body exceeds " + std::to_string(options.max_body_bytes) + " bytes")
            : json_error(400, "bad_request", "malformed request: " + ec.message());
    auto out = to_beast(response, 11, false);
    beast::get_lowest_layer(stream).expires_after(kHandshakeTimeout);
    co_await http::async_write(stream, out, kNoThrow);
  }

  template <class Stream>
  asio::awaitable<void> serve(Stream& stream, std::string remote, std::string peer_pem = {}) {
    beast::flat_buffer buffer;
    for (;;) {
      // A fresh parser per request, so limits and state never leak between requests.
      http::request_parser<http::string_body> parser;
      parser.body_limit(options.max_body_bytes);
      beast::get_lowest_layer(stream).expires_after(options.idle_timeout);
      auto [read_ec, read_n] = co_await http::async_read(stream, buffer, parser, kNoThrow);
      (void)read_n;
      if (read_ec) {
        if (is_parse_error(read_ec)) co_await reject(stream, read_ec);
        co_return;
      }
      auto message = parser.release();
      const unsigned version = message.version();
      const bool wants_keep_alive = message.keep_alive();
      HttpRequest request = to_request(std::move(message), remote);
      request.peer_certificate_pem = peer_pem;
      HttpResponse response = dispatch(request);
      if (response.delay.count() > 0) {
        // Waits on a timer, so a slow response does not hold a worker thread.
        asio::steady_timer timer(co_await asio::this_coro::executor);
        timer.expires_after(response.delay);
        co_await timer.async_wait(kNoThrow);
      }
      const bool keep_alive = wants_keep_alive && !response.close;
      auto out = to_beast(response, version, keep_alive);
      beast::get_lowest_layer(stream).expires_after(options.idle_timeout);
      auto [write_ec, write_n] = co_await http::async_write(stream, out, kNoThrow);
      (void)write_n;
      if (write_ec || !keep_alive) co_return;
    }
  }

  asio::awaitable<void> session_plain(tcp::socket socket) {
    beast::error_code ec;
    std::string remote = endpoint_text(socket.remote_endpoint(ec));
    beast::tcp_stream stream(std::move(socket));
    co_await serve(stream, std::move(remote));
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  asio::awaitable<void> session_tls(tcp::socket socket) {
    beast::error_code ec;
    std::string remote = endpoint_text(socket.remote_endpoint(ec));
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *ssl);
    beast::get_lowest_layer(stream).expires_after(kHandshakeTimeout);
    auto [handshake_ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kNoThrow);
    if (handshake_ec) co_return;
    co_await serve(stream, std::move(remote), peer_certificate(stream.native_handle()));
    beast::get_lowest_layer(stream).expires_after(kHandshakeTimeout);
    co_await stream.async_shutdown(kNoThrow);
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      // Each connection gets its own strand, so its timeouts and I/O never run concurrently
      // while the io_context has several threads.
      auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(io), kNoThrow);
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) {
        // e.g. EMFILE: keep serving the connections we have, and retry a little later
        // rather than spinning on an accept that fails at once.
        asio::steady_timer pause(io, std::chrono::milliseconds(50));
        co_await pause.async_wait(kNoThrow);
        continue;
      }
      auto executor = socket.get_executor();
      if (ssl) {
        asio::co_spawn(executor, session_tls(std::move(socket)), asio::detached);
      } else {
        asio::co_spawn(executor, session_plain(std::move(socket)), asio::detached);
      }
    }
  }

  Result<void> load_tls() {
    ssl = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX_set_min_proto_version(ssl->native_handle(), TLS1_2_VERSION);
    ssl->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::single_dh_use);
    beast::error_code ec;
    ssl->use_certificate_chain_file(options.tls->cert_chain_file, ec);
    if (ec) {
      return make_error("tls_config", "cannot load certificate chain " +
                                          options.tls->cert_chain_file + ": " + ec.message());
    }
    ssl->use_private_key_file(options.tls->key_file, asio::ssl::context::pem, ec);
    if (ec) {
      return make_error("tls_config",
                        "cannot load private key " + options.tls->key_file + ": " + ec.message());
    }
    if (!options.tls_client_ca_file.empty()) {
      const std::string& ca = options.tls_client_ca_file;
      ssl->load_verify_file(ca, ec);
      if (ec) return make_error("tls_config", "cannot load client CA " + ca + ": " + ec.message());
      // Optional: no FAIL_IF_NO_PEER_CERT, the handler decides what a missing one means.
      ssl->set_verify_mode(asio::ssl::verify_peer, ec);
      // Tells clients which CAs are accepted; also needed for session resumption with
      // client verification.
      SSL_CTX_set_client_CA_list(ssl->native_handle(), SSL_load_client_CA_file(ca.c_str()));
      static const unsigned char kContext[] = "gatedrill-http";
      SSL_CTX_set_session_id_context(ssl->native_handle(), kContext, sizeof kContext - 1);
    }
    return {};
  }

  Result<void> bind() {
    const std::string where = options.bind_address + ":" + std::to_string(options.port);
    beast::error_code ec;
    auto address = asio::ip::make_address(options.bind_address, ec);
    if (ec) return make_error("bind_failed", "cannot bind " + where + ": bad address");
    tcp::endpoint endpoint(address, options.port);
    acceptor.open(endpoint.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && options.reuse_port) {
      acceptor.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
    }
    if (!ec) acceptor.bind(endpoint, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      acceptor.close();
      return make_error("bind_failed", "cannot bind " + where + ": " + ec.message());
    }
    bound_port = acceptor.local_endpoint().port();
    return {};
  }
};

HttpServer::HttpServer(HttpServerOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::route(std::string method, std::string path, HttpHandler handler) {
  Route route;
  route.method = std::move(method);
  if (!path.empty() && path.back() == '*') {
    route.prefix = true;
    path.pop_back();
  }
  route.path = std::move(path);
  route.handler = std::move(handler);
  impl_->routes.push_back(std::move(route));
}

Result<void> HttpServer::start() {
  std::lock_guard lock(impl_->stop_mutex);
  if (impl_->started) return make_error("bind_failed", "server already started");
  if (impl_->options.tls) {
    auto loaded = impl_->load_tls();
    if (!loaded) return loaded;
  }
  auto bound = impl_->bind();
  if (!bound) return bound;
  impl_->started = true;
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  const int threads = std::max(1, impl_->options.threads);
  for (int i = 0; i < threads; ++i) {
    impl_->threads.emplace_back([this] { impl_->io.run(); });
  }
  return {};
}

void HttpServer::stop() {
  std::lock_guard lock(impl_->stop_mutex);
  if (!impl_->started || impl_->stopped) return;
  impl_->stopped = true;
  // Stopping the io_context abandons open sessions (their handlers are destroyed with the
  // io_context); once the threads are gone nothing else touches the acceptor.
  impl_->io.stop();
  for (auto& thread : impl_->threads) {
    if (thread.joinable()) thread.join();
  }
  impl_->threads.clear();
  beast::error_code ec;
  impl_->acceptor.close(ec);
}

uint16_t HttpServer::port() const {
  return impl_->bound_port;
}

}  // namespace gatedrill
