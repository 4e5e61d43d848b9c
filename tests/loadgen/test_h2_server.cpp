#include "tests/loadgen/test_h2_server.hpp"

#include <nghttp2/nghttp2.h>
#include <openssl/ssl.h>

#include <cstring>

#include "tests/loadgen/test_http_server.hpp"

namespace gatedrill::testing {
namespace {

int select_h2(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
              unsigned int inlen, void*) {
  return nghttp2_select_next_protocol(const_cast<unsigned char**>(out), outlen, in, inlen) == 1
             ? SSL_TLSEXT_ERR_OK
             : SSL_TLSEXT_ERR_ALERT_FATAL;
}

// One connection's session state, reached from nghttp2's callbacks.
struct Session {
  std::mutex* paths_mutex;
  std::vector<std::string>* paths;
  std::atomic<int64_t>* requests;
  int64_t batch = 0;  // requests answered during the current read
};

const char kBody[] = "ok";

ssize_t read_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                  nghttp2_data_source*, void*) {
  size_t n = std::min(length, sizeof kBody - 1);
  std::memcpy(buf, kBody, n);
  *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name, size_t namelen,
              const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  auto* s = static_cast<Session*>(user);
  if (frame->hd.type == NGHTTP2_HEADERS && namelen == 5 && std::memcmp(name, ":path", 5) == 0) {
    std::lock_guard<std::mutex> lock(*s->paths_mutex);
    s->paths->emplace_back(reinterpret_cast<const char*>(value), valuelen);
  }
  return 0;
}

int on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto* s = static_cast<Session*>(user);
  bool request_done = (frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
                      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (!request_done) return 0;
  auto nv = [](const char* name, const char* value) {
    return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name)),
                      reinterpret_cast<uint8_t*>(const_cast<char*>(value)), std::strlen(name),
                      std::strlen(value), NGHTTP2_NV_FLAG_NONE};
  };
  nghttp2_nv headers[] = {nv(":status", "200"), nv("content-length", "2")};
  nghttp2_data_provider provider{};
  provider.read_callback = read_body;
  nghttp2_submit_response(session, frame->hd.stream_id, headers, 2, &provider);
  ++*s->requests;
  ++s->batch;
  return 0;
}

ssl_ctx_st* with_h2_alpn(ssl_ctx_st* tls) {
  if (tls != nullptr) SSL_CTX_set_alpn_select_cb(tls, select_h2, nullptr);
  return tls;
}

}  // namespace

TestH2Server::TestH2Server(ssl_ctx_st* tls, std::function<void()> on_thread_start)
    : tls_(with_h2_alpn(tls)),
      acceptor_([this](Stream& stream) { serve(stream); }, tls_, std::move(on_thread_start)) {}

std::string TestH2Server::url(const std::string& path) const {
  return std::string(tls_ != nullptr ? "https" : "http") +
         "://127.0.0.1:" + std::to_string(acceptor_.port()) + path;
}

std::vector<std::string> TestH2Server::paths() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return paths_;
}

void TestH2Server::serve(Stream& stream) {
  Session state{&mutex_, &paths_, &requests_};
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv);
  nghttp2_session* session = nullptr;
  nghttp2_session_server_new(&session, callbacks, &state);
  nghttp2_session_callbacks_del(callbacks);
  nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100}};
  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, 1);
  char buf[16384];
  for (;;) {
    // Every queued frame in one write.
    const uint8_t* out = nullptr;
    std::string pending;
    for (ssize_t n; (n = nghttp2_session_mem_send(session, &out)) > 0;)
      pending.append(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
    if ((!pending.empty() && !stream.write(pending)) || acceptor_.stopping()) break;
    ssize_t got = stream.read(buf, sizeof buf);
    if (got <= 0) break;
    state.batch = 0;
    if (nghttp2_session_mem_recv(session, reinterpret_cast<const uint8_t*>(buf),
                                 static_cast<size_t>(got)) < 0)
      break;
    int64_t seen = max_batch_.load();
    while (state.batch > seen && !max_batch_.compare_exchange_weak(seen, state.batch)) {
    }
  }
  nghttp2_session_del(session);
}

}  // namespace gatedrill::testing
