#pragma once
// A gRPC-shaped h2c upstream for the gateway tests (nghttp2 server, blocking, a thread per
// connection on 127.0.0.1): every call is echoed back as 200 application/grpc with the
// request body as the response body and trailers grpc-status 0 and x-trailer; the path
// "/pkg.Svc/Missing" answers trailers-only grpc-status 5 (NOT_FOUND).
#include <netinet/in.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway_test_support.hpp"

namespace gatedrill::gateway::test {

class GrpcEchoUpstream {
 public:
  using Headers = std::map<std::string, std::string>;

  GrpcEchoUpstream() : listen_fd_(listen_loopback(port_)) {
    thread_ = std::thread([this] { run(); });
  }
  ~GrpcEchoUpstream() {
    stop_ = true;
    thread_.join();
    for (auto& t : connection_threads_) t.join();
    ::close(listen_fd_);
  }
  GrpcEchoUpstream(const GrpcEchoUpstream&) = delete;
  GrpcEchoUpstream& operator=(const GrpcEchoUpstream&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<Headers> seen() const {
    std::lock_guard lock(mutex_);
    return seen_;
  }
  int connections() const { return connections_.load(); }

 private:
  struct Stream {
    Headers headers;
    std::string body;
    size_t sent = 0;
    bool trailers_only = false;
  };

  void run() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;  // a stop check every 50 ms
      int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      ++connections_;
      connection_threads_.emplace_back([this, fd] {
        serve(fd);
        ::close(fd);
      });
    }
  }

  // One connection's streams (the callbacks' user data).
  struct Connection {
    GrpcEchoUpstream* self;
    std::map<int32_t, Stream> streams;
  };

  void serve(int fd) {
    Connection connection{this, {}};
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame);
    nghttp2_session* session = nullptr;
    nghttp2_session_server_new(&session, cb, &connection);
    nghttp2_session_callbacks_del(cb);
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
    while (!stop_) {
      const uint8_t* data = nullptr;
      ssize_t n;
      while ((n = nghttp2_session_mem_send(session, &data)) > 0)
        if (::send(fd, data, static_cast<size_t>(n), MSG_NOSIGNAL) != n) n = -1;
      if (n < 0) break;
      if (!nghttp2_session_want_read(session) && !nghttp2_session_want_write(session)) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buffer[16384];
      ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
      if (got <= 0) break;
      if (nghttp2_session_mem_recv(session, reinterpret_cast<uint8_t*>(buffer),
                                   static_cast<size_t>(got)) < 0)
        break;
    }
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
  static int on_data(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                     void* user) {
    static_cast<Connection*>(user)->streams[id].body.append(reinterpret_cast<const char*>(data),
                                                            len);
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
  static int on_frame(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
    auto* connection = static_cast<Connection*>(user);
    auto* self = connection->self;
    if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
        (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0)
      return 0;
    const int32_t id = frame->hd.stream_id;
    auto& s = connection->streams[id];
    {
      std::lock_guard lock(self->mutex_);
      self->seen_.push_back(s.headers);
    }
    const std::string status = ":status", ok = "200", ct = "content-type",
                      grpc = "application/grpc", gs = "grpc-status", five = "5",
                      gm = "grpc-message", missing = "no such method";
    if (s.headers[":path"] == "/pkg.Svc/Missing") {
      nghttp2_nv headers[] = {nv(status, ok), nv(ct, grpc), nv(gs, five), nv(gm, missing)};
      nghttp2_submit_response(session, id, headers, 4, nullptr);
      return 0;
    }
    nghttp2_nv headers[] = {nv(status, ok), nv(ct, grpc)};
    nghttp2_data_provider provider{};
    provider.read_callback = read_body;
    nghttp2_submit_response(session, id, headers, 2, &provider);
    return 0;
  }

  uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::atomic<int> connections_{0};
  std::vector<std::thread> connection_threads_;  // the accepting thread's only
  mutable std::mutex mutex_;
  std::vector<Headers> seen_;
};

}  // namespace gatedrill::gateway::test
