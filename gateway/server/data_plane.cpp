#include "gateway/server/data_plane.hpp"

#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "core/crypto/openssl_ptr.hpp"
#include "core/http/h1_response_parser.hpp"
#include "core/util/strings.hpp"
#include "gateway/proxy/h1_relay.hpp"
#include "gateway/proxy/h2_upstream.hpp"
#include "gateway/proxy/header_rules.hpp"
#include "gateway/server/grpc_status.hpp"
#include "gateway/server/h1_guard.hpp"
#include "gateway/server/h1_request_head.hpp"
#include "gateway/server/h2_session.hpp"
#include "gateway/server/h2_tunnel.hpp"
#include "gateway/server/spiffe_identity.hpp"
#include "gateway/server/stream_pipe.hpp"
#include "gateway/server/tls_stream.hpp"
#include "gateway/server/websocket_key.hpp"

namespace gatedrill::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::seconds kHandshakeTimeout{10};  // to the first bytes; then the handshake
// A connection whose ClientHello arrived while its worker ran max_handshakes_in_flight waits for
// a slot this long at most.
constexpr std::chrono::seconds kHandshakeQueueTimeout{30};
// listen(2)'s backlog: the kernel silently caps it at net.core.somaxconn, so a machine tuned for
// floods of connections gets its full setting.
constexpr int kListenBacklog = 65535;
// An upstream's response head over this is an error (Beast's parser default, kept).
constexpr size_t kUpstreamHeadLimit = 8 * 1024;
constexpr size_t kUpstreamReadSize = 4096;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

const char* status_phrase(int status) {
  switch (status) {
    case 400:
      return "bad request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not found";
    case 413:
      return "payload too large";
    case 414:
      return "uri too long";
    case 429:
      return "too many requests";
    case 431:
      return "request header fields too large";
    case 500:
      return "internal error";
    case 502:
      return "bad gateway";
    case 503:
      return "service unavailable";
    case 504:
      return "gateway timeout";
    default:
      return "error";
  }
}

bool is_parse_error(const beast::error_code& ec) {
  static const auto& category = http::make_error_code(http::error::bad_target).category();
  return ec.category() == category && ec != http::error::end_of_stream &&
         ec != http::error::partial_message;
}

// A short random id per request (x-request-id): 128 bits as hex, in place (a std::string of
// 32 characters is a heap allocation per request).
struct RequestId {
  char text[32];
  std::string_view view() const { return {text, sizeof text}; }
};

RequestId make_request_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  RequestId id;
  for (int half = 0; half < 2; ++half) {
    uint64_t v = rng();
    for (int i = 0; i < 16; ++i) id.text[half * 16 + i] = kHex[(v >> (i * 4)) & 0xf];
  }
  return id;
}

std::string endpoint_text(const tcp::endpoint& endpoint) {
  return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

// "http://host/p?q" -> "/p?q" (the guard already checked the host against Host), appended.
void append_origin_form(std::string_view target, std::string& out) {
  if (!target.empty() && target[0] == '/') {  // already origin-form: the usual case
    out.append(target);
    return;
  }
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size() && iequals(target.substr(0, scheme.size()), scheme)) {
      auto rest = target.substr(scheme.size());
      auto slash = rest.find_first_of("/?");
      if (slash == std::string_view::npos || rest[slash] == '?') out.push_back('/');
      if (slash != std::string_view::npos) out.append(rest.substr(slash));
      return;
    }
  }
  out.append(target);
}
std::string origin_form(std::string_view target) {
  std::string out;
  append_origin_form(target, out);
  return out;
}

// A client's request field that the gateway itself sets upstream (x-request-id,
// x-forwarded-for/-proto) or that only the gateway may set (x-gatedrill-*, x-envoy-*).
bool set_by_gateway(std::string_view name) {
  switch (name.size()) {
    case 12:
      if (equals_lower(name, "x-request-id")) return true;
      break;
    case 15:
      if (equals_lower(name, "x-forwarded-for")) return true;
      break;
    case 17:
      if (equals_lower(name, "x-forwarded-proto")) return true;
      break;
    default:
      break;
  }
  return name.size() > 8 && (name[0] == 'x' || name[0] == 'X') && name[1] == '-' &&
         is_internal_header(name);
}

void append_field(std::string& wire, std::string_view name, std::string_view value) {
  wire.append(name);
  wire.append(": ");
  wire.append(value);
  wire.append("\r\n");
}

struct Rejection {
  int status;
  std::string reason;
  std::string message;
};

// ALPN on the TLS listeners: the server's preference, h2 first (RFC 7301).
int select_alpn(const unsigned char* ours, unsigned ours_len, const unsigned char** out,
                unsigned char* out_len, const unsigned char* in, unsigned in_len) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_len, ours, ours_len, in, in_len) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK;  // no common protocol: go on without ALPN (HTTP/1.1)
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}
int select_alpn_h2(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                   unsigned in_len, void*) {
  static constexpr unsigned char kProtocols[] = {2,   'h', '2', 8,   'h', 't',
                                                 't', 'p', '/', '1', '.', '1'};
  return select_alpn(kProtocols, sizeof kProtocols, out, out_len, in, in_len);
}
int select_alpn_h1(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                   unsigned in_len, void*) {
  static constexpr unsigned char kProtocols[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  return select_alpn(kProtocols, sizeof kProtocols, out, out_len, in, in_len);
}

// A WebSocket opening handshake (RFC 6455 section 4.1): GET, Upgrade: websocket, Connection
// naming upgrade.
bool is_websocket_upgrade(const Request& request) {
  if (request.method() != http::verb::get || request.version() < 11) return false;
  if (!iequals(trim(request[http::field::upgrade]), "websocket")) return false;
  for (auto token : split(request[http::field::connection], ','))
    if (iequals(trim(token), "upgrade")) return true;
  return false;
}

bool negotiated_h2(SSL* ssl) {
  const unsigned char* protocol = nullptr;
  unsigned length = 0;
  SSL_get0_alpn_selected(ssl, &protocol, &length);
  return length == 2 && protocol[0] == 'h' && protocol[1] == '2';
}

// `message` as HTTP/1.x puts it on the wire: the start line, the fields in order, a blank line,
// the body; what Beast's serializer writes for a message of known length, but into one buffer
// that the connection keeps (so one write, one TLS record, no allocation once it has grown)
// and without the serializer's buffer-sequence iteration (about 17,000 instructions per
// message under callgrind). Not for chunked messages.
template <bool isRequest>
void serialize_message(const http::message<isRequest, http::string_body>& message,
                       std::string& wire) {
  wire.clear();
  const unsigned version = message.version();
  const char http_version[] = {'H', 'T',
                               'T', 'P',
                               '/', static_cast<char>('0' + version / 10),
                               '.', static_cast<char>('0' + version % 10)};
  const std::string_view version_text(http_version, sizeof http_version);
  if constexpr (isRequest) {
    wire.append(message.method_string());
    wire.push_back(' ');
    wire.append(message.target());
    wire.push_back(' ');
    wire.append(version_text);
  } else {
    const unsigned status = message.result_int();
    wire.append(version_text);
    const char code[] = {' ', static_cast<char>('0' + status / 100 % 10),
                         static_cast<char>('0' + status / 10 % 10),
                         static_cast<char>('0' + status % 10), ' '};
    wire.append(code, sizeof code);
    wire.append(message.reason());
  }
  wire.append("\r\n");
  for (const auto& field : message) {
    wire.append(field.name_string());
    wire.append(": ");
    wire.append(field.value());
    wire.append("\r\n");
  }
  wire.append("\r\n");
  wire.append(message.body());
}

}  // namespace

std::string local_reply_body(int status, std::string_view reason, std::string_view message) {
  boost::json::object body{{"error", status_phrase(status)}, {"reason", reason}};
  if (!message.empty()) body["message"] = message;
  return boost::json::serialize(body);
}

namespace {

// A cluster's addresses; with least_requests, the requests in flight to each.
struct EndpointSet {
  std::vector<tcp::endpoint> addresses;
  std::vector<std::string> authorities;  // "host:port" as configured: the Host header
  std::vector<std::string> hosts;        // the name an https:// endpoint's certificate carries
  std::unique_ptr<std::atomic<int>[]> active;
};

// Why a request to a cluster failed, for the per-cluster metrics (fixed: no label explosion).
constexpr std::array<std::string_view, 10> kClusterReasons = {
    "upstream_connect_error", "upstream_timeout",   "upstream_reset", "upstream_tls_error",
    "upstream_refused",       "max_connections",    "max_pending",    "max_requests",
    "circuit_open",           "no_healthy_upstream"};

// A request waiting for a connection slot (max_pending): woken when a connection closes.
struct SlotWaiter {
  explicit SlotWaiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  bool woken = false;  // guarded by the cluster's waiters_mutex
};

struct ClusterState {
  ClusterState(const TimeSource& time, ClusterOptions o, size_t i)
      : options(std::move(o)), index(i), breaker(time, options.breaker) {}
  ClusterOptions options;
  size_t index;
  std::shared_ptr<asio::ssl::context> ssl;   // https:// clusters
  bool dynamic = false;                      // endpoints from discovery
  std::shared_ptr<const EndpointSet> fixed;  // static endpoints
  mutable std::mutex endpoints_mutex;
  std::shared_ptr<const EndpointSet> discovered;
  std::atomic<uint64_t> next{0};  // round robin
  std::atomic<size_t> connections{0};
  std::atomic<size_t> requests{0};
  std::atomic<size_t> pending{0};
  std::atomic<uint64_t> total{0};
  std::array<std::atomic<uint64_t>, kClusterReasons.size()> errors{};
  CircuitBreaker breaker;
  std::mutex waiters_mutex;
  std::deque<std::shared_ptr<SlotWaiter>> waiters;

  void count_error(std::string_view reason) {
    for (size_t i = 0; i < kClusterReasons.size(); ++i)
      if (kClusterReasons[i] == reason) errors[i].fetch_add(1, std::memory_order_relaxed);
  }

  // Wakes one request waiting for a slot (a connection just closed or is not kept).
  void wake_one() {
    if (pending.load(std::memory_order_relaxed) == 0) return;
    std::lock_guard lock(waiters_mutex);
    while (!waiters.empty()) {
      auto waiter = std::move(waiters.front());
      waiters.pop_front();
      if (waiter->woken) continue;
      waiter->woken = true;
      asio::post(waiter->timer.get_executor(), [waiter] { waiter->timer.cancel(); });
      return;
    }
  }
};

// The endpoint chosen for one request. `hold` keeps a discovered set alive while in use.
struct Pick {
  const EndpointSet* set = nullptr;
  size_t i = 0;
  std::shared_ptr<const EndpointSet> hold;
  bool least_requests = false;
  explicit operator bool() const { return set != nullptr; }
  const tcp::endpoint& endpoint() const { return set->addresses[i]; }
  const std::string& authority() const { return set->authorities[i]; }
  const std::string& host() const { return set->hosts[i]; }
};

// One kept-alive connection to an upstream endpoint, with the bytes read past the last response.
// Counted in its cluster's open connections for its whole life.
struct UpstreamConn {
  UpstreamConn(asio::io_context& io, ClusterState& c, const tcp::endpoint& to)
      : stream(io), cluster(c), endpoint(to) {
    ++cluster.connections;
  }
  ~UpstreamConn() {
    --cluster.connections;
    cluster.wake_one();  // a slot is free
  }
  UpstreamConn(const UpstreamConn&) = delete;
  UpstreamConn& operator=(const UpstreamConn&) = delete;
  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : stream; }
  beast::tcp_stream stream;  // the TCP connection; moved into `tls` for an https:// cluster
  std::unique_ptr<beast::ssl_stream<beast::tcp_stream>> tls;
  ClusterState& cluster;
  tcp::endpoint endpoint;
  beast::flat_buffer buffer;
  std::string wire;  // the request being written (serialize_message)
};

