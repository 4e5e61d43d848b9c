#pragma once
// A gRPC-shaped h2 upstream for the gateway tests (nghttp2 server, blocking, a thread per
// connection on 127.0.0.1; h2c, or TLS with ALPN "h2"): every call is echoed back as 200
// application/grpc with the request body as the response body and trailers grpc-status 0 and
// x-trailer. Some paths misbehave on purpose:
//   /pkg.Svc/Missing  trailers-only grpc-status 5 (NOT_FOUND)
//   /pkg.Svc/Hold     held until `hold` of them are open (on all connections together), then
//                     all echoed (a gateway that waits for some to end before sending others
//                     gets no answer); later ones are echoed at once
//   /pkg.Svc/Slow     never answered
//   /pkg.Svc/Reset    RST_STREAM INTERNAL_ERROR
//   /pkg.Svc/Refuse   RST_STREAM REFUSED_STREAM (not processed: the gateway may send it again)
//   /pkg.Svc/Drop     the connection is closed
//   /pkg.Svc/Freeze   nothing more is read or written on the connection (a black hole)
//   /pkg.Svc/Drain    held until `hold` are open on the connection; the first time, GOAWAY
//                     with the lowest of them as last-stream-id: that one is echoed, the others
//                     were never processed
// Streaming paths answer at the request's HEADERS, before its end:
//   /pkg.Svc/Stream   message "one" at once; after release() message "two" and grpc-status 0
//   /pkg.Svc/ResetMidStream  "one"; after release() RST_STREAM INTERNAL_ERROR
//   /pkg.Svc/DropMidStream   "one"; after release() the connection is closed
//   /pkg.Svc/PingPong each request message echoed as "re:" + it as soon as it is whole;
//                     grpc-status 0 once the request ended
//   /pkg.Svc/Count    answers once the request ended: "<messages> messages"
//   /pkg.Svc/Big      `big_bytes` of 16 KB messages, then grpc-status 0 (generated as sent)
//   /pkg.Svc/Tick     `x-tick-count` messages "tick <n>", one every `x-tick-ms` (the first
//                     after one interval), then grpc-status 0: paced by the upstream's clock
// received_bytes() counts the DATA of streaming calls as it arrives.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/time/time_source.hpp"
#include "gateway_test_support.hpp"

namespace gatedrill::gateway::test {

struct GrpcUpstreamOptions {
  size_t hold = 0;                     // /pkg.Svc/Hold and /pkg.Svc/Drain
  std::optional<TlsServerConfig> tls;  // TLS, selecting "h2" by ALPN
  bool require_client_cert = false;    // with tls: a client without a certificate is refused
  size_t big_bytes = 0;                // /pkg.Svc/Big
};

class GrpcEchoUpstream {
 public:
  using Headers = std::map<std::string, std::string>;
  using Options = GrpcUpstreamOptions;

