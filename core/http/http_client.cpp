#include "core/http/http_client.hpp"

#include <charconv>
#include <optional>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "core/util/strings.hpp"

namespace gatedrill {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

// ---- Url ----

Result<Url> Url::parse(std::string_view text) {
  auto bad = [&](const std::string& what) {
    return make_error("bad_url", "'" + std::string(text) + "': " + what);
  };
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      return bad("contains whitespace or control characters");
  }
  Url url;
  auto scheme_end = text.find("://");
  if (scheme_end == std::string_view::npos || scheme_end == 0)
    return bad("missing scheme (http:// or https://)");
  url.scheme = to_lower(text.substr(0, scheme_end));
  if (url.scheme != "http" && url.scheme != "https")
    return bad("unsupported scheme '" + url.scheme + "'");
  std::string_view rest = text.substr(scheme_end + 3);

  auto authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view target =
      authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) return bad("user info is not supported");

  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("unterminated '[' in IPv6 host");
    url.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("unexpected text after IPv6 host");
      port_text = after.substr(1);
      if (port_text.empty()) return bad("empty port");
    }
  } else {
    auto colon = authority.find(':');
    url.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      if (authority.find(':', colon + 1) != std::string_view::npos) {
        return bad("IPv6 hosts need brackets, e.g. http://[::1]:8080/");
      }
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return bad("empty port");
    }
  }
  if (url.host.empty()) return bad("missing host");

  if (port_text.empty()) {
    url.port = url.scheme == "https" ? 443 : 80;
  } else {
    unsigned long port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec == std::errc::result_out_of_range) return bad("port out of range");
    if (ec != std::errc() || end != port_text.data() + port_text.size()) {
      return bad("port '" + std::string(port_text) + "' is not a number");
    }
    if (port == 0 || port > 65535) return bad("port out of range (1-65535)");
    url.port = static_cast<uint16_t>(port);
  }

  target = target.substr(0, target.find('#'));  // fragments never go on the wire
  if (target.empty()) {
    url.target = "/";
  } else if (target.front() == '?') {
    url.target = "/" + std::string(target);
  } else {
    url.target = std::string(target);
  }
  return url;
}

std::string Url::authority() const {
  std::string host_part = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return host_part + ":" + std::to_string(port);
}

std::string Url::str() const {
  return scheme + "://" + authority() + target;
}

// ---- http_request ----

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr uint64_t kMaxResponseBody = 64ull << 20;

struct Exchange {
  const Url& url;
  tcp::resolver& resolver;
  http::request<http::string_body> request;
  std::optional<Result<HttpResponse>> result;
  bool timed_out = false;
};

Error failure(const Exchange& exchange, const char* code, const std::string& what,
              const beast::error_code& ec) {
  if (exchange.timed_out) {
    return make_error("timeout",
                      exchange.url.str() + ": no complete answer in time (" + what + ")");
  }
  return make_error(code, exchange.url.str() + ": " + what + ": " + ec.message());
}

HttpResponse from_beast(http::response<http::string_body>&& in) {
  HttpResponse out;
  out.status = static_cast<int>(in.result_int());
  out.content_type = std::string(in[http::field::content_type]);
  for (const auto& field : in) {
    out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = std::move(in.body());
  return out;
}

template <class Stream>
asio::awaitable<Result<HttpResponse>> write_and_read(Stream& stream, Exchange& exchange) {
  auto [write_ec, write_n] = co_await http::async_write(stream, exchange.request, kNoThrow);
  (void)write_n;
  if (write_ec) co_return failure(exchange, "protocol_error", "sending the request", write_ec);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBody);
  if (exchange.request.method() == http::verb::head) parser.skip(true);
  auto [read_ec, read_n] = co_await http::async_read(stream, buffer, parser, kNoThrow);
  (void)read_n;
  if (read_ec) co_return failure(exchange, "protocol_error", "reading the response", read_ec);
  co_return from_beast(parser.release());
}

asio::awaitable<Result<HttpResponse>> connect(beast::tcp_stream& stream, Exchange& exchange) {
  auto [resolve_ec, endpoints] = co_await exchange.resolver.async_resolve(
      exchange.url.host, std::to_string(exchange.url.port), kNoThrow);
  if (resolve_ec)
    co_return failure(exchange, "connect_failed", "resolving " + exchange.url.host, resolve_ec);
  auto [connect_ec, endpoint] = co_await stream.async_connect(endpoints, kNoThrow);
  (void)endpoint;
  if (connect_ec) co_return failure(exchange, "connect_failed", "connecting", connect_ec);
  co_return HttpResponse{};
}