// A WebSocket handshake's upstream connection, once the upstream switched protocols, and the
// status the client sees for the switch: the 101 itself over HTTP/1.1, 200 over HTTP/2 (RFC
// 8441). The decision log and the metrics record that one, as Envoy's access log does.
struct Upgrade {
  explicit Upgrade(int accepted) : accepted_status(accepted) {}
  std::unique_ptr<UpstreamConn> conn;
  int accepted_status;
};

// Where handle() writes an HTTP/1.1 client's answer relayed from an HTTP/1.1 upstream.
struct H1Reply {
  std::string& wire;  // the client connection's write buffer
  bool written = false;
  bool keep_alive = false;
};

// A gRPC call's part of its decision-log record.
struct GrpcTally {
  int status = -1;
  uint64_t request_bytes = 0;
  uint64_t response_bytes = 0;
};

// A connection waiting for a handshake slot: woken (granted) when a handshake ends.
struct HandshakeWaiter {
  explicit HandshakeWaiter(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  bool granted = false;
};

struct Worker {
  // One thread runs it and every socket and timer on it is used from that thread only (an
  // accepted socket is registered from the accepting thread, before this one sees it): no
  // per-descriptor locking. Posting to it from other threads stays safe (the scheduler locks).
  asio::io_context io{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  // Idle connections per cluster (touched only from this worker's thread).
  std::vector<std::vector<std::unique_ptr<UpstreamConn>>> idle;
  // gRPC: multiplexed h2 connections per cluster and endpoint ([cluster][endpoint] for fixed
  // endpoints, by address for discovered ones; `grpc_override` to --grpc-upstream).
  std::vector<std::vector<std::unique_ptr<h2::H2Pool>>> grpc_pools;
  std::vector<std::map<tcp::endpoint, std::shared_ptr<h2::H2Pool>>> grpc_discovered;
  h2::H2Pool grpc_override;
  std::thread thread;
  // TLS handshakes running (at most max_handshakes_in_flight) and the connections whose
  // ClientHello arrived waiting for one to end, first come first served (this thread only; the
  // counts are read by the metrics too).
  std::atomic<size_t> handshakes{0};
  std::atomic<size_t> handshakes_waiting{0};
  std::deque<std::shared_ptr<HandshakeWaiter>> handshake_queue;
};

}  // namespace

struct DataPlane::Impl {
  const TimeSource& time;
  DataPlaneOptions options;
  RequestFilter filter;
  DataPlaneHooks hooks;
  // The current TLS contexts. Each session holds the one it started with, so a reload (new
  // certificates, trust bundle or CRL) applies to new connections and drops none.
  std::mutex tls_mutex;
  std::shared_ptr<asio::ssl::context> ssl;
  std::shared_ptr<asio::ssl::context> mtls_ssl;

  std::shared_ptr<asio::ssl::context> current_ssl(bool mtls) {
    std::lock_guard lock(tls_mutex);
    return mtls ? mtls_ssl : ssl;
  }
  std::vector<std::unique_ptr<Worker>> workers;
  std::atomic<uint64_t> handshakes_ended{0};   // TLS and mTLS, for trim_loop
  std::atomic<uint64_t> handshakes_queued{0};  // handshakes that waited for a slot
  std::atomic<uint64_t> handshakes_done{0};    // handshakes that succeeded
  // Connections past a handshake deadline: [0] first bytes, [1] slot, [2] the handshake.
  std::array<std::atomic<uint64_t>, 3> handshake_timeouts{};
  std::atomic<bool> stopping{false};  // sessions being destroyed: slots not handed on
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<tcp::acceptor> mtls_acceptor;
  uint16_t mtls_bound_port = 0;
  size_t next_mtls_worker = 0;
  std::shared_ptr<const EndpointSet> grpc_override;  // --grpc-upstream
  // --grpc-upstream https://: TLS with the default cluster's --upstream-ca/-sni/-cert.
  std::shared_ptr<asio::ssl::context> grpc_ssl;
  std::optional<UpstreamTlsOptions> grpc_tls;
  std::mutex stop_mutex;
  bool started = false;
  bool stopped = false;
  uint16_t bound_port = 0;
  size_t next_worker = 0;
  // [0] the default cluster (--upstream), then DataPlaneOptions::clusters in order.
  std::vector<std::unique_ptr<ClusterState>> clusters;

  Impl(const TimeSource& t, DataPlaneOptions o, RequestFilter f, DataPlaneHooks h)
      : time(t), options(std::move(o)), filter(std::move(f)), hooks(std::move(h)) {
    ClusterOptions main;
    main.name = "default";
    main.endpoints = {options.upstream};
    main.tls = options.upstream_tls;
    main.connect_timeout = options.upstream_connect_timeout;
    main.timeout = options.upstream_timeout;
    main.max_connections = options.max_upstream_connections;
    main.max_pending = options.max_upstream_pending;
    main.max_requests = options.max_upstream_requests;
    main.max_concurrent_streams = options.upstream_max_streams;
    main.breaker = options.breaker;
    clusters.push_back(std::make_unique<ClusterState>(t, std::move(main), 0));
    for (const auto& c : options.clusters)
      clusters.push_back(std::make_unique<ClusterState>(t, c, clusters.size()));
  }

  void breaker_result(ClusterState& cluster, bool success) {
    const auto before = cluster.breaker.state();
    if (success)
      cluster.breaker.record_success();
    else
      cluster.breaker.record_failure();
    const auto after = cluster.breaker.state();
    if (after != before && hooks.on_circuit_state)
      hooks.on_circuit_state(cluster.options.name, circuit_state_name(after));
  }

  void count(int status, std::string_view reason, int64_t start_ns, std::string_view method = {},
             std::string_view target = {}, std::string_view request_id = {},
             const FilterVerdict* verdict = nullptr, std::string_view remote = {},
             const HeaderList* headers = nullptr, std::string_view protocol = "http/1.1",
             const GrpcTally& grpc = {}) {
    if (!hooks.on_response) return;
    ResponseInfo info;
    info.status = status;
    info.reason = reason;
    info.latency_ns = time.monotonic_ns() - start_ns;
    info.method = method;
    info.target = target;
    info.request_id = request_id;
    info.verdict = verdict;
    info.remote = remote;
    info.headers = headers;
    info.protocol = protocol;
    info.grpc_status = grpc.status;
    info.request_bytes = grpc.request_bytes;
    info.response_bytes = grpc.response_bytes;
    hooks.on_response(info);
  }

  Response local_reply(int status, std::string_view reason, std::string_view message,
                       const HeaderList& headers, unsigned version, bool keep_alive) {
    Response out{static_cast<http::status>(status), version};
    out.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : headers) out.insert(name, value);
    out.body() = local_reply_body(status, reason, message);
    out.keep_alive(keep_alive);
    out.prepare_payload();
    return out;
  }

  // The rejection for a request the parser refused, by the parser's error.
  Rejection classify(const beast::error_code& ec, const beast::flat_buffer& buffer) const {
    if (ec == http::error::body_limit)
      return {413, "body_too_large",
              "request body exceeds " + std::to_string(options.max_body_bytes) + " bytes"};
    if (ec == http::error::header_limit) {
      // A request line that never ended within the URI budget is a long URI, not long headers.
      std::string_view seen(static_cast<const char*>(buffer.data().data()), buffer.size());
      auto line_end = seen.find('\n');
      if (line_end == std::string_view::npos || line_end > options.max_uri_bytes + 32)
        return {414, "uri_too_long",
                "request target exceeds " + std::to_string(options.max_uri_bytes) + " bytes"};
      return {431, "headers_too_large",
              "request headers exceed " + std::to_string(options.max_header_bytes) + " bytes"};
    }
    return {400, "bad_request", "malformed request: " + ec.message()};
  }

  // Limits and framing rules Beast does not enforce by itself.
  std::optional<Rejection> validate(const Request& request) const {
    if (request.target().size() > options.max_uri_bytes)
      return Rejection{
          414, "uri_too_long",
          "request target exceeds " + std::to_string(options.max_uri_bytes) + " bytes"};
    size_t count = 0, bytes = 0, hosts = 0;
    for (const auto& field : request) {
      ++count;
      bytes += field.name_string().size() + field.value().size() + 4;
      if (field.name() == http::field::host) ++hosts;
    }
    if (count > options.max_header_count)
      return Rejection{431, "too_many_headers",
                       "more than " + std::to_string(options.max_header_count) + " header fields"};
    if (bytes > options.max_header_bytes)
      return Rejection{
          431, "headers_too_large",
          "request headers exceed " + std::to_string(options.max_header_bytes) + " bytes"};
    if (request.count(http::field::content_length) && request.count(http::field::transfer_encoding))
      return Rejection{400, "bad_request", "Content-Length and Transfer-Encoding together"};
    if (request.version() >= 11 && hosts != 1)
      return Rejection{400, "bad_request",
                       hosts == 0 ? "missing Host header" : "more than one Host header"};
    return std::nullopt;
  }

  bool stripped(std::string_view name) const {
    for (const auto& h : options.strip_request_headers)
      if (iequals(name, h)) return true;
    return false;
  }

  Request upstream_request(const Request& in, const FilterVerdict& verdict,
                           std::string_view request_id, std::string_view remote, bool secure,
                           const std::string& host) const {
    Request out;
    out.version(11);
    out.method_string(in.method_string());
    out.target(origin_form(in.target()));
    const std::string connection(in[http::field::connection]);
    for (const auto& field : in) {
      auto name = field.name_string();
      if (field.name() == http::field::host || is_hop_by_hop(name, connection) ||
          is_internal_header(name) || iequals(name, "x-request-id") || stripped(name))
        continue;
      out.insert(name, field.value());
    }
    out.set(http::field::host, host);
    out.set("x-request-id", request_id);
    // What the gateway saw, not what the client claims (zero trust: client values are replaced).
    out.set("x-forwarded-for", remote.substr(0, remote.rfind(':')));
    out.set("x-forwarded-proto", secure ? "https" : "http");
    for (const auto& [name, value] : verdict.upstream_headers) out.set(name, value);
    out.body() = in.body();
    out.keep_alive(true);
    out.prepare_payload();
    return out;
  }

  // The request for an HTTP/1.1 upstream, written straight from the client's into `wire`: the
  // bytes serialize_message(upstream_request(...)) wrote, without building that message (no
  // field or body copied into a Beast fields object). The client's fields in order minus Host,
  // hop-by-hop ones (and what its Connection names), the ones the gateway sets or strips; then
  // Host, x-request-id, x-forwarded-for/-proto, the filter's identity headers, Content-Length
  // (as Beast's prepare_payload: for a body, or an OPTIONS/PUT/POST), the body.
  void write_upstream_request(const Request& in, const FilterVerdict& verdict,
                              std::string_view request_id, std::string_view remote, bool secure,
                              const std::string& host, std::string& wire) const {
    wire.clear();
    wire.append(in.method_string());
    wire.push_back(' ');
    append_origin_form(in.target(), wire);
    wire.append(" HTTP/1.1\r\n");
    const auto method = in.method();
    const bool set_length = !in.body().empty() || method == http::verb::options ||
                            method == http::verb::put || method == http::verb::post;
    const std::string_view connection = in[http::field::connection];
    for (const auto& field : in) {
      switch (field.name()) {
        case http::field::host:
        case http::field::connection:
        case http::field::keep_alive:
        case http::field::proxy_connection:
        case http::field::te:
        case http::field::trailer:
        case http::field::transfer_encoding:
        case http::field::upgrade:
        case http::field::proxy_authenticate:
          continue;
        case http::field::content_length:
          if (set_length) continue;
          break;
        case http::field::unknown:
          if (set_by_gateway(field.name_string())) continue;
          break;
        default:
          break;
      }
      const std::string_view name = field.name_string();
      if (!connection.empty() && is_hop_by_hop(name, connection)) continue;
      if (stripped(name)) continue;
      bool replaced = false;
      for (const auto& [set_name, value] : verdict.upstream_headers)
        replaced |= iequals(name, set_name);
      if (replaced) continue;
      append_field(wire, name, field.value());
    }
    append_field(wire, "Host", host);
    append_field(wire, "x-request-id", request_id);
    append_field(wire, "x-forwarded-for", remote.substr(0, remote.rfind(':')));
    append_field(wire, "x-forwarded-proto", secure ? "https" : "http");
    for (const auto& [name, value] : verdict.upstream_headers) append_field(wire, name, value);
    if (set_length) {
      char digits[24];
      const int n = std::snprintf(digits, sizeof digits, "%zu", in.body().size());
      append_field(wire, "Content-Length", std::string_view(digits, static_cast<size_t>(n)));
    }
    wire.append("\r\n");
    wire.append(in.body());
  }