  explicit GrpcEchoUpstream(Options options = {})
      : options_(std::move(options)), listen_fd_(listen_loopback(port_)) {
    if (options_.tls) {
      ctx_ = SSL_CTX_new(TLS_server_method());
      SSL_CTX_use_certificate_chain_file(ctx_, options_.tls->cert_chain_file.c_str());
      SSL_CTX_use_PrivateKey_file(ctx_, options_.tls->key_file.c_str(), SSL_FILETYPE_PEM);
      SSL_CTX_set_alpn_select_cb(ctx_, select_h2, nullptr);
      if (options_.require_client_cert)
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    thread_ = std::thread([this] { run(); });
  }
  ~GrpcEchoUpstream() {
    stop_ = true;
    thread_.join();
    for (auto& t : connection_threads_) t.join();
    ::close(listen_fd_);
    if (ctx_) SSL_CTX_free(ctx_);
  }
  GrpcEchoUpstream(const GrpcEchoUpstream&) = delete;
  GrpcEchoUpstream& operator=(const GrpcEchoUpstream&) = delete;

  std::string url() const {
    return std::string(ctx_ ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_);
  }
  std::vector<Headers> seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  // Calls to `path` that reached the upstream (whole request received).
  size_t seen(const std::string& path) const {
    std::lock_guard lock(mutex_);
    return static_cast<size_t>(std::count_if(
        seen_.begin(), seen_.end(), [&](const Headers& h) { return h.at(":path") == path; }));
  }
  int connections() const { return connections_.load(); }
  int cancelled() const { return cancelled_.load(); }  // streams the client reset with CANCEL
  // Lets the held streaming calls go on (Stream, ResetMidStream, DropMidStream).
  void release() { released_ = true; }
  uint64_t received_bytes() const { return received_bytes_.load(); }
  // /pkg.Svc/Big: bytes handed to the connection, and whether it waits for the client (the
  // gateway) to open the stream's flow-control window.
  uint64_t big_sent() const { return big_sent_.load(); }
  bool big_blocked() const { return big_blocked_.load(); }

 private:
  struct Stream {
    Headers headers;
    std::string body;
    size_t sent = 0;
    // Streaming paths: the answer as it is produced.
    bool streaming = false;
    bool waiting = false;  // for release()
    std::string out;
    size_t out_sent = 0;
    bool out_end = false;
    size_t parsed = 0;    // PingPong: request bytes already answered
    size_t messages = 0;  // Count
    uint64_t big_left = 0;
    int ticks_left = 0;  // Tick
    int ticks_sent = 0;
    int64_t tick_ms = 0;
    int64_t next_tick_ms = 0;
  };

  static int select_h2(SSL*, const unsigned char** out, unsigned char* out_len,
                       const unsigned char* in, unsigned in_len, void*) {
    static constexpr unsigned char kH2[] = {2, 'h', '2'};
    unsigned char* selected = nullptr;
    if (SSL_select_next_proto(&selected, out_len, kH2, sizeof kH2, in, in_len) !=
        OPENSSL_NPN_NEGOTIATED)
      return SSL_TLSEXT_ERR_NOACK;
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }

  void run() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;  // a stop check every 50 ms
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      ++connections_;
      connection_threads_.emplace_back([this, fd] {
        timeval tv{1, 0};  // a TLS record cut in half cannot block a stop for long
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        int one = 1;  // frames go at once, not behind Nagle and a delayed ACK
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        SSL* ssl = nullptr;
        if (ctx_) {
          ssl = SSL_new(ctx_);
          SSL_set_fd(ssl, fd);
        }
        if (!ssl || SSL_accept(ssl) == 1) serve(fd, ssl);
        if (ssl) SSL_free(ssl);
        ::close(fd);
      });
    }
  }

  // One connection's streams (the callbacks' user data).
  struct Connection {
    GrpcEchoUpstream* self;
    std::map<int32_t, Stream> streams;
    std::vector<int32_t> held;
    bool drop = false;
    bool freeze = false;
  };

  static bool streaming_path(const std::string& path) {
    return path == "/pkg.Svc/Stream" || path == "/pkg.Svc/ResetMidStream" ||
           path == "/pkg.Svc/DropMidStream" || path == "/pkg.Svc/PingPong" ||
           path == "/pkg.Svc/Count" || path == "/pkg.Svc/Big" || path == "/pkg.Svc/Tick";
  }

  // Between reads: held calls that may go, and the state of /pkg.Svc/Big.
  void tick(nghttp2_session* session, Connection& connection) {
    if (options_.hold > 0 && held_total_.load() >= options_.hold && !connection.held.empty()) {
      for (int32_t held : connection.held) echo(session, held);
      connection.held.clear();
    }
    for (auto& [id, s] : connection.streams) {
      if (s.waiting && released_) {
        s.waiting = false;
        const std::string& path = s.headers[":path"];
        if (path == "/pkg.Svc/ResetMidStream") {
          nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
          continue;
        }
        if (path == "/pkg.Svc/DropMidStream") {
          connection.drop = true;
          return;
        }
        send_message(session, id, s, "two", true);
      }
      if (s.big_left > 0)
        big_blocked_ = nghttp2_session_get_stream_remote_window_size(session, id) <= 0;
      if (s.ticks_left > 0 && clock_.monotonic_ms() >= s.next_tick_ms) {
        s.next_tick_ms += s.tick_ms;
        --s.ticks_left;
        send_message(session, id, s, "tick " + std::to_string(++s.ticks_sent), s.ticks_left == 0);
      }
    }
  }

