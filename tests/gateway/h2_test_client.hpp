#pragma once
// A blocking HTTP/2 client for the gateway tests: an nghttp2 client session over a loopback
// socket, plaintext (h2c prior knowledge) or TLS with ALPN "h2". It can also misbehave on
// purpose (open streams and reset them at once: the rapid-reset flood).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <list>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/time/time_source.hpp"

namespace gatedrill::gateway::test {

class H2TestClient {
 public:
  struct Reply {
    int status = 0;
    std::map<std::string, std::string> headers;
    std::map<std::string, std::string> trailers;
    std::string body;
    uint64_t body_bytes = 0;  // all of it, also when bodies are not kept
    bool closed = false;
    uint32_t error_code = 0;  // RST_STREAM code when the stream was reset
  };

  // tls: handshake with ALPN offering h2 (certificates not verified: a test CA-less server),
  // presenting the client certificate `cert_file`/`key_file` when given (mTLS).
  H2TestClient(uint16_t port, bool tls, const std::string& cert_file = "",
               const std::string& key_file = "") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    int one = 1;  // WINDOW_UPDATEs go at once, not behind Nagle and a delayed ACK
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (tls) {
      ctx_ = SSL_CTX_new(TLS_client_method());
      static const unsigned char kAlpn[] = {2, 'h', '2'};
      SSL_CTX_set_alpn_protos(ctx_, kAlpn, sizeof kAlpn);
      if (!cert_file.empty() &&
          (SSL_CTX_use_certificate_chain_file(ctx_, cert_file.c_str()) != 1 ||
           SSL_CTX_use_PrivateKey_file(ctx_, key_file.c_str(), SSL_FILETYPE_PEM) != 1))
        return;
      ssl_ = SSL_new(ctx_);
      SSL_set_fd(ssl_, fd_);
      if (SSL_connect(ssl_) != 1) return;
      const unsigned char* proto = nullptr;
      unsigned len = 0;
      SSL_get0_alpn_selected(ssl_, &proto, &len);
      alpn_ = std::string(reinterpret_cast<const char*>(proto), len);
    }
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
    nghttp2_session_client_new(&session_, cb, this);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0);
    connected_ = true;
  }
  ~H2TestClient() {
    if (session_) nghttp2_session_del(session_);
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    ::close(fd_);
  }
  H2TestClient(const H2TestClient&) = delete;
  H2TestClient& operator=(const H2TestClient&) = delete;

  bool connected() const { return connected_; }
  const std::string& alpn() const { return alpn_; }
  bool goaway() const { return goaway_; }
  bool settings_received() const { return settings_; }
  // Writes what is queued now, without reading.
  bool send() { return flush(); }
  uint32_t goaway_error() const { return goaway_error_; }
  bool peer_closed() const { return peer_closed_; }
  std::map<int32_t, Reply>& replies() { return replies_; }

  // Queues a request; returns its stream id (< 0 on error).
  int32_t submit(const std::string& method, const std::string& path,
                 std::vector<std::pair<std::string, std::string>> headers = {},
                 std::string body = "") {
    nghttp2_data_provider provider{};
    const bool has_body = !body.empty();
    if (has_body) {
      provider.read_callback = read_body;
      bodies_.push_back(std::move(body));
      provider.source.ptr = &bodies_.back();
    }
    return submit_with(method, path, std::move(headers), has_body ? &provider : nullptr);
  }
  // A request whose body is sent piece by piece (send_data), as a streaming gRPC client does.
  int32_t open_stream(const std::string& method, const std::string& path,
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    return open_with(pseudo_headers(method, path), std::move(headers));
  }
  // A CONNECT whose DATA is sent with send_data: with `protocol`, the extended CONNECT of RFC
  // 8441 (:protocol, :scheme, :path, :authority); without, a plain one (:authority only).
  int32_t open_connect(const std::string& protocol, const std::string& path,
                       std::vector<std::pair<std::string, std::string>> headers = {}) {
    if (protocol.empty())
      return open_with({{":method", "CONNECT"}, {":authority", "127.0.0.1:443"}},
                       std::move(headers));
    auto pseudo = pseudo_headers("CONNECT", path);
    pseudo.insert(pseudo.begin() + 1, {":protocol", protocol});
    return open_with(std::move(pseudo), std::move(headers));
  }
  // A SETTINGS value the server sent (nghttp2's default before its SETTINGS came).
  uint32_t remote_setting(nghttp2_settings_id id) const {
    return nghttp2_session_get_remote_settings(session_, id);
  }
  // More of an open_stream() body (sent by the next send() or run_until()); `end` ends it.
  void send_data(int32_t id, const std::string& data, bool end = false) {
    Outgoing* out = streams_out_.at(id);
    out->pending += data;
    out->end = out->end || end;
    nghttp2_session_resume_data(session_, id);
  }
  // What send_data queued on an open_stream() that has not gone out yet (flow control).
  uint64_t unsent(int32_t id) const { return streams_out_.at(id)->pending.size(); }
  // Counts response bytes without keeping them (large streams).
  void keep_bodies(bool keep) { keep_bodies_ = keep; }

  void reset(int32_t id) {
    nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
  }

  // Sends what is queued, then reads until `done` holds, the peer closes, or `limit` passes.
  bool run_until(const std::function<bool()>& done,
                 std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    SystemTimeSource clock;
    const int64_t deadline = clock.monotonic_ms() + limit.count();
    for (;;) {
      if (!flush()) return done();
      if (done()) return true;
      if (peer_closed_ || clock.monotonic_ms() >= deadline) return done();
      if (!(ssl_ && SSL_pending(ssl_) > 0)) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) <= 0) continue;
      }
      char buffer[16384];
      ssize_t n =
          ssl_ ? SSL_read(ssl_, buffer, sizeof buffer) : ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) {
        peer_closed_ = true;
        continue;
      }
      if (nghttp2_session_mem_recv(session_, reinterpret_cast<uint8_t*>(buffer),
                                   static_cast<size_t>(n)) < 0) {
        peer_closed_ = true;
      }
    }
  }
  // Runs until every submitted stream closed.
  bool run_all(std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    return run_until(
        [this] {
          for (auto& [id, r] : replies_)
            if (!r.closed) return false;
          return true;
        },
        limit);
  }

 private:
  using Fields = std::vector<std::pair<std::string, std::string>>;
  Fields pseudo_headers(const std::string& method, const std::string& path) const {
    return {{":method", method},
            {":scheme", ssl_ ? "https" : "http"},
            {":authority", "127.0.0.1"},
            {":path", path}};
  }
  int32_t open_with(Fields pseudo, Fields headers) {
    outgoing_.emplace_back();
    nghttp2_data_provider provider{};
    provider.read_callback = read_stream_body;
    provider.source.ptr = &outgoing_.back();
    const int32_t id = submit_fields(std::move(pseudo), std::move(headers), &provider);
    if (id > 0) streams_out_[id] = &outgoing_.back();
    return id;
  }
  int32_t submit_with(const std::string& method, const std::string& path, Fields headers,
                      const nghttp2_data_provider* provider) {
    return submit_fields(pseudo_headers(method, path), std::move(headers), provider);
  }
  int32_t submit_fields(Fields all, Fields headers, const nghttp2_data_provider* provider) {
    for (auto& h : headers) all.push_back(std::move(h));
    std::vector<nghttp2_nv> nva;
    for (auto& [name, value] : all)
      nva.push_back({reinterpret_cast<uint8_t*>(name.data()),
                     reinterpret_cast<uint8_t*>(value.data()), name.size(), value.size(),
                     NGHTTP2_NV_FLAG_NONE});
    const int32_t id =
        nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(), provider, nullptr);
    if (id > 0) replies_[id];
    return id;
  }
  bool flush() {
    for (;;) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) return false;
      if (n == 0) return true;
      size_t sent = 0;
      while (sent < static_cast<size_t>(n)) {
        ssize_t w = ssl_ ? SSL_write(ssl_, data + sent, static_cast<int>(n - sent))
                         : ::send(fd_, data + sent, n - sent, MSG_NOSIGNAL);
        if (w <= 0) {
          peer_closed_ = true;
          return false;
        }
        sent += static_cast<size_t>(w);
      }
    }
  }
  static ssize_t read_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                           nghttp2_data_source* source, void*) {
    auto* body = static_cast<std::string*>(source->ptr);
    size_t n = std::min(length, body->size());
    std::memcpy(buf, body->data(), n);
    body->erase(0, n);
    if (body->empty()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  static ssize_t read_stream_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                                  uint32_t* flags, nghttp2_data_source* source, void*) {
    auto* out = static_cast<Outgoing*>(source->ptr);
    const size_t n = std::min(length, out->pending.size());
    if (n == 0 && !out->end) return NGHTTP2_ERR_DEFERRED;
    std::memcpy(buf, out->pending.data(), n);
    out->pending.erase(0, n);
    if (out->pending.empty() && out->end) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user) {
    auto* self = static_cast<H2TestClient*>(user);
    auto& r = self->replies_[frame->hd.stream_id];
    std::string n(reinterpret_cast<const char*>(name), namelen);
    std::string v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status")
      r.status = std::stoi(v);
    else if (frame->headers.cat == NGHTTP2_HCAT_HEADERS && r.status != 0)
      r.trailers[n] = v;
    else
      r.headers[n] = v;
    return 0;
  }
  static int on_data(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                     void* user) {
    auto* self = static_cast<H2TestClient*>(user);
    auto& r = self->replies_[id];
    r.body_bytes += len;
    if (self->keep_bodies_) r.body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }
  static int on_close(nghttp2_session*, int32_t id, uint32_t error_code, void* user) {
    auto& r = static_cast<H2TestClient*>(user)->replies_[id];
    r.closed = true;
    r.error_code = error_code;
    return 0;
  }
  static int on_frame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto* self = static_cast<H2TestClient*>(user);
    if (frame->hd.type == NGHTTP2_SETTINGS && (frame->hd.flags & NGHTTP2_FLAG_ACK) == 0)
      self->settings_ = true;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
      self->goaway_ = true;
      self->goaway_error_ = frame->goaway.error_code;
    }
    return 0;
  }

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  nghttp2_session* session_ = nullptr;
  bool connected_ = false;
  bool goaway_ = false;
  bool settings_ = false;
  uint32_t goaway_error_ = 0;
  bool peer_closed_ = false;
  std::string alpn_;
  std::map<int32_t, Reply> replies_;
  std::list<std::string> bodies_;  // stable addresses for the data providers
  struct Outgoing {
    std::string pending;
    bool end = false;
  };
  std::list<Outgoing> outgoing_;  // open_stream() bodies (stable addresses)
  std::map<int32_t, Outgoing*> streams_out_;
  bool keep_bodies_ = true;
};

}  // namespace gatedrill::gateway::test