  struct UpstreamOutcome {
    std::optional<Response> response;
    std::optional<UpstreamResponse>
        relayed;          // forward(): an HTTP/1.1 upstream's, not parsed by Beast
    HeaderList trailers;  // gRPC
    Rejection error{502, "", ""};
    int grpc_status = -1;       // gRPC: the status for `error` when not the HTTP status's
    bool overflow = false;      // refused by a limit, not a failure of the upstream
    bool client_ended = false;  // gRPC: a client cancel or stream idle timeout (no verdict)
    bool streamed = false;      // gRPC: the response went to the client as it arrived
  };

  // The endpoint for one request: the only one, the next in turn, or the one with the fewest
  // requests in flight (ties: in turn). Empty when a discovery cluster has no live instance.
  static Pick pick(ClusterState& cluster) {
    Pick p;
    if (cluster.dynamic) {
      std::lock_guard lock(cluster.endpoints_mutex);
      p.hold = cluster.discovered;
      p.set = p.hold.get();
    } else {
      p.set = cluster.fixed.get();
    }
    if (!p.set || p.set->addresses.empty()) return Pick{};
    const size_t n = p.set->addresses.size();
    if (n == 1) {
      p.i = 0;
    } else if (cluster.options.lb == LbPolicy::kLeastRequests) {
      const size_t start = cluster.next.fetch_add(1, std::memory_order_relaxed) % n;
      p.i = start;
      int fewest = p.set->active[start].load(std::memory_order_relaxed);
      for (size_t k = 1; k < n && fewest > 0; ++k) {
        const size_t j = (start + k) % n;
        const int active = p.set->active[j].load(std::memory_order_relaxed);
        if (active < fewest) {
          fewest = active;
          p.i = j;
        }
      }
    } else {
      p.i = cluster.next.fetch_add(1, std::memory_order_relaxed) % n;
    }
    if (cluster.options.lb == LbPolicy::kLeastRequests && n > 1) {
      p.least_requests = true;
      p.set->active[p.i].fetch_add(1, std::memory_order_relaxed);
    }
    return p;
  }
  static void unpick(const Pick& p) {
    if (p.least_requests) p.set->active[p.i].fetch_sub(1, std::memory_order_relaxed);
  }

  // Waits until a connection slot may be free (max_pending requests wait, at most the connect
  // timeout). False: the request overflows (`reason` says which limit).
  asio::awaitable<bool> wait_for_slot(ClusterState& cluster, std::string& reason) {
    if (cluster.options.max_pending == 0) {
      reason = "max_connections";
      co_return false;
    }
    if (cluster.pending.fetch_add(1) >= cluster.options.max_pending) {
      --cluster.pending;
      reason = "max_pending";
      co_return false;
    }
    auto waiter = std::make_shared<SlotWaiter>(co_await asio::this_coro::executor);
    {
      std::lock_guard lock(cluster.waiters_mutex);
      cluster.waiters.push_back(waiter);
    }
    // A connection may have closed between the check and the enqueue: look again first.
    bool woken = cluster.connections.load() < cluster.options.max_connections;
    if (!woken) {
      waiter->timer.expires_after(cluster.options.connect_timeout);
      co_await waiter->timer.async_wait(kNoThrow);
    }
    {
      std::lock_guard lock(cluster.waiters_mutex);
      woken = woken || waiter->woken;
      if (!waiter->woken) {
        waiter->woken = true;  // no wake-up goes to a waiter that left
        std::erase(cluster.waiters, waiter);
      }
    }
    --cluster.pending;
    reason = "max_connections";
    co_return woken;
  }