  void serve(int fd, SSL* ssl) {
    Connection connection{this, {}, {}, false, false};
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    nghttp2_session* session = nullptr;
    nghttp2_session_server_new(&session, cb, &connection);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
    while (!stop_ && !connection.drop) {
      tick(session, connection);
      if (connection.drop) break;
      if (connection.freeze) {
        pollfd none{-1, 0, 0};
        ::poll(&none, 1, 50);  // a stop check every 50 ms
        continue;
      }
      const uint8_t* data = nullptr;
      ssize_t n;
      while ((n = nghttp2_session_mem_send(session, &data)) > 0) {
        const auto sent = ssl ? SSL_write(ssl, data, static_cast<int>(n))
                              : ::send(fd, data, static_cast<size_t>(n), MSG_NOSIGNAL);
        if (sent != n) n = -1;
      }
      if (n < 0) break;
      if (!nghttp2_session_want_read(session) && !nghttp2_session_want_write(session)) break;
      if (!(ssl && SSL_pending(ssl) > 0)) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
      }
      char buffer[16384];
      const ssize_t got =
          ssl ? SSL_read(ssl, buffer, sizeof buffer) : ::recv(fd, buffer, sizeof buffer, 0);
      if (got <= 0) break;
      if (nghttp2_session_mem_recv(session, reinterpret_cast<uint8_t*>(buffer),
                                   static_cast<size_t>(got)) < 0)
        break;
    }
    ::shutdown(fd, SHUT_RDWR);
    nghttp2_session_del(session);
  }

  static nghttp2_nv nv(const std::string& name, const std::string& value) {
    return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
            reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
            NGHTTP2_NV_FLAG_NONE};
  }
  static int on_begin(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    static_cast<Connection*>(user)->streams[frame->hd.stream_id] = Stream{};
    return 0;
  }
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    static_cast<Connection*>(user)
        ->streams[frame->hd.stream_id]
        .headers[std::string(reinterpret_cast<const char*>(name), namelen)] =
        std::string(reinterpret_cast<const char*>(value), valuelen);
    return 0;
  }
  static int on_data(nghttp2_session* session, uint8_t, int32_t id, const uint8_t* data, size_t len,
                     void* user) {
    auto* connection = static_cast<Connection*>(user);
    auto& s = connection->streams[id];
    s.body.append(reinterpret_cast<const char*>(data), len);
    if (!s.streaming) return 0;
    connection->self->received_bytes_ += len;
    // Whole messages: 5-byte prefix (flag, big-endian length), then the payload.
    while (s.body.size() - s.parsed >= 5) {
      const auto* p = reinterpret_cast<const unsigned char*>(s.body.data() + s.parsed);
      const size_t length =
          (size_t{p[1]} << 24) | (size_t{p[2]} << 16) | (size_t{p[3]} << 8) | p[4];
      if (s.body.size() - s.parsed - 5 < length) break;
      const std::string payload = s.body.substr(s.parsed + 5, length);
      s.parsed += 5 + length;
      ++s.messages;
      if (s.headers[":path"] == "/pkg.Svc/PingPong")
        send_message(session, id, s, "re:" + payload, false);
    }
    return 0;
  }

  // A gRPC message on a streaming call's answer (and its end: grpc-status 0).
  static void send_message(nghttp2_session* session, int32_t id, Stream& s,
                           const std::string& payload, bool end) {
    std::string frame(5, '\0');
    frame[2] = static_cast<char>((payload.size() >> 16) & 0xff);
    frame[3] = static_cast<char>((payload.size() >> 8) & 0xff);
    frame[4] = static_cast<char>(payload.size() & 0xff);
    s.out += frame + payload;
    s.out_end = s.out_end || end;
    nghttp2_session_resume_data(session, id);
  }

  static ssize_t read_stream(nghttp2_session* session, int32_t id, uint8_t* buf, size_t length,
                             uint32_t* flags, nghttp2_data_source*, void* user) {
    auto* connection = static_cast<Connection*>(user);
    auto& s = connection->streams[id];
    size_t n = 0;
    if (s.big_left > 0) {
      // 16 KB messages generated as they go out: a 5-byte prefix at each message start.
      n = static_cast<size_t>(std::min<uint64_t>(length, s.big_left));
      const uint64_t done = connection->self->options_.big_bytes - s.big_left;
      for (size_t i = 0; i < n; ++i) {
        const uint64_t at = (done + i) % (16 * 1024 + 5);
        buf[i] = at == 0 || at == 1 || at == 2 ? 0 : at == 3 ? 0x40 : at == 4 ? 0 : 'x';
      }
      s.big_left -= n;
      connection->self->big_sent_ += n;
      if (s.big_left == 0) s.out_end = true;
    } else {
      n = std::min(length, s.out.size() - s.out_sent);
      std::copy_n(s.out.data() + s.out_sent, n, buf);
      s.out_sent += n;
    }
    if (n == 0 && !s.out_end) return NGHTTP2_ERR_DEFERRED;
    if (s.big_left == 0 && s.out_sent == s.out.size() && s.out_end) {
      *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
      const std::string n1 = "grpc-status", v1 = "0";
      nghttp2_nv trailers[] = {nv(n1, v1)};
      nghttp2_submit_trailer(session, id, trailers, 1);
    }
    return static_cast<ssize_t>(n);
  }
  static int on_close(nghttp2_session*, int32_t, uint32_t error_code, void* user) {
    if (error_code == NGHTTP2_CANCEL) ++static_cast<Connection*>(user)->self->cancelled_;
    return 0;
  }
  static ssize_t read_body(nghttp2_session* session, int32_t id, uint8_t* buf, size_t length,
                           uint32_t* flags, nghttp2_data_source*, void* user) {
    auto& s = static_cast<Connection*>(user)->streams[id];
    const size_t n = std::min(length, s.body.size() - s.sent);
    std::copy_n(s.body.data() + s.sent, n, buf);
    s.sent += n;
    if (s.sent == s.body.size()) {
      *flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
      const std::string n1 = "grpc-status", v1 = "0", n2 = "x-trailer", v2 = "yes";
      nghttp2_nv trailers[] = {nv(n1, v1), nv(n2, v2)};
      nghttp2_submit_trailer(session, id, trailers, 2);
    }
    return static_cast<ssize_t>(n);
  }
  // 200 application/grpc, the body from `read`.
  static void respond(nghttp2_session* session, int32_t id,
                      nghttp2_data_source_read_callback read) {
    const std::string status = ":status", ok = "200", ct = "content-type",
                      grpc = "application/grpc";
    nghttp2_nv headers[] = {nv(status, ok), nv(ct, grpc)};
    nghttp2_data_provider provider{};
    provider.read_callback = read;
    nghttp2_submit_response(session, id, headers, 2, &provider);
  }
  static void echo(nghttp2_session* session, int32_t id) { respond(session, id, read_body); }
  // A streaming call's answer starts at its request's HEADERS.
  void start_stream(nghttp2_session* session, int32_t id, Stream& s) {
    s.streaming = true;
    const std::string& path = s.headers[":path"];
    respond(session, id, read_stream);
    if (path == "/pkg.Svc/Big") {
      s.big_left = options_.big_bytes;
    } else if (path == "/pkg.Svc/Tick") {
      s.ticks_left = std::atoi(s.headers["x-tick-count"].c_str());
      s.tick_ms = std::atoi(s.headers["x-tick-ms"].c_str());
      s.next_tick_ms = clock_.monotonic_ms() + s.tick_ms;
      if (s.ticks_left <= 0) send_message(session, id, s, "no ticks", true);
    } else if (path != "/pkg.Svc/PingPong" && path != "/pkg.Svc/Count") {
      send_message(session, id, s, "one", false);
      s.waiting = true;
    }
  }

  static int on_frame(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    auto* connection = static_cast<Connection*>(user);
    auto* self = connection->self;
    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
    const int32_t id = frame->hd.stream_id;
    auto& s = connection->streams[id];
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST &&
        streaming_path(s.headers[":path"])) {
      {
        std::lock_guard lock(self->mutex_);
        self->seen_.push_back(s.headers);
      }
      self->start_stream(session, id, s);
    }
    if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) return 0;
    if (s.streaming) {
      // The request ended: PingPong and Count finish.
      const std::string& path = s.headers[":path"];
      if (path == "/pkg.Svc/PingPong") send_message(session, id, s, "bye", true);
      if (path == "/pkg.Svc/Count")
        send_message(session, id, s, std::to_string(s.messages) + " messages", true);
      return 0;
    }
    {
      std::lock_guard lock(self->mutex_);
      self->seen_.push_back(s.headers);
    }
    const std::string& path = s.headers[":path"];
    if (path == "/pkg.Svc/Missing") {
      const std::string status = ":status", ok = "200", ct = "content-type",
                        grpc = "application/grpc", gs = "grpc-status", five = "5",
                        gm = "grpc-message", missing = "no such method";
      nghttp2_nv headers[] = {nv(status, ok), nv(ct, grpc), nv(gs, five), nv(gm, missing)};
      nghttp2_submit_response(session, id, headers, 4, nullptr);
    } else if (path == "/pkg.Svc/Slow") {
      // never answered
    } else if (path == "/pkg.Svc/Reset") {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
    } else if (path == "/pkg.Svc/Refuse") {
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
    } else if (path == "/pkg.Svc/Drop") {
      connection->drop = true;
    } else if (path == "/pkg.Svc/Freeze") {
      connection->freeze = true;
    } else if (path == "/pkg.Svc/Hold") {
      connection->held.push_back(id);  // tick() answers them
      ++self->held_total_;
    } else if (path == "/pkg.Svc/Drain" && !self->drained_) {
      connection->held.push_back(id);
      if (connection->held.size() < self->options_.hold) return 0;
      std::sort(connection->held.begin(), connection->held.end());
      self->drained_ = true;
      const int32_t last = connection->held.front();
      nghttp2_submit_goaway(session, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, nullptr, 0);
      echo(session, last);
      {
        // The others were never processed: uncounted (the gateway sends them again).
        std::lock_guard lock(self->mutex_);
        for (size_t i = 1; i < connection->held.size(); ++i) self->seen_.pop_back();
      }
      connection->held.clear();
    } else {
      echo(session, id);
    }
    return 0;
  }

  Options options_;
  SystemTimeSource clock_;  // Tick's pacing
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  std::atomic<bool> stop_{false};
  std::atomic<bool> drained_{false};
  std::thread thread_;
  std::atomic<int> connections_{0};
  std::atomic<int> cancelled_{0};
  std::atomic<size_t> held_total_{0};
  std::atomic<bool> released_{false};
  std::atomic<uint64_t> received_bytes_{0};
  std::atomic<uint64_t> big_sent_{0};
  std::atomic<bool> big_blocked_{false};
  std::vector<std::thread> connection_threads_;  // the accepting thread's only
  mutable std::mutex mutex_;
  std::vector<Headers> seen_;
};

}  // namespace gatedrill::gateway::test
