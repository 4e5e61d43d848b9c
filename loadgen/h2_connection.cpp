#include "loadgen/h2_connection.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstring>
#include <new>

#include "core/util/strings.hpp"

namespace gatedrill::loadgen {

// ---------------------------------------------------------------------------------------------
// Requests

struct H2Requests::Impl {
  struct Request {
    std::vector<std::string> strings;  // name, value, name, value ...; never resized after fill
    std::vector<nghttp2_nv> nva;
    std::string body;
  };
  std::vector<Request> requests;
};

H2Requests::H2Requests(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
H2Requests::~H2Requests() = default;
size_t H2Requests::size() const {
  return impl_->requests.size();
}

Result<std::shared_ptr<const H2Requests>> H2Requests::from_http1(const std::vector<std::string>& h1,
                                                                 bool tls) {
  auto impl = std::make_unique<Impl>();
  impl->requests.resize(h1.size());
  for (size_t i = 0; i < h1.size(); ++i) {
    std::string_view text = h1[i];
    size_t end = text.find("\r\n\r\n");
    if (end == std::string_view::npos)
      return make_error("bad_options", "a request has no end of headers");
    Impl::Request& r = impl->requests[i];
    r.body = std::string(text.substr(end + 4));
    std::string_view head = text.substr(0, end + 2);
    size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
    if (sp1 == std::string_view::npos || sp2 <= sp1)
      return make_error("bad_options", "a request line is malformed");
    std::vector<std::pair<std::string, std::string>> fields = {
        {":method", std::string(line.substr(0, sp1))},
        {":scheme", tls ? "https" : "http"},
        {":path", std::string(line.substr(sp1 + 1, sp2 - sp1 - 1))}};
    for (size_t pos = eol + 2; pos < head.size();) {
      size_t next = head.find("\r\n", pos);
      std::string_view field = head.substr(pos, next - pos);
      pos = next + 2;
      size_t colon = field.find(':');
      if (colon == std::string_view::npos) continue;
      std::string name = to_lower(field.substr(0, colon));
      std::string value(trim(field.substr(colon + 1)));
      if (name == "host") {
        fields.insert(fields.begin() + 3, {":authority", value});
      } else if (name != "connection" && name != "keep-alive" && name != "proxy-connection" &&
                 name != "transfer-encoding" && name != "upgrade" && name != "te") {
        fields.emplace_back(std::move(name), std::move(value));
      }
    }
    for (auto& [name, value] : fields) {
      r.strings.push_back(std::move(name));
      r.strings.push_back(std::move(value));
    }
    for (size_t k = 0; k + 1 < r.strings.size(); k += 2)
      r.nva.push_back({reinterpret_cast<uint8_t*>(r.strings[k].data()),
                       reinterpret_cast<uint8_t*>(r.strings[k + 1].data()), r.strings[k].size(),
                       r.strings[k + 1].size(),
                       NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE});
  }
  return std::shared_ptr<const H2Requests>(new H2Requests(std::move(impl)));
}

// ---------------------------------------------------------------------------------------------
// Memory: nghttp2 allocates per stream (stream state, header buffers, frames). A session's
// allocations go through a free-list pool of power-of-two blocks, so after warm-up a stream
// reuses the blocks of the streams before it and the load loop allocates nothing per request
// on HTTP/2 either. Fresh blocks come from operator new (which the allocation test counts).

namespace {

class SessionPool {
 public:
  SessionPool() = default;
  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;
  ~SessionPool() {
    for (Free* head : free_)
      while (head != nullptr) {
        Free* next = head->next;
        ::operator delete(reinterpret_cast<char*>(head) - kHeader);
        head = next;
      }
  }

  nghttp2_mem mem() {
    nghttp2_mem m{};
    m.mem_user_data = this;
    m.malloc = [](size_t size, void* pool) { return static_cast<SessionPool*>(pool)->get(size); };
    m.free = [](void* p, void* pool) { static_cast<SessionPool*>(pool)->put(p); };
    m.calloc = [](size_t n, size_t size, void* pool) {
      void* p = static_cast<SessionPool*>(pool)->get(n * size);
      if (p != nullptr) std::memset(p, 0, n * size);
      return p;
    };
    m.realloc = [](void* p, size_t size, void* pool) {
      return static_cast<SessionPool*>(pool)->resize(p, size);
    };
    return m;
  }

 private:
  struct Free {
    Free* next;
  };
  // Each block starts with a header: its size class and usable size (kept max-aligned).
  struct Header {
    size_t size_class;
    size_t size;
  };
  static constexpr size_t kHeader = alignof(std::max_align_t);
  static_assert(sizeof(Header) <= kHeader);
  static constexpr size_t kClasses = 13;  // 16 B .. 64 KiB; larger blocks are not pooled
  static constexpr size_t kUnpooled = kClasses;

  static size_t class_size(size_t k) { return size_t{16} << k; }
  static Header& header(void* p) {
    return *reinterpret_cast<Header*>(static_cast<char*>(p) - kHeader);
  }

  void* get(size_t size) {
    // The smallest class that fits: 16 << k >= size.
    size_t k = size <= 16 ? 0 : static_cast<size_t>(std::bit_width(size - 1)) - 4;
    if (k < kClasses) {
      if (Free* f = free_[k]) {
        free_[k] = f->next;
        return f;
      }
      size = class_size(k);
    }
    char* raw = static_cast<char*>(::operator new(kHeader + size, std::nothrow));
    if (raw == nullptr) return nullptr;
    *reinterpret_cast<Header*>(raw) = {k, size};
    return raw + kHeader;
  }

  void put(void* p) {
    if (p == nullptr) return;
    size_t k = header(p).size_class;
    if (k == kUnpooled) {
      ::operator delete(static_cast<char*>(p) - kHeader);
      return;
    }
    auto* f = static_cast<Free*>(p);
    f->next = free_[k];
    free_[k] = f;
  }

  void* resize(void* p, size_t size) {
    if (p == nullptr) return get(size);
    if (size == 0) {
      put(p);
      return nullptr;
    }
    size_t old = header(p).size;
    if (old >= size) return p;
    void* bigger = get(size);
    if (bigger == nullptr) return nullptr;
    std::memcpy(bigger, p, old);
    put(p);
    return bigger;
  }

  std::array<Free*, kClasses> free_{};
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Session

struct H2Connection::Impl {
  struct SlotState {
    int32_t stream_id = -1;  // -1: free (or cancelled: its close is not reported)
    int status = 0;
    const std::string* body = nullptr;
    size_t offset = 0;
  };

  H2Connection* owner = nullptr;
  SessionPool pool;  // before session: outlives it
  nghttp2_session* session = nullptr;
  int max_streams = 1;
  OnStreamEnd on_end = nullptr;
  void* context = nullptr;
  std::vector<SlotState> slots;
  bool goaway = false;

  static SlotState* slot_of(nghttp2_session* session, int32_t stream_id) {
    auto* s = static_cast<SlotState*>(nghttp2_session_get_stream_user_data(session, stream_id));
    return s != nullptr && s->stream_id == stream_id ? s : nullptr;
  }

  static int on_header(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void*) {
    if (frame->hd.type != NGHTTP2_HEADERS || namelen != 7 || std::memcmp(name, ":status", 7) != 0)
      return 0;
    if (SlotState* s = slot_of(session, frame->hd.stream_id)) {
      int status = 0;
      for (size_t i = 0; i < valuelen && i < 3; ++i) status = status * 10 + (value[i] - '0');
      if (s->status < 200) s->status = status;  // a final status replaces an interim 1xx
    }
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    if (frame->hd.type == NGHTTP2_GOAWAY) static_cast<Impl*>(user)->goaway = true;
    return 0;
  }

  static int on_stream_close(nghttp2_session* session, int32_t stream_id, uint32_t error_code,
                             void* user) {
    auto* self = static_cast<Impl*>(user);
    SlotState* s = slot_of(session, stream_id);
    if (s == nullptr) return 0;  // cancelled by us
    int slot = static_cast<int>(s - self->slots.data());
    int status = s->status;
    s->stream_id = -1;
    --self->owner->in_flight_;
    self->on_end(self->context, slot, status, error_code == NGHTTP2_NO_ERROR && status != 0);
    return 0;
  }

  static ssize_t read_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                           nghttp2_data_source* source, void*) {
    auto* s = static_cast<SlotState*>(source->ptr);
    size_t n = std::min(length, s->body->size() - s->offset);
    std::memcpy(buf, s->body->data() + s->offset, n);
    s->offset += n;
    if (s->offset == s->body->size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }
};

H2Connection::H2Connection(int max_streams, OnStreamEnd on_end, void* context)
    : impl_(std::make_unique<Impl>()) {
  impl_->owner = this;
  impl_->max_streams = std::max(1, max_streams);
  impl_->on_end = on_end;
  impl_->context = context;
  impl_->slots.resize(static_cast<size_t>(impl_->max_streams));
}

H2Connection::~H2Connection() {
  if (impl_->session != nullptr) nghttp2_session_del(impl_->session);
}

Result<void> H2Connection::start() {
  nghttp2_session_callbacks* callbacks = nullptr;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, Impl::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, Impl::on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, Impl::on_stream_close);
  nghttp2_mem mem = impl_->pool.mem();
  int rv = nghttp2_session_client_new3(&impl_->session, callbacks, impl_.get(), nullptr, &mem);
  nghttp2_session_callbacks_del(callbacks);
  if (rv != 0) return make_error("h2", std::string("session: ") + nghttp2_strerror(rv));
  // Large windows: the generator reads everything at once, flow control would only slow it.
  const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                             {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 24}};
  rv = nghttp2_submit_settings(impl_->session, NGHTTP2_FLAG_NONE, settings, 2);
  if (rv == 0)
    rv = nghttp2_session_set_local_window_size(impl_->session, NGHTTP2_FLAG_NONE, 0, 1 << 26);
  if (rv != 0) return make_error("h2", std::string("settings: ") + nghttp2_strerror(rv));
  return {};
}

int H2Connection::capacity() const {
  if (impl_->session == nullptr || impl_->goaway) return 0;
  uint32_t remote =
      nghttp2_session_get_remote_settings(impl_->session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  int limit = std::min<int64_t>(impl_->max_streams, remote);
  return std::max(0, limit - in_flight_);
}

Result<void> H2Connection::submit(const H2Requests& requests, size_t index, int slot) {
  const auto& r = requests.impl().requests[index % requests.size()];
  Impl::SlotState& s = impl_->slots[static_cast<size_t>(slot)];
  s.status = 0;
  s.body = &r.body;
  s.offset = 0;
  nghttp2_data_provider provider{};
  provider.source.ptr = &s;
  provider.read_callback = Impl::read_body;
  int32_t id = nghttp2_submit_request(impl_->session, nullptr, r.nva.data(), r.nva.size(),
                                      r.body.empty() ? nullptr : &provider, &s);
  if (id < 0) return make_error("h2", std::string("submit: ") + nghttp2_strerror(id));
  s.stream_id = id;
  ++in_flight_;
  return {};
}

void H2Connection::cancel(int slot) {
  Impl::SlotState& s = impl_->slots[static_cast<size_t>(slot)];
  if (s.stream_id < 0) return;
  nghttp2_submit_rst_stream(impl_->session, NGHTTP2_FLAG_NONE, s.stream_id, NGHTTP2_CANCEL);
  s.stream_id = -1;
  --in_flight_;
}

Result<void> H2Connection::receive(const char* data, size_t size) {
  ssize_t n =
      nghttp2_session_mem_recv(impl_->session, reinterpret_cast<const uint8_t*>(data), size);
  if (n < 0) return make_error("h2", nghttp2_strerror(static_cast<int>(n)));
  return {};
}

Result<std::string_view> H2Connection::next_output() {
  const uint8_t* data = nullptr;
  ssize_t n = nghttp2_session_mem_send(impl_->session, &data);
  if (n < 0) return make_error("h2", nghttp2_strerror(static_cast<int>(n)));
  return std::string_view(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
}

bool H2Connection::finished() const {
  return impl_->goaway || (nghttp2_session_want_read(impl_->session) == 0 &&
                           nghttp2_session_want_write(impl_->session) == 0);
}

}  // namespace gatedrill::loadgen