  // A new connection to `endpoint` (TLS handshaken for an https:// cluster unless `tls` is
  // false; with `h2`, ALPN must select "h2"), or why not. `grpc_override`: to --grpc-upstream
  // (TLS when it is https://, with its own context).
  asio::awaitable<std::unique_ptr<UpstreamConn>> connect(Worker& worker, ClusterState& cluster,
                                                         const Pick& to, UpstreamOutcome& out,
                                                         bool h2 = false, bool tls = true,
                                                         bool grpc_override = false) {
    const tcp::endpoint& endpoint = to.endpoint();
    while (cluster.connections.load(std::memory_order_relaxed) >= cluster.options.max_connections) {
      std::string reason;
      if (!co_await wait_for_slot(cluster, reason)) {
        out.error = {503, reason,
                     reason == "max_pending"
                         ? "too many requests waiting for an upstream connection"
                         : "upstream connection limit reached"};
        out.overflow = true;
        co_return nullptr;
      }
    }
    auto conn = std::make_unique<UpstreamConn>(worker.io, cluster, endpoint);
    conn->stream.expires_after(cluster.options.connect_timeout);
    auto [ec] = co_await conn->stream.async_connect(endpoint, kNoThrow);
    if (ec) {
      if (hooks.on_upstream_error) hooks.on_upstream_error("connect");
      out.error = {503, "upstream_connect_error", "upstream connect error: " + ec.message()};
      co_return nullptr;
    }
    conn->stream.socket().set_option(tcp::no_delay(true), ec);
    asio::ssl::context* ssl = grpc_override ? grpc_ssl.get() : cluster.ssl.get();
    if (!ssl || !tls) co_return conn;
    const std::optional<UpstreamTlsOptions>& tls_options =
        grpc_override ? grpc_tls : cluster.options.tls;
    conn->tls =
        std::make_unique<beast::ssl_stream<beast::tcp_stream>>(std::move(conn->stream), *ssl);
    SSL* handle = conn->tls->native_handle();
    X509_VERIFY_PARAM* param = SSL_get0_param(handle);
    // The upstream's certificate is valid or expired by the node's (skewable) clock.
    X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(time.wall_seconds()));
    // The configured server name, else the endpoint's host; an IP address is matched against
    // the IP SANs and sent without SNI (RFC 6066 allows host names only).
    const std::string& name =
        tls_options && !tls_options->server_name.empty() ? tls_options->server_name : to.host();
    beast::error_code not_ip;
    asio::ip::make_address(name, not_ip);
    if (!not_ip) {
      X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
      SSL_set_tlsext_host_name(handle, name.c_str());
    }
    static constexpr unsigned char kH2[] = {2, 'h', '2'};
    if (h2) SSL_set_alpn_protos(handle, kH2, sizeof kH2);
    conn->lowest().expires_after(cluster.options.connect_timeout);
    auto [handshake_ec] =
        co_await conn->tls->async_handshake(asio::ssl::stream_base::client, kNoThrow);
    if (handshake_ec == beast::error::timeout) {
      if (hooks.on_upstream_error) hooks.on_upstream_error("timeout");
      out.error = {504, "upstream_timeout", "upstream TLS handshake timed out"};
      co_return nullptr;
    }
    if (handshake_ec) {
      if (hooks.on_upstream_error) hooks.on_upstream_error("tls");
      std::string why = handshake_ec.message();
      if (const long verify = SSL_get_verify_result(handle); verify != X509_V_OK)
        why = std::string("certificate verification failed: ") +
              X509_verify_cert_error_string(verify);
      out.error = {502, "upstream_tls_error", "upstream TLS handshake failed: " + why};
      co_return nullptr;
    }
    if (h2 && !negotiated_h2(handle)) {
      if (hooks.on_upstream_error) hooks.on_upstream_error("tls");
      const unsigned char* protocol = nullptr;
      unsigned length = 0;
      SSL_get0_alpn_selected(handle, &protocol, &length);
      const std::string selected =
          length == 0 ? "none" : std::string(reinterpret_cast<const char*>(protocol), length);
      out.error = {
          502, "upstream_tls_error",
          "upstream did not select h2 by ALPN (selected: " + selected + "); gRPC needs HTTP/2"};
      co_return nullptr;
    }
    co_return conn;
  }

  // With TLS 1.3 the client's handshake completes before the server has judged the client
  // certificate: a refusal (an alert) arrives on the first read of a fresh connection.
  bool tls_refused(const UpstreamConn& conn, bool reused, const beast::error_code& ec) const {
    if (!conn.tls || reused || ec.category() != asio::error::get_ssl_category()) return false;
    if (hooks.on_upstream_error) hooks.on_upstream_error("tls");
    return true;
  }
  static Rejection tls_refusal(const beast::error_code& ec) {
    return {502, "upstream_tls_error", "upstream refused the TLS session: " + ec.message()};
  }

  // Writes `request` (in one write through `wire`) and reads the response head and body into
  // `parser`.
  template <class Stream>
  static asio::awaitable<beast::error_code> exchange(
      Stream& stream, beast::flat_buffer& buffer, std::string& wire, Request& request,
      http::response_parser<http::string_body>& parser) {
    beast::error_code write_ec;
    if (request.chunked()) {
      std::tie(write_ec, std::ignore) = co_await http::async_write(stream, request, kNoThrow);
    } else {
      serialize_message(request, wire);
      std::tie(write_ec, std::ignore) =
          co_await asio::async_write(stream, asio::buffer(wire), kNoThrow);
    }
    if (write_ec) co_return write_ec;
    auto [read_ec, n] = co_await http::async_read(stream, buffer, parser, kNoThrow);
    (void)n;
    co_return read_ec;
  }
  static asio::awaitable<beast::error_code> exchange(
      UpstreamConn& conn, Request& request, http::response_parser<http::string_body>& parser) {
    if (conn.tls) co_return co_await exchange(*conn.tls, conn.buffer, conn.wire, request, parser);
    co_return co_await exchange(conn.stream, conn.buffer, conn.wire, request, parser);
  }

  // Writes the request in the connection's `wire` (one write) and reads the response into `out`
  // with one pass over its head (H1ResponseParser); `got_some`: any byte of it arrived. Errors:
  // the stream's, or the parser's reason as a message (`parse_error`).
  template <class Stream>
  asio::awaitable<beast::error_code> exchange_h1(Stream& stream, UpstreamConn& conn,
                                                 bool head_request, UpstreamResponse& out,
                                                 bool& got_some, const char*& parse_error) const {
    auto [write_ec, written] =
        co_await asio::async_write(stream, asio::buffer(conn.wire), kNoThrow);
    (void)written;
    if (write_ec) co_return write_ec;
    H1ResponseParser parser(H1ResponseParser::Limits{
        kUpstreamHeadLimit, options.max_upstream_response_bytes, /*keep_fields=*/true});
    parser.reset(head_request);
    beast::flat_buffer& buffer = conn.buffer;
    for (;;) {
      if (buffer.size() > 0) {
        const std::string_view data(static_cast<const char*>(buffer.data().data()), buffer.size());
        const size_t used = parser.feed(data, &out.body);
        if (out.head.empty() && parser.head_done()) {
          out.head.assign(data.substr(parser.head_offset(), parser.head_size()));
          out.fields = parser.take_fields();
        }
        buffer.consume(used);
        if (parser.done()) break;
        if (parser.failed()) {
          parse_error = parser.error();
          co_return http::error::bad_value;
        }
      }
      auto [read_ec, n] =
          co_await stream.async_read_some(buffer.prepare(kUpstreamReadSize), kNoThrow);
      if (read_ec == asio::error::eof || read_ec == asio::ssl::error::stream_truncated) {
        parser.on_eof();
        if (parser.done()) break;
        co_return got_some ? http::error::partial_message : http::error::end_of_stream;
      }
      if (read_ec) co_return read_ec;
      buffer.commit(n);
      got_some = true;
    }
    out.status = parser.status();
    out.keep_alive = !parser.close_after();
    co_return beast::error_code{};
  }

  // An HTTP/1.1 request to an HTTP/1.1 upstream on this worker's pool: `request` is the
  // client's, written upstream by write_upstream_request.
  asio::awaitable<UpstreamOutcome> forward(Worker& worker, ClusterState& cluster, const Pick& to,
                                           const Request& request, const FilterVerdict& verdict,
                                           std::string_view request_id, std::string_view remote,
                                           bool secure) {
    const bool head_request = request.method() == http::verb::head;
    auto& idle = worker.idle[cluster.index];
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::unique_ptr<UpstreamConn> conn;
      bool reused = false;
      // The most recently parked connection to this endpoint (with one endpoint: the last).
      for (size_t k = idle.size(); k-- > 0;) {
        if (idle[k]->endpoint != to.endpoint()) continue;
        conn = std::move(idle[k]);
        idle.erase(idle.begin() + static_cast<std::ptrdiff_t>(k));
        reused = true;
        break;
      }
      if (!conn) {
        UpstreamOutcome out;
        conn = co_await connect(worker, cluster, to, out);
        if (!conn) co_return out;
      }
      conn->lowest().expires_after(cluster.options.timeout);
      write_upstream_request(request, verdict, request_id, remote, secure, to.authority(),
                             conn->wire);
      UpstreamResponse response;
      bool got_some = false;
      const char* parse_error = nullptr;
      const beast::error_code read_ec =
          conn->tls ? co_await exchange_h1(*conn->tls, *conn, head_request, response, got_some,
                                           parse_error)
                    : co_await exchange_h1(conn->stream, *conn, head_request, response, got_some,
                                           parse_error);
      if (!read_ec) {
        // Parked for the next request unless someone waits for a slot: then it closes, so the
        // slot goes to the waiter, whichever worker it is on.
        if (response.keep_alive && conn->buffer.size() == 0 &&
            idle.size() < options.upstream_idle_per_thread &&
            cluster.pending.load(std::memory_order_relaxed) == 0) {
          conn->lowest().expires_never();
          idle.push_back(std::move(conn));
        }
        UpstreamOutcome out;
        out.relayed = std::move(response);
        co_return out;
      }
      // A pooled connection the upstream closed while idle: try once more on a fresh one.
      const bool stale = reused && read_ec != beast::error::timeout && !got_some;
      if (stale && attempt == 0) continue;
      UpstreamOutcome out;
      if (tls_refused(*conn, reused, read_ec)) {
        out.error = tls_refusal(read_ec);
      } else if (read_ec == beast::error::timeout) {
        if (hooks.on_upstream_error) hooks.on_upstream_error("timeout");
        out.error = {504, "upstream_timeout", "upstream request timeout"};
      } else {
        if (hooks.on_upstream_error) hooks.on_upstream_error("protocol");
        out.error = {502, "upstream_reset",
                     std::string("upstream connection failed: ") +
                         (parse_error ? parse_error : read_ec.message())};
      }
      co_return out;
    }
    co_return UpstreamOutcome{};
  }

  // An HTTP/1.1 upstream's response as a Beast message (for HTTP/2 clients, whose stream
  // wants fields): every field as received, as Beast's parser would have kept them.
  static Response to_message(UpstreamResponse&& in) {
    Response out;
    out.result(static_cast<unsigned>(in.status));
    out.version(11);
    for (const auto& f : in.fields) out.insert(in.name(f), in.value(f));
    out.body() = std::move(in.body);
    return out;
  }

  // A WebSocket handshake: a fresh upstream connection (never pooled: it becomes a tunnel), the
  // upgrade headers put back, the answer's head read. On 101 the connection goes to `tunnel`
  // with whatever bytes the upstream sent past its head.
  asio::awaitable<UpstreamOutcome> forward_upgrade(Worker& worker, ClusterState& cluster,
                                                   const Pick& to, Request& request,
                                                   std::unique_ptr<UpstreamConn>& tunnel) {
    UpstreamOutcome out;
    auto conn = co_await connect(worker, cluster, to, out);
    if (!conn) co_return out;
    request.set(http::field::connection, "Upgrade");
    request.set(http::field::upgrade, "websocket");
    // An HTTP/2 client's tunnel (RFC 8441) comes without a key: the gateway is the upstream's
    // WebSocket client, so it makes the key and checks the answer to it.
    std::string accept;
    if (request.count(http::field::sec_websocket_key) == 0) {
      const std::string key = make_websocket_key();
      accept = websocket_accept(key);
      request.set(http::field::sec_websocket_key, key);
      if (request.count(http::field::sec_websocket_version) == 0)
        request.set(http::field::sec_websocket_version, "13");
    }
    conn->lowest().expires_after(cluster.options.timeout);
    http::response_parser<http::string_body> parser;
    parser.body_limit(options.max_upstream_response_bytes);
    if (const auto read_ec = co_await exchange(*conn, request, parser)) {
      if (tls_refused(*conn, false, read_ec)) {
        out.error = tls_refusal(read_ec);
        co_return out;
      }
      const bool timeout = read_ec == beast::error::timeout;
      if (hooks.on_upstream_error) hooks.on_upstream_error(timeout ? "timeout" : "protocol");
      out.error = timeout ? Rejection{504, "upstream_timeout", "upstream request timeout"}
                          : Rejection{502, "upstream_reset",
                                      "upstream connection failed: " + read_ec.message()};
      co_return out;
    }
    out.response = parser.release();
    const int status = out.response->result_int();
    if (!accept.empty() &&
        (status == 101 ? (*out.response)[http::field::sec_websocket_accept] != accept
                       : status / 100 == 2)) {
      // A 2xx would tell an HTTP/2 client its tunnel is open while the upstream never switched.
      if (hooks.on_upstream_error) hooks.on_upstream_error("protocol");
      out.error = {502, "upstream_bad_upgrade",
                   status == 101 ? "the upstream's Sec-WebSocket-Accept does not match the key"
                                 : "the upstream answered the WebSocket handshake with " +
                                       std::to_string(status) + " instead of 101"};
      out.response.reset();
      co_return out;
    }
    if (status == 101) {
      conn->lowest().expires_never();
      tunnel = std::move(conn);
    }
    co_return out;
  }

  // A WebSocket tunnel's shared state: the last time a byte moved either way, and a timer that
  // ends the tunnel once both directions were silent past the idle timeout (a server pushing
  // to a quiet client keeps it open).
  struct Tunnel {
    explicit Tunnel(const asio::any_io_executor& ex, int64_t now) : last_ns(now), timer(ex) {}
    int64_t last_ns;
    bool done = false;
    asio::steady_timer timer;
  };

  // Copies bytes from `from` to `to` (first what is already in `pending`) until either side
  // closes; then shuts both down, which ends the other direction's copy too.
  template <class From, class To>
  asio::awaitable<void> pump(From& from, beast::flat_buffer& pending, To& to, Tunnel& tunnel) {
    for (;;) {
      if (pending.size() > 0) {
        beast::get_lowest_layer(to).expires_after(options.write_timeout);
        auto [ec, n] = co_await asio::async_write(to, pending.data(), kNoThrow);
        if (ec) break;
        pending.consume(n);
      }
      beast::get_lowest_layer(from).expires_never();  // the watchdog judges idleness
      auto [ec, n] = co_await from.async_read_some(pending.prepare(16 * 1024), kNoThrow);
      if (ec) break;
      pending.commit(n);
      tunnel.last_ns = time.monotonic_ns();
    }
    tunnel.done = true;
    tunnel.timer.cancel();
    beast::error_code ec;
    beast::get_lowest_layer(from).socket().shutdown(tcp::socket::shutdown_both, ec);
    beast::get_lowest_layer(to).socket().shutdown(tcp::socket::shutdown_both, ec);
  }

  template <class Stream>
  asio::awaitable<void> tunnel_watchdog(Stream& client, UpstreamConn& upstream, Tunnel& tunnel) {
    const int64_t idle_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(options.idle_timeout).count();
    while (!tunnel.done) {
      const int64_t left = tunnel.last_ns + idle_ns - time.monotonic_ns();
      if (left <= 0) {
        beast::error_code ec;
        beast::get_lowest_layer(client).socket().shutdown(tcp::socket::shutdown_both, ec);
        upstream.lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
        co_return;
      }
      tunnel.timer.expires_after(std::chrono::nanoseconds(left));
      co_await tunnel.timer.async_wait(kNoThrow);
    }
  }

  template <class Stream>
  asio::awaitable<void> splice(Stream& client, beast::flat_buffer& client_pending,
                               UpstreamConn& upstream) {
    using namespace asio::experimental::awaitable_operators;
    Tunnel tunnel(co_await asio::this_coro::executor, time.monotonic_ns());
    if (upstream.tls)
      co_await (pump(client, client_pending, *upstream.tls, tunnel) &&
                pump(*upstream.tls, upstream.buffer, client, tunnel) &&
                tunnel_watchdog(client, upstream, tunnel));
    else
      co_await (pump(client, client_pending, upstream.stream, tunnel) &&
                pump(upstream.stream, upstream.buffer, client, tunnel) &&
                tunnel_watchdog(client, upstream, tunnel));
  }

  // This worker's h2 pool for the endpoint a gRPC call goes to.
  std::shared_ptr<h2::H2Pool> grpc_pool(Worker& worker, ClusterState& cluster, const Pick& to) {
    auto& pools = worker.grpc_discovered[cluster.index];
    auto& pool = pools[to.endpoint()];
    if (!pool) {
      // Endpoints that left discovery: their pools go once no connection is left in them and
      // no call holds them.
      std::erase_if(pools, [](const auto& p) {
        return p.second && p.second->size() == 0 && p.second.use_count() == 1;
      });
      pool = std::make_shared<h2::H2Pool>();
    }
    return pool;
  }

  // A gRPC call: over h2 (h2c, or TLS with ALPN "h2" to an https:// cluster), trailers kept, on
  // a stream of this worker's multiplexed connections to the chosen endpoint (or to
  // --grpc-upstream for the default cluster). A connection counts against max_connections;
  // each call is one of the cluster's requests in flight (max_requests caps the open streams).
  // The call streams: its DATA both ways and the response's head and trailers go through
  // `pipe` as they arrive (h2::call_h2).
  asio::awaitable<UpstreamOutcome> forward_grpc(Worker& worker, ClusterState& cluster,
                                                const Pick& picked, const Request& request,
                                                h2::StreamPipe& pipe, std::string_view request_id) {
    Pick to;
    std::shared_ptr<h2::H2Pool> keep;  // a discovered endpoint's pool, alive for this call
    h2::H2Pool* pool = nullptr;
    const bool override = cluster.index == 0 && grpc_override;
    if (override) {
      to.set = grpc_override.get();
      pool = &worker.grpc_override;
    } else if (cluster.dynamic) {
      keep = grpc_pool(worker, cluster, picked);
      pool = keep.get();
    } else {
      pool = worker.grpc_pools[cluster.index][picked.i].get();
    }
    const Pick& endpoint = override ? to : picked;
    const bool tls = override ? grpc_ssl != nullptr : cluster.ssl != nullptr;
    h2::Connector connector = [&](h2::UpstreamCall& error) -> asio::awaitable<h2::Transport> {
      UpstreamOutcome failed;
      auto conn = co_await connect(worker, cluster, endpoint, failed, true, tls, override);
      h2::Transport transport;
      if (!conn) {
        error.status = failed.error.status;
        error.reason = failed.error.reason;
        error.message = failed.error.message;
        error.overflow = failed.overflow;
        co_return transport;  // connect() counted the error
      }
      if (conn->tls)
        transport.tls = std::move(conn->tls);
      else
        transport.plain = std::make_unique<beast::tcp_stream>(std::move(conn->stream));
      transport.slot = std::shared_ptr<UpstreamConn>(std::move(conn));
      co_return transport;
    };
    h2::UpstreamCallOptions call_options;
    call_options.timeout = cluster.options.timeout;
    call_options.edit_head = [request_id](Response& head) {
      drop_response_fields(head, true);  // no length: the body streams
      head.set("x-request-id", request_id);
    };
    call_options.max_streams = cluster.options.max_concurrent_streams;
    call_options.max_idle = options.upstream_idle_per_thread;
    call_options.ping_timeout = cluster.options.connect_timeout;
    call_options.tls = tls;
    h2::UpstreamCall call = co_await h2::call_h2(*pool, connector, request, pipe, call_options);
    UpstreamOutcome out;
    if (call.answer) {
      out.response = std::move(call.answer->response);
      out.streamed = true;
      co_return out;
    }
    if (!call.error_kind.empty() && hooks.on_upstream_error)
      hooks.on_upstream_error(call.error_kind);
    out.error = {call.status, call.reason, call.message};
    out.overflow = call.overflow;
    out.client_ended = call.client_ended;
    out.grpc_status = call.grpc_status;
    co_return out;
  }

  // Hop-by-hop and fingerprint fields out of an upstream's response (and its length).
  static void drop_response_fields(Response& out, bool drop_length) {
    const std::string connection(out[http::field::connection]);
    for (auto it = out.begin(); it != out.end();) {
      auto name = it->name_string();
      if (is_hop_by_hop(name, connection) || is_fingerprint_header(name) ||
          (drop_length && it->name() == http::field::content_length))
        it = out.erase(it);
      else
        ++it;
    }
  }

  // The upstream's response made the client's, in place (no field copied into a new message):
  // hop-by-hop and fingerprint fields dropped, the status line's reason the standard one, the
  // client's version, x-request-id, keep-alive and the length set last, as a fresh message
  // built field by field would have them.
  Response client_response(Response&& upstream, unsigned version, bool keep_alive,
                           std::string_view request_id, bool head) {
    Response out = std::move(upstream);
    const std::string head_length(head ? out[http::field::content_length] : beast::string_view{});
    const bool had_length = head && out.has_content_length();
    drop_response_fields(out, head);
    out.version(version);
    out.reason({});
    out.set("x-request-id", request_id);
    out.keep_alive(keep_alive);
    if (head) {
      if (had_length) out.set(http::field::content_length, head_length);
    } else {
      out.prepare_payload();
    }
    return out;
  }

  // Writes `data` to the client: the usual answer in one write under one deadline, a larger
  // one under the write deadline per 64 KB, not for the whole, so a slow reader of a large
  // answer is cut only once it stops taking bytes (as HTTP/2's writer is). Not a coroutine of
  // its own on the usual path (a frame per response costs ~400 instructions).
  static constexpr size_t kWriteSlice = 64 * 1024;
  template <class Stream>
  asio::awaitable<bool> write_slices(Stream& stream, std::string_view data) {
    while (!data.empty()) {
      beast::get_lowest_layer(stream).expires_after(options.write_timeout);
      auto [ec, n] = co_await asio::async_write(
          stream, asio::buffer(data.data(), std::min(data.size(), kWriteSlice)), kNoThrow);
      if (ec) co_return false;
      data.remove_prefix(n);
    }
    co_return true;
  }

  // Writes `response` through `wire` (the connection's buffer, kept between responses); Beast's
  // serializer for a chunked one, its deadline per piece as well.
  template <class Stream>
  asio::awaitable<bool> write(Stream& stream, Response& response, std::string& wire) {
    if (!response.chunked()) {
      serialize_message(response, wire);
      if (wire.size() > kWriteSlice) co_return co_await write_slices(stream, wire);
      beast::get_lowest_layer(stream).expires_after(options.write_timeout);
      auto [ec, n] = co_await asio::async_write(stream, asio::buffer(wire), kNoThrow);
      (void)n;
      co_return !ec;
    }
    http::response_serializer<http::string_body> serializer{response};
    while (!serializer.is_done()) {
      beast::get_lowest_layer(stream).expires_after(options.write_timeout);
      auto [ec, n] = co_await http::async_write_some(stream, serializer, kNoThrow);
      (void)n;
      if (ec) co_return false;
    }
    co_return true;
  }
  // A one-off answer (a rejection before the connection closes).
  template <class Stream>
  asio::awaitable<bool> write(Stream& stream, Response& response) {
    std::string wire;
    co_return co_await write(stream, response, wire);
  }

  template <class Stream>
  asio::awaitable<void> serve(Worker& worker, Stream& stream, std::string remote,
                              std::string identity = {}, beast::flat_buffer buffer = {}) {
    std::string wire;  // each response as written (write)
    for (;;) {
      if (buffer.size() == 0) {
        // Idle between requests: wait for the first byte under the idle timeout.
        beast::get_lowest_layer(stream).expires_after(options.idle_timeout);
        if constexpr (std::is_same_v<Stream, TlsStream>) {
          // A request already there is read at once; an idle connection waits without a buffer.
          if (co_await read_or_wait(stream, buffer, 4096)) co_return;
        } else {
          auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kNoThrow);
          if (ec) co_return;
          buffer.commit(n);
        }
      }
      // Slowloris: the whole head (and then the body) must arrive within the header timeout.
      beast::get_lowest_layer(stream).expires_after(options.header_timeout);
      // The raw head first, through the strict framing guard, before Beast parses it.
      HeadScan scan;
      for (;;) {
        std::string_view received(static_cast<const char*>(buffer.data().data()), buffer.size());
        scan = scan_request_head(received, options.max_uri_bytes, options.max_header_bytes);
        if (scan.state != HeadScan::State::kNeedMore) break;
        auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kNoThrow);
        if (ec) co_return;  // timeout, reset, client gone
        buffer.commit(n);
      }
      std::optional<HeadVerdict> head_rejection = scan.rejection;
      if (!head_rejection)
        head_rejection = check_request_head(
            std::string_view(static_cast<const char*>(buffer.data().data()), scan.head_size));
      if (head_rejection) {
        const int64_t now_ns = time.monotonic_ns();
        auto out = local_reply(head_rejection->status, head_rejection->reason,
                               head_rejection->message, {}, 11, false);
        count(head_rejection->status, head_rejection->reason, now_ns);
        co_await write(stream, out);
        co_return;
      }
      // A fresh parser per request, so limits and state never leak between requests.
      http::request_parser<http::string_body> parser;
      const size_t header_limit = options.max_header_bytes + options.max_uri_bytes + 64;
      parser.header_limit(static_cast<uint32_t>(header_limit));
      parser.body_limit(options.max_body_bytes);
      // The usual head (no body, nothing unusual) is read here at once; any other goes through
      // Beast's parser, whose errors the bad-input answers are classified from.
      const bool plain =
          scan.head_size <= header_limit &&
          read_plain_request_head(
              std::string_view(static_cast<const char*>(buffer.data().data()), scan.head_size),
              parser.get());
      beast::error_code header_ec;
      if (plain)
        buffer.consume(scan.head_size);
      else
        std::tie(header_ec, std::ignore) =
            co_await http::async_read_header(stream, buffer, parser, kNoThrow);
      const int64_t start_ns = time.monotonic_ns();
      std::optional<Rejection> rejection;
      if (header_ec) {
        if (!is_parse_error(header_ec)) co_return;  // timeout, reset, client gone
        rejection = classify(header_ec, buffer);
      } else {
        rejection = validate(parser.get());
      }
      if (!rejection && !plain && !parser.is_done()) {
        auto [body_ec, body_n] = co_await http::async_read(stream, buffer, parser, kNoThrow);
        (void)body_n;
        if (body_ec) {
          if (!is_parse_error(body_ec)) co_return;
          rejection = classify(body_ec, buffer);
        }
      }
      if (rejection) {
        // Framing can no longer be trusted: answer and close.
        auto out =
            local_reply(rejection->status, rejection->reason, rejection->message, {}, 11, false);
        count(rejection->status, rejection->reason, start_ns);
        co_await write(stream, out);
        co_return;
      }

      Request& request = parser.get();
      constexpr bool secure = !std::is_same_v<Stream, beast::tcp_stream>;
      const bool upgrade = is_websocket_upgrade(request);
      Upgrade tunnel(101);
      H1Reply h1{wire};
      h2::Answer answer = co_await handle(worker, request, remote, identity, secure, start_ns,
                                          upgrade ? "websocket" : "http/1.1", request.keep_alive(),
                                          upgrade ? &tunnel : nullptr, upgrade ? nullptr : &h1);
      if (h1.written) {
        bool written = false;
        if (wire.size() > kWriteSlice) {
          written = co_await write_slices(stream, wire);
        } else {
          beast::get_lowest_layer(stream).expires_after(options.write_timeout);
          auto [ec, n] = co_await asio::async_write(stream, asio::buffer(wire), kNoThrow);
          (void)n;
          written = !ec;
        }
        if (!written || !h1.keep_alive) co_return;
        continue;
      }
      if (tunnel.conn && answer.response.result() == http::status::switching_protocols) {
        // The filter chain admitted it and the upstream switched: bytes both ways from now on.
        if (!co_await write(stream, answer.response, wire)) co_return;
        co_await splice(stream, buffer, *tunnel.conn);
        co_return;
      }
      const bool keep_alive = answer.response.keep_alive();
      if (!co_await write(stream, answer.response, wire) || !keep_alive) co_return;
    }
  }

  // Everything after a request was read, for HTTP/1.1 and HTTP/2 streams alike: overload
  // shedding, the filter chain, the upstream. The answer's keep_alive tells HTTP/1.1 whether to
  // go on with the connection.
  // `tunnel` (WebSocket upgrades): where the upstream connection goes when it answered 101 (the
  // status counted is then the one the client sees for the switch).
  // `h1` (HTTP/1.1 clients): where an HTTP/1.1 upstream's response is written for the client
  // straight from its head's bytes (no Beast message in between); h1->written tells.
  asio::awaitable<h2::Answer> handle(Worker& worker, Request& request, std::string_view remote,
                                     std::string_view identity, bool secure, int64_t start_ns,
                                     std::string_view protocol, bool client_keep_alive,
                                     Upgrade* tunnel = nullptr, H1Reply* h1 = nullptr,
                                     h2::StreamPipe* pipe = nullptr) {
    const unsigned version = request.version();
    const int overload = hooks.overload_level ? hooks.overload_level() : 0;
    // Under memory pressure: close after this response; past the shedding mark, answer 503.
    const bool keep_alive = client_keep_alive && overload == 0;
    h2::Answer answer;
    if (overload >= 2) {
      answer.response =
          local_reply(503, "overloaded", "the gateway is shedding load (memory pressure)",
                      {{"x-gatedrill-reason", "overloaded"}}, version, false);
      count(503, "overloaded", start_ns, request.method_string(), request.target(), {}, nullptr, {},
            nullptr, protocol);
      co_return answer;
    }
    HeaderList header_copy;
    if (options.filter_needs_headers)
      for (const auto& field : request)
        header_copy.emplace_back(field.name_string(), field.value());
    RequestView view{request.method_string(),
                     request.target(),
                     request[http::field::authorization],
                     remote,
                     identity,
                     secure,
                     options.filter_needs_headers ? &header_copy : nullptr};
    FilterVerdict verdict = filter ? filter(view) : FilterVerdict{};
    while (verdict.wait) {
      auto resume = std::move(verdict.resume);
      co_await filter_wait(std::move(verdict.wait));
      verdict = resume ? resume() : FilterVerdict{};
    }
    Response out;
    int status = 0;  // out's, unless written into h1
    std::string reason;
    int grpc_error_status = -1;  // the upstream client's own, for a gRPC call that failed
    const RequestId id = make_request_id();
    const std::string_view request_id = id.view();
    if (verdict.local_reply) {
      out = local_reply(verdict.status, verdict.reason, verdict.message, verdict.response_headers,
                        version, keep_alive);
      reason = verdict.reason;
    } else {
      ClusterState& cluster = *clusters[verdict.cluster < clusters.size() ? verdict.cluster : 0];
      cluster.total.fetch_add(1, std::memory_order_relaxed);
      UpstreamOutcome outcome;
      const Pick to = pick(cluster);
      // Reserve a slot first, so concurrent workers cannot all pass the check together.
      if (cluster.requests.fetch_add(1) >= cluster.options.max_requests) {
        outcome.error = {503, "max_requests", "too many requests in flight to the upstream"};
        outcome.overflow = true;
      } else if (!to) {
        outcome.error = {503, "no_healthy_upstream",
                         "cluster '" + cluster.options.name + "' has no live endpoint"};
        outcome.overflow = true;
      } else if (!cluster.breaker.allow()) {
        outcome.error = {503, "circuit_open", "upstream circuit breaker is open"};
        outcome.overflow = true;
      } else {
        if (pipe || tunnel) {
          Request upstream =
              upstream_request(request, verdict, request_id, remote, secure, to.authority());
          if (pipe)
            outcome = co_await forward_grpc(worker, cluster, to, upstream, *pipe, request_id);
          else
            outcome = co_await forward_upgrade(worker, cluster, to, upstream, tunnel->conn);
        } else {
          outcome =
              co_await forward(worker, cluster, to, request, verdict, request_id, remote, secure);
        }
        if (outcome.overflow || outcome.client_ended)
          cluster.breaker.release();  // no verdict on the upstream
        else
          breaker_result(cluster, outcome.response || outcome.relayed);
      }
      if (to) unpick(to);
      --cluster.requests;
      if (!outcome.response && !outcome.relayed) cluster.count_error(outcome.error.reason);
      if (outcome.relayed && !h1) outcome.response = to_message(std::move(*outcome.relayed));
      if (outcome.relayed && h1) {
        write_client_response(*outcome.relayed, version, keep_alive, request_id,
                              request.method() == http::verb::head, h1->wire);
        h1->written = true;
        h1->keep_alive = keep_alive;
        status = outcome.relayed->status;
        reason = "ok";
        answer.proxied = true;
      } else if (outcome.streamed) {
        out = std::move(*outcome.response);  // sent already: its status is counted
        out.keep_alive(keep_alive);
        reason = "ok";
        answer.proxied = true;
      } else if (outcome.response) {
        out = client_response(std::move(*outcome.response), version, keep_alive, request_id,
                              request.method() == http::verb::head);
        reason = "ok";
        answer.proxied = true;
        if (tunnel && tunnel->conn) {
          // Hop-by-hop, but the very point of a 101: the client must see the switch.
          out.set(http::field::connection, "Upgrade");
          out.set(http::field::upgrade, "websocket");
        }
        answer.trailers = std::move(outcome.trailers);
      } else {
        HeaderList extra = {{"x-request-id", std::string(request_id)}};
        if (outcome.overflow) extra.emplace_back("x-gatedrill-reason", outcome.error.reason);
        if (outcome.grpc_status >= 0)
          extra.emplace_back("grpc-status", std::to_string(outcome.grpc_status));
        grpc_error_status = outcome.grpc_status;
        out = local_reply(outcome.error.status, outcome.error.reason, outcome.error.message, extra,
                          version, keep_alive);
        reason = outcome.error.reason;
      }
    }
    if (status == 0) status = out.result_int();
    if (status == 101 && tunnel && tunnel->conn) status = tunnel->accepted_status;
    GrpcTally tally;
    if (pipe) {
      // The status the client sees: the upstream's, the upstream client's own (a deadline, a
      // reset stream), or the one for the gateway's HTTP status.
      tally.status = answer.proxied && pipe->grpc_status() >= 0  ? pipe->grpc_status()
                     : !answer.proxied && grpc_error_status >= 0 ? grpc_error_status
                                                                 : grpc_status_for_http(status);
      tally.request_bytes = pipe->request_bytes();
      tally.response_bytes = pipe->response_bytes();
    }
    count(status, reason, start_ns, request.method_string(), request.target(), request_id, &verdict,
          remote, options.filter_needs_headers ? &header_copy : nullptr, protocol, tally);
    answer.response = std::move(out);
    co_return answer;
  }

  // Suspends this session until the filter's I/O completes; the completion may come from any
  // thread, so it only posts the resumption back to the session's executor. Not a coroutine
  // itself: `wait` goes straight into the initiation (no by-value coroutine parameter).
  static asio::awaitable<void> filter_wait(std::function<void(std::function<void()>)> wait) {
    return asio::async_initiate<decltype(asio::use_awaitable), void()>(
        [](auto handler, std::function<void(std::function<void()>)> start) {
          auto executor = asio::get_associated_executor(handler);
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          start([executor, shared] { asio::post(executor, [shared] { std::move (*shared)(); }); });
        },
        asio::use_awaitable, std::move(wait));
  }

  // A WebSocket over HTTP/2 (RFC 8441): the handshake through handle() as for HTTP/1.1 (filter
  // chain, upstream Upgrade); a 101 becomes the stream's 200 (without the HTTP/1.1 handshake's
  // fields) and the tunnel runs on the stream's pipe until either side ends it. Any other answer
  // (a refusal, the upstream's non-101, 502/503/504) goes on the stream as it is.
  asio::awaitable<h2::Answer> websocket_h2(Worker& worker, Request& request,
                                           std::string_view remote, std::string_view identity,
                                           bool secure, int64_t start_ns, h2::StreamPipe& pipe) {
    Upgrade tunnel(200);  // the stream's answer to the upstream's 101
    h2::Answer answer = co_await handle(worker, request, remote, identity, secure, start_ns,
                                        "websocket", true, &tunnel);
    if (!tunnel.conn || answer.response.result() != http::status::switching_protocols)
      co_return answer;
    Response head = answer.response;
    head.result(http::status::ok);
    for (auto field : {http::field::connection, http::field::upgrade,
                       http::field::sec_websocket_accept, http::field::content_length})
      head.erase(field);
    head.body().clear();
    pipe.respond(std::move(head));
    if (tunnel.conn->tls)
      co_await h2::relay_tunnel(*tunnel.conn->tls, tunnel.conn->buffer, pipe,
                                options.write_timeout);
    else
      co_await h2::relay_tunnel(tunnel.conn->stream, tunnel.conn->buffer, pipe,
                                options.write_timeout);
    co_return answer;
  }

  // HTTP/2 on an accepted connection: each stream goes through handle() like an HTTP/1.1
  // request; limits come from the same options (the :path counts as the URI).
  template <class Stream>
  asio::awaitable<void> serve_h2(Worker& worker, Stream& stream, std::string remote,
                                 std::string identity, beast::flat_buffer initial) {
    constexpr bool secure = !std::is_same_v<Stream, beast::tcp_stream>;
    h2::Limits limits;
    limits.max_concurrent_streams = options.h2_max_concurrent_streams;
    limits.max_uri_bytes = options.max_uri_bytes;
    // The h2 header list includes the pseudo-headers, so the URI budget is part of it.
    limits.max_header_list_bytes = options.max_header_bytes + options.max_uri_bytes;
    limits.max_header_count = options.max_header_count;
    limits.max_body_bytes = options.max_body_bytes;
    limits.max_resets_per_second = options.h2_max_resets_per_second;
    limits.idle_timeout = options.idle_timeout;
    limits.stream_idle_timeout = options.stream_idle_timeout;
    limits.write_timeout = options.write_timeout;
    auto handler = [this, &worker, remote, identity](
                       h2::Request& request, int64_t start_ns,
                       h2::StreamPipe* pipe) -> asio::awaitable<h2::Answer> {
      // The session made an extended CONNECT the HTTP/1.1 form of the handshake.
      if (pipe && is_websocket_upgrade(request))
        return websocket_h2(worker, request, remote, identity, secure, start_ns, *pipe);
      return handle(worker, request, remote, identity, secure, start_ns, pipe ? "grpc" : "h2", true,
                    nullptr, nullptr, pipe);
    };
    auto on_reject = [this, remote](int status, std::string_view reason, int64_t start_ns) {
      count(status, reason, start_ns, {}, {}, {}, nullptr, remote, nullptr, "h2");
    };
    co_await h2::serve(stream, std::move(initial), limits, time, std::move(handler),
                       hooks.on_h2_event, std::move(on_reject));
  }

  asio::awaitable<void> session_plain(Worker& worker, tcp::socket socket) {
    beast::error_code ec;
    std::string remote = endpoint_text(socket.remote_endpoint(ec));
    socket.set_option(tcp::no_delay(true), ec);
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer first;
    if (options.http2) {
      // h2c with prior knowledge: the client preface where a request line would be.
      stream.expires_after(options.idle_timeout);
      for (;;) {
        auto [read_ec, n] = co_await stream.async_read_some(first.prepare(4096), kNoThrow);
        if (read_ec) co_return;
        first.commit(n);
        std::string_view seen(static_cast<const char*>(first.data().data()), first.size());
        const size_t common = std::min(seen.size(), h2::kClientPreface.size());
        if (seen.substr(0, common) != h2::kClientPreface.substr(0, common)) break;  // HTTP/1.1
        if (common == h2::kClientPreface.size()) {
          co_await serve_h2(worker, stream, std::move(remote), {}, std::move(first));
          stream.socket().shutdown(tcp::socket::shutdown_send, ec);
          co_return;
        }
      }
    }
    co_await serve(worker, stream, std::move(remote), {}, std::move(first));
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  // A burst of TLS handshakes (~50 KB each while it runs) leaves its freed memory scattered
  // between the connections that stay; malloc_trim gives those free pages back. Checked once a
  // second, done once handshakes ended and then stopped for a second: never while a load keeps
  // handshaking, never on a keep-alive load's path.
  asio::awaitable<void> trim_loop() {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    uint64_t trimmed_at = handshakes_ended.load(std::memory_order_relaxed);
    uint64_t last = trimmed_at;
    for (;;) {
      timer.expires_after(std::chrono::seconds(1));
      auto [ec] = co_await timer.async_wait(kNoThrow);
      if (ec) co_return;
      const uint64_t ended = handshakes_ended.load(std::memory_order_relaxed);
      const bool quiet = ended == last;
      last = ended;
      if (quiet && ended != trimmed_at) {
        malloc_trim(0);
        trimmed_at = ended;
      }
    }
  }

  // A running TLS handshake counted against its worker's cap until it ends (or the connection
  // does); then the slot goes to the longest waiting connection.
  class HandshakeSlot {
   public:
    HandshakeSlot(Impl& impl, Worker& worker) : impl_(&impl), worker_(&worker) {}
    HandshakeSlot(const HandshakeSlot&) = delete;
    HandshakeSlot& operator=(const HandshakeSlot&) = delete;
    ~HandshakeSlot() { release(); }
    void release() {
      if (impl_) std::exchange(impl_, nullptr)->handshake_ended(*worker_);
    }

   private:
    Impl* impl_;
    Worker* worker_;
  };

  void handshake_ended(Worker& worker) {
    if (stopping.load(std::memory_order_relaxed)) return;
    if (worker.handshake_queue.empty()) {
      worker.handshakes.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    auto next = std::move(worker.handshake_queue.front());  // the slot passes on: count unchanged
    worker.handshake_queue.pop_front();
    worker.handshakes_waiting.fetch_sub(1, std::memory_order_relaxed);
    next->granted = true;
    next->timer.cancel();
  }

  // Waits for a handshake slot on `worker` (at most kHandshakeQueueTimeout; false: none came).
  // Only connections whose first bytes arrived ask, so idle connections hold no slot.
  asio::awaitable<bool> handshake_slot(Worker& worker) {
    const size_t cap = options.max_handshakes_in_flight;
    if (cap == 0 || (worker.handshakes.load(std::memory_order_relaxed) < cap &&
                     worker.handshake_queue.empty())) {
      worker.handshakes.fetch_add(1, std::memory_order_relaxed);
      co_return true;
    }
    handshakes_queued.fetch_add(1, std::memory_order_relaxed);
    auto waiter = std::make_shared<HandshakeWaiter>(co_await asio::this_coro::executor);
    waiter->timer.expires_after(kHandshakeQueueTimeout);
    worker.handshake_queue.push_back(waiter);
    worker.handshakes_waiting.fetch_add(1, std::memory_order_relaxed);
    co_await waiter->timer.async_wait(kNoThrow);
    if (waiter->granted) co_return true;
    auto& queue = worker.handshake_queue;
    queue.erase(std::find(queue.begin(), queue.end(), waiter));
    worker.handshakes_waiting.fetch_sub(1, std::memory_order_relaxed);
    handshake_timeouts[1].fetch_add(1, std::memory_order_relaxed);
    co_return false;
  }

  asio::awaitable<void> session_tls(Worker& worker, tcp::socket socket,
                                    std::shared_ptr<asio::ssl::context> ctx) {
    beast::error_code ec;
    std::string remote = endpoint_text(socket.remote_endpoint(ec));
    socket.set_option(tcp::no_delay(true), ec);
    {
      // The ClientHello's first bytes, under the handshake deadline, before a slot is asked for.
      using namespace asio::experimental::awaitable_operators;
      asio::steady_timer deadline(worker.io, kHandshakeTimeout);
      auto first = co_await (socket.async_wait(tcp::socket::wait_read, kNoThrow) ||
                             deadline.async_wait(kNoThrow));
      if (first.index() == 1) handshake_timeouts[0].fetch_add(1, std::memory_order_relaxed);
      if (first.index() == 1 || std::get<0>(std::get<0>(first))) co_return;
    }
    if (!co_await handshake_slot(worker)) co_return;
    HandshakeSlot slot(*this, worker);
    TlsStream stream(std::move(socket), ctx->native_handle());  // no per-connection buffers
    beast::get_lowest_layer(stream).expires_after(kHandshakeTimeout);
    auto [handshake_ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kNoThrow);
    slot.release();
    handshakes_ended.fetch_add(1, std::memory_order_relaxed);
    if (handshake_ec == beast::error::timeout) handshake_timeouts[2].fetch_add(1);
    if (handshake_ec) co_return;
    handshakes_done.fetch_add(1, std::memory_order_relaxed);
    if (stream.alpn() == "h2")
      co_await serve_h2(worker, stream, std::move(remote), {}, {});
    else
      co_await serve(worker, stream, std::move(remote));
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    co_await stream.async_shutdown(kNoThrow);
  }

  asio::awaitable<void> session_mtls(Worker& worker, tcp::socket socket,
                                     std::shared_ptr<asio::ssl::context> ctx) {
    beast::error_code ec;
    std::string remote = endpoint_text(socket.remote_endpoint(ec));
    socket.set_option(tcp::no_delay(true), ec);
    beast::tcp_stream plain(std::move(socket));
    // The first bytes decide: a TLS ClientHello starts with 0x16 (handshake record).
    beast::flat_buffer first;
    plain.expires_after(kHandshakeTimeout);
    auto [read_ec, n] = co_await plain.async_read_some(first.prepare(4096), kNoThrow);
    if (read_ec == beast::error::timeout)
      handshake_timeouts[0].fetch_add(1, std::memory_order_relaxed);
    if (read_ec) co_return;
    first.commit(n);
    if (static_cast<const unsigned char*>(first.data().data())[0] != 0x16) {
      if (options.mtls->strict) {
        if (hooks.on_mtls_reject) hooks.on_mtls_reject("plaintext");
        auto out = local_reply(400, "mtls_required",
                               "this port requires TLS with a client certificate", {}, 11, false);
        co_await write(plain, out);
        plain.socket().shutdown(tcp::socket::shutdown_send, ec);
        co_return;
      }
      co_await serve(worker, plain, std::move(remote), {}, std::move(first));
      plain.socket().shutdown(tcp::socket::shutdown_send, ec);
      co_return;
    }
    if (!co_await handshake_slot(worker)) co_return;
    HandshakeSlot slot(*this, worker);
    TlsStream stream(plain.release_socket(), ctx->native_handle());
    // Certificates are valid or expired by the node's (skewable) clock, like tokens.
    X509_VERIFY_PARAM_set_time(SSL_get0_param(stream.native_handle()),
                               static_cast<time_t>(time.wall_seconds()));
    beast::get_lowest_layer(stream).expires_after(kHandshakeTimeout);
    auto [handshake_ec, used] =
        co_await stream.async_handshake(asio::ssl::stream_base::server, first.data(), kNoThrow);
    (void)used;
    slot.release();
    handshakes_ended.fetch_add(1, std::memory_order_relaxed);
    if (handshake_ec == beast::error::timeout) handshake_timeouts[2].fetch_add(1);
    if (!handshake_ec) handshakes_done.fetch_add(1, std::memory_order_relaxed);
    if (handshake_ec) {
      if (hooks.on_mtls_reject) hooks.on_mtls_reject("handshake");
      co_return;
    }
    std::string identity;
    if (X509* peer = stream.take_peer_certificate()) {
      if (auto id = spiffe_id_of(peer, options.mtls->trust_domain)) identity = std::move(*id);
      X509_free(peer);
    }
    if (identity.empty()) co_return;  // the verify callback already refused such certificates
    if (stream.alpn() == "h2")
      co_await serve_h2(worker, stream, std::move(remote), std::move(identity), {});
    else
      co_await serve(worker, stream, std::move(remote), std::move(identity));
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
    co_await stream.async_shutdown(kNoThrow);
  }

  asio::awaitable<void> accept_loop(tcp::acceptor& from, bool mtls) {
    size_t& next = mtls ? next_mtls_worker : next_worker;
    for (;;) {
      // Round-robin: each connection lives on one worker's loop for its whole life. Always
      // accepting keeps the listen backlog short; the handshake cap applies in the sessions.
      Worker& worker = *workers[next];
      next = (next + 1) % workers.size();
      auto [ec, socket] = co_await from.async_accept(worker.io, kNoThrow);
      if (ec == asio::error::operation_aborted || !from.is_open()) co_return;
      if (ec) continue;  // e.g. EMFILE: keep serving the connections we have
      if (mtls) {
        asio::co_spawn(worker.io, session_mtls(worker, std::move(socket), current_ssl(true)),
                       asio::detached);
      } else if (options.tls) {
        asio::co_spawn(worker.io, session_tls(worker, std::move(socket), current_ssl(false)),
                       asio::detached);
      } else {
        asio::co_spawn(worker.io, session_plain(worker, std::move(socket)), asio::detached);
      }
    }
  }

  Result<void> load_mtls() {
    const MtlsListenerOptions& m = *options.mtls;
    auto fresh = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX* ctx = fresh->native_handle();
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);  // idle connections hold no record buffers
    fresh->set_options(asio::ssl::context::default_workarounds |
                       asio::ssl::context::no_compression);
    beast::error_code ec;
    fresh->use_certificate_chain_file(m.cert_chain_file, ec);
    if (ec)
      return make_error("mtls_config",
                        "cannot load certificate chain " + m.cert_chain_file + ": " + ec.message());
    fresh->use_private_key_file(m.key_file, asio::ssl::context::pem, ec);
    if (ec)
      return make_error("mtls_config",
                        "cannot load private key " + m.key_file + ": " + ec.message());
    fresh->load_verify_file(m.client_ca_file, ec);
    if (ec)
      return make_error("mtls_config",
                        "cannot load client CA bundle " + m.client_ca_file + ": " + ec.message());
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(m.client_ca_file.c_str()))
      SSL_CTX_set_client_CA_list(ctx, names);
    if (!m.crl_file.empty()) {
      if (auto r = load_crls(SSL_CTX_get_cert_store(ctx), m.crl_file); !r) return r;
    }
    SSL_CTX_set_alpn_select_cb(ctx, options.http2 ? select_alpn_h2 : select_alpn_h1, nullptr);
    if (options.own_tls_records) TlsStream::use_own_records(ctx);
    SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);  // clientAuth EKU when an EKU is present
    fresh->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    std::string trust_domain = m.trust_domain;
    fresh->set_verify_callback([trust_domain](bool preverified, asio::ssl::verify_context& verify) {
      if (!preverified) return false;
      X509_STORE_CTX* store = verify.native_handle();
      if (X509_STORE_CTX_get_error_depth(store) != 0) return true;
      // The leaf must carry exactly one SPIFFE ID: refuse in the handshake, with an alert.
      if (!spiffe_id_of(X509_STORE_CTX_get_current_cert(store), trust_domain)) {
        X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
        return false;
      }
      return true;
    });
    std::lock_guard lock(tls_mutex);
    mtls_ssl = std::move(fresh);
    return {};
  }

  static Result<void> load_crls(X509_STORE* store, const std::string& file) {
    BioPtr bio(BIO_new_file(file.c_str(), "r"));
    if (!bio) return make_error("mtls_config", "cannot open CRL file " + file);
    int loaded = 0;
    while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_crl(store, crl);
      X509_CRL_free(crl);
      ++loaded;
    }
    if (loaded == 0) return make_error("mtls_config", "no PEM CRL in " + file);
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);  // the leaf's issuer CRL
    return {};
  }

  Result<void> load_tls() {
    auto fresh = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX_set_min_proto_version(fresh->native_handle(), TLS1_2_VERSION);
    SSL_CTX_set_mode(fresh->native_handle(), SSL_MODE_RELEASE_BUFFERS);  // as above
    fresh->set_options(asio::ssl::context::default_workarounds |
                       asio::ssl::context::no_compression | asio::ssl::context::single_dh_use);
    SSL_CTX_set_alpn_select_cb(fresh->native_handle(),
                               options.http2 ? select_alpn_h2 : select_alpn_h1, nullptr);
    if (options.own_tls_records) TlsStream::use_own_records(fresh->native_handle());
    beast::error_code ec;
    fresh->use_certificate_chain_file(options.tls->cert_chain_file, ec);
    if (ec)
      return make_error("tls_config", "cannot load certificate chain " +
                                          options.tls->cert_chain_file + ": " + ec.message());
    fresh->use_private_key_file(options.tls->key_file, asio::ssl::context::pem, ec);
    if (ec)
      return make_error("tls_config",
                        "cannot load private key " + options.tls->key_file + ": " + ec.message());
    std::lock_guard lock(tls_mutex);
    ssl = std::move(fresh);
    return {};
  }

  // Addresses (numeric or resolved now) for `urls`; with `skip_bad`, ones that do not resolve
  // are left out instead of failing.
  static Result<std::shared_ptr<EndpointSet>> resolve_endpoints(const std::vector<Url>& urls,
                                                                bool skip_bad) {
    auto set = std::make_shared<EndpointSet>();
    asio::io_context io;
    tcp::resolver resolver(io);
    for (const auto& url : urls) {
      beast::error_code ec;
      auto results = resolver.resolve(url.host, std::to_string(url.port), ec);
      if (ec || results.empty()) {
        if (skip_bad) continue;
        return make_error("bad_upstream", "cannot resolve upstream " + url.host + ": " +
                                              (ec ? ec.message() : "no address"));
      }
      set->addresses.push_back(results.begin()->endpoint());
      set->authorities.push_back(url.authority());
      set->hosts.push_back(url.host);
    }
    set->active = std::make_unique<std::atomic<int>[]>(set->addresses.size());
    return set;
  }

  // A client context for an https:// cluster: TLS 1.2+, the chain verified against the CA file
  // (or the system's store), an optional client certificate (mTLS to the upstream).
  static Result<std::shared_ptr<asio::ssl::context>> upstream_tls_context(
      const ClusterOptions& cluster) {
    const UpstreamTlsOptions& tls = *cluster.tls;
    const std::string where = "cluster " + cluster.name + ": ";
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    beast::error_code ec;
    if (tls.ca_file.empty())
      ctx->set_default_verify_paths(ec);
    else
      ctx->load_verify_file(tls.ca_file, ec);
    if (ec)
      return make_error("bad_upstream",
                        where + "cannot load upstream CA " + tls.ca_file + ": " + ec.message());
    ctx->set_verify_mode(asio::ssl::verify_peer);
    if (!tls.client_cert_file.empty()) {
      ctx->use_certificate_chain_file(tls.client_cert_file, ec);
      if (ec)
        return make_error("bad_upstream", where + "cannot load client certificate " +
                                              tls.client_cert_file + ": " + ec.message());
      const std::string& key =
          tls.client_key_file.empty() ? tls.client_cert_file : tls.client_key_file;
      ctx->use_private_key_file(key, asio::ssl::context::pem, ec);
      if (ec)
        return make_error("bad_upstream",
                          where + "cannot load client key " + key + ": " + ec.message());
    }
    return ctx;
  }

  Result<void> resolve_upstream() {
    if (options.grpc_upstream && options.grpc_upstream->scheme == "https")
      grpc_tls = options.upstream_tls.value_or(UpstreamTlsOptions{});
    if (options.upstream.scheme == "https" && !options.upstream_tls)
      options.upstream_tls = UpstreamTlsOptions{};
    if (options.upstream.scheme != "https") options.upstream_tls.reset();
    clusters.front()->options.tls = options.upstream_tls;
    for (auto& cluster : clusters) {
      if (cluster->options.tls) {
        auto ctx = upstream_tls_context(cluster->options);
        if (!ctx) return ctx.error();
        cluster->ssl = std::move(*ctx);
      }
      if (!cluster->options.service.empty()) {
        cluster->dynamic = true;  // set_cluster_endpoints fills it
        continue;
      }
      if (cluster->options.endpoints.empty())
        return make_error("bad_upstream", "cluster " + cluster->options.name + " has no endpoints");
      auto set = resolve_endpoints(cluster->options.endpoints, false);
      if (!set) return set.error();
      cluster->fixed = std::move(*set);
    }
    if (options.grpc_upstream) {
      const Url& grpc = *options.grpc_upstream;
      if (grpc.scheme != "http" && grpc.scheme != "https")
        return make_error(
            "bad_upstream",
            "gRPC upstream must be an http:// (h2c) or https:// URL (got " + grpc.str() + ")");
      auto found = resolve_endpoints({grpc}, false);
      if (!found) return found.error();
      grpc_override = std::move(*found);
      if (grpc_tls) {
        ClusterOptions tls_options;
        tls_options.name = "grpc-upstream";
        tls_options.tls = grpc_tls;
        auto ctx = upstream_tls_context(tls_options);
        if (!ctx) return ctx.error();
        grpc_ssl = std::move(*ctx);
      }
    }
    return {};
  }

  Result<void> bind(std::unique_ptr<tcp::acceptor>& into, uint16_t port, uint16_t& bound) {
    const std::string where = options.bind_address + ":" + std::to_string(port);
    beast::error_code ec;
    auto address = asio::ip::make_address(options.bind_address, ec);
    if (ec) return make_error("bind_failed", "cannot bind " + where + ": bad address");
    into = std::make_unique<tcp::acceptor>(workers.front()->io);
    tcp::endpoint endpoint(address, port);
    into->open(endpoint.protocol(), ec);
    if (!ec) into->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && options.reuse_port)
      into->set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
    if (!ec) into->bind(endpoint, ec);
    if (!ec) into->listen(kListenBacklog, ec);
    if (ec) {
      into->close();
      return make_error("bind_failed", "cannot bind " + where + ": " + ec.message());
    }
    bound = into->local_endpoint().port();
    return {};
  }
};