asio::awaitable<void> run_plain(beast::tcp_stream& stream, Exchange& exchange) {
  auto connected = co_await connect(stream, exchange);
  if (!connected) {
    exchange.result = std::move(connected);
    co_return;
  }
  exchange.result = co_await write_and_read(stream, exchange);
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

asio::awaitable<void> run_tls(beast::ssl_stream<beast::tcp_stream>& stream, Exchange& exchange) {
  auto connected = co_await connect(beast::get_lowest_layer(stream), exchange);
  if (!connected) {
    exchange.result = std::move(connected);
    co_return;
  }
  auto [handshake_ec] = co_await stream.async_handshake(asio::ssl::stream_base::client, kNoThrow);
  if (handshake_ec) {
    exchange.result = failure(exchange, "tls_failed", "TLS handshake", handshake_ec);
    co_return;
  }
  exchange.result = co_await write_and_read(stream, exchange);
  // No TLS close_notify exchange: the answer is complete and many servers just close.
  beast::error_code ec;
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
}

Result<std::unique_ptr<asio::ssl::context>> make_tls_context(const Url& url,
                                                             const HttpClientOptions& options) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  beast::error_code ec;
  if (options.verify_peer) {
    if (options.ca_file.empty()) {
      ctx->set_default_verify_paths(ec);
    } else {
      ctx->load_verify_file(options.ca_file, ec);
    }
    if (ec) {
      return make_error("tls_failed",
                        "cannot load CA bundle '" + options.ca_file + "': " + ec.message());
    }
    ctx->set_verify_mode(asio::ssl::verify_peer);
    ctx->set_verify_callback(asio::ssl::host_name_verification(url.host));
  } else {
    ctx->set_verify_mode(asio::ssl::verify_none);
  }
  if (!options.client_cert_file.empty()) {
    ctx->use_certificate_chain_file(options.client_cert_file, ec);
    if (ec) {
      return make_error("tls_failed", "cannot load client certificate '" +
                                          options.client_cert_file + "': " + ec.message());
    }
    const std::string& key =
        options.client_key_file.empty() ? options.client_cert_file : options.client_key_file;
    ctx->use_private_key_file(key, asio::ssl::context::pem, ec);
    if (ec)
      return make_error("tls_failed", "cannot load client key '" + key + "': " + ec.message());
  }
  return ctx;
}

bool is_ip_literal(const std::string& host) {
  beast::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

}  // namespace

Result<HttpResponse> http_request(std::string_view method, std::string_view url_text,
                                  const HeaderList& headers, std::string_view body,
                                  const HttpClientOptions& options) {
  auto url = Url::parse(url_text);
  if (!url) return url.error();

  // A private io_context per call: this is a control-plane client, simplicity over speed.
  asio::io_context io(1);
  tcp::resolver resolver(io);
  Exchange exchange{*url, resolver, {}, std::nullopt};
  auto verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) {
    exchange.request.method_string(method);
  } else {
    exchange.request.method(verb);
  }
  exchange.request.target(url->target);
  exchange.request.version(11);
  exchange.request.set(http::field::host, url->authority());
  exchange.request.set(http::field::user_agent, "gatedrill");
  for (const auto& [name, value] : headers) exchange.request.set(name, value);
  exchange.request.body() = std::string(body);
  exchange.request.keep_alive(false);
  exchange.request.prepare_payload();

  beast::tcp_stream plain(io);
  std::unique_ptr<asio::ssl::context> tls_context;
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  if (url->scheme == "https") {
    auto ctx = make_tls_context(*url, options);
    if (!ctx) return ctx.error();
    tls_context = std::move(*ctx);
    tls = std::make_unique<beast::ssl_stream<beast::tcp_stream>>(io, *tls_context);
    if (!is_ip_literal(url->host) &&
        !SSL_set_tlsext_host_name(tls->native_handle(), url->host.c_str())) {
      return make_error("tls_failed", url->str() + ": cannot set SNI host name");
    }
  }

  // One deadline for the whole exchange: when it fires, closing the socket fails whatever
  // operation is in progress, and the failure is reported as a timeout.
  asio::steady_timer deadline(io);
  deadline.expires_after(options.timeout);
  deadline.async_wait([&](const beast::error_code& ec) {
    if (ec) return;
    exchange.timed_out = true;
    exchange.resolver.cancel();
    beast::error_code ignored;
    auto& socket = tls ? beast::get_lowest_layer(*tls).socket() : plain.socket();
    // Cancelling covers the resolve/connect steps, where the socket may not be open yet.
    if (tls) {
      beast::get_lowest_layer(*tls).cancel();
    } else {
      plain.cancel();
    }
    socket.close(ignored);
  });

  auto on_done = [&](std::exception_ptr error) {
    deadline.cancel();
    if (error && !exchange.result) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        exchange.result = make_error("protocol_error", url->str() + ": " + e.what());
      }
    }
  };
  if (tls) {
    asio::co_spawn(io, run_tls(*tls, exchange), on_done);
  } else {
    asio::co_spawn(io, run_plain(plain, exchange), on_done);
  }
  io.run();
  if (!exchange.result)
    return make_error("protocol_error", url->str() + ": the exchange did not finish");
  return std::move(*exchange.result);
}

}  // namespace gatedrill