DataPlane::DataPlane(const TimeSource& time, DataPlaneOptions options, RequestFilter filter,
                     DataPlaneHooks hooks)
    : impl_(std::make_unique<Impl>(time, std::move(options), std::move(filter), std::move(hooks))) {
}

DataPlane::~DataPlane() {
  stop();
}

Result<void> DataPlane::start() {
  std::lock_guard lock(impl_->stop_mutex);
  if (impl_->started) return make_error("bind_failed", "data plane already started");
  if (auto r = impl_->resolve_upstream(); !r) return r;
  if (impl_->options.tls)
    if (auto r = impl_->load_tls(); !r) return r;
  if (impl_->options.mtls)
    if (auto r = impl_->load_mtls(); !r) return r;
  const int threads = std::max(1, impl_->options.threads);
  for (int i = 0; i < threads; ++i) {
    impl_->workers.push_back(std::make_unique<Worker>());
    Worker& worker = *impl_->workers.back();
    worker.idle.resize(impl_->clusters.size());
    worker.grpc_pools.resize(impl_->clusters.size());
    worker.grpc_discovered.resize(impl_->clusters.size());
    for (const auto& cluster : impl_->clusters)
      if (cluster->fixed)
        for (size_t e = 0; e < cluster->fixed->addresses.size(); ++e)
          worker.grpc_pools[cluster->index].push_back(std::make_unique<h2::H2Pool>());
  }
  Result<void> bound = impl_->bind(impl_->acceptor, impl_->options.port, impl_->bound_port);
  if (bound && impl_->options.mtls)
    bound = impl_->bind(impl_->mtls_acceptor, impl_->options.mtls->port, impl_->mtls_bound_port);
  if (!bound) {
    impl_->acceptor.reset();
    impl_->mtls_acceptor.reset();
    impl_->workers.clear();
    return bound;
  }
  impl_->started = true;
  asio::co_spawn(impl_->workers.front()->io, impl_->accept_loop(*impl_->acceptor, false),
                 asio::detached);
  if (impl_->mtls_acceptor)
    asio::co_spawn(impl_->workers.front()->io, impl_->accept_loop(*impl_->mtls_acceptor, true),
                   asio::detached);
  if (impl_->options.tls || impl_->options.mtls)
    asio::co_spawn(impl_->workers.front()->io, impl_->trim_loop(), asio::detached);
  for (auto& worker : impl_->workers) {
    Worker* w = worker.get();
    // Keeps run() alive while a worker has no connection yet.
    w->thread = std::thread([w] {
      auto guard = asio::make_work_guard(w->io);
      w->io.run();
    });
  }
  return {};
}

void DataPlane::stop() {
  std::lock_guard lock(impl_->stop_mutex);
  if (!impl_->started || impl_->stopped) return;
  impl_->stopped = true;
  for (auto& worker : impl_->workers) worker->io.stop();
  for (auto& worker : impl_->workers)
    if (worker->thread.joinable()) worker->thread.join();
  // Sessions destroyed below release their handshake slots: nothing is handed on any more.
  impl_->stopping.store(true);
  beast::error_code ec;
  impl_->acceptor->close(ec);
  impl_->acceptor.reset();
  if (impl_->mtls_acceptor) impl_->mtls_acceptor->close(ec);
  impl_->mtls_acceptor.reset();
  // Destroying the io_contexts destroys the abandoned sessions' frames (and their streams).
  for (auto& worker : impl_->workers) {
    worker->idle.clear();
    worker->grpc_override.clear();
    worker->grpc_pools.clear();
    worker->grpc_discovered.clear();
  }
  impl_->workers.clear();
}

uint16_t DataPlane::port() const {
  return impl_->bound_port;
}
Result<void> DataPlane::reload_tls() {
  // Both contexts are built before either is swapped in: a bad file changes nothing.
  if (impl_->options.tls)
    if (auto r = impl_->load_tls(); !r) return r;
  if (impl_->options.mtls)
    if (auto r = impl_->load_mtls(); !r) return r;
  return {};
}

uint16_t DataPlane::mtls_port() const {
  return impl_->mtls_bound_port;
}

void DataPlane::set_cluster_endpoints(size_t cluster, const std::vector<std::string>& addresses) {
  if (cluster >= impl_->clusters.size()) return;
  std::vector<Url> urls;
  for (const auto& address : addresses)
    if (auto url = parse_endpoint_address(address)) urls.push_back(std::move(*url));
  ClusterState& c = *impl_->clusters[cluster];
  {
    // Unchanged (the usual poll round): keep the set and its in-flight counts.
    std::lock_guard lock(c.endpoints_mutex);
    if (c.discovered && c.discovered->authorities.size() == urls.size() &&
        std::equal(urls.begin(), urls.end(), c.discovered->authorities.begin(),
                   [](const Url& u, const std::string& a) { return u.authority() == a; }))
      return;
  }
  auto set = Impl::resolve_endpoints(urls, true);
  if (!set) return;
  std::lock_guard lock(c.endpoints_mutex);
  c.discovered = std::move(*set);
}

std::vector<ClusterStats> DataPlane::cluster_stats() const {
  std::vector<ClusterStats> out;
  for (const auto& c : impl_->clusters) {
    ClusterStats stats;
    stats.name = c->options.name;
    stats.requests = c->total.load(std::memory_order_relaxed);
    for (size_t i = 0; i < kClusterReasons.size(); ++i)
      stats.errors.emplace_back(kClusterReasons[i], c->errors[i].load(std::memory_order_relaxed));
    stats.circuit = circuit_state_name(c->breaker.state());
    stats.connections = c->connections.load(std::memory_order_relaxed);
    stats.active_requests = c->requests.load(std::memory_order_relaxed);
    stats.pending = c->pending.load(std::memory_order_relaxed);
    if (c->dynamic) {
      std::lock_guard lock(c->endpoints_mutex);
      stats.endpoints = c->discovered ? c->discovered->addresses.size() : 0;
    } else {
      stats.endpoints = c->fixed ? c->fixed->addresses.size() : c->options.endpoints.size();
    }
    out.push_back(std::move(stats));
  }
  return out;
}

HandshakeStats DataPlane::handshake_stats() const {
  std::lock_guard lock(impl_->stop_mutex);
  HandshakeStats out;
  out.queued = impl_->handshakes_queued.load(std::memory_order_relaxed);
  out.done = impl_->handshakes_done.load(std::memory_order_relaxed);
  for (size_t i = 0; i < out.timeouts.size(); ++i)
    out.timeouts[i] = impl_->handshake_timeouts[i].load(std::memory_order_relaxed);
  if (!impl_->started || impl_->stopped) return out;
  for (const auto& worker : impl_->workers) {
    out.in_flight += worker->handshakes.load(std::memory_order_relaxed);
    out.waiting += worker->handshakes_waiting.load(std::memory_order_relaxed);
  }
  // A listening socket's TCP_INFO: tcpi_unacked is its accept queue, tcpi_sacked the queue's size.
  for (const tcp::acceptor* acceptor : {impl_->acceptor.get(), impl_->mtls_acceptor.get()}) {
    if (!acceptor) continue;
    tcp_info info{};
    socklen_t length = sizeof info;
    if (::getsockopt(const_cast<tcp::acceptor*>(acceptor)->native_handle(), IPPROTO_TCP, TCP_INFO,
                     &info, &length) == 0) {
      out.backlog += info.tcpi_unacked;
      out.backlog_limit += info.tcpi_sacked;
    }
  }
  return out;
}

}  // namespace gatedrill::gateway
