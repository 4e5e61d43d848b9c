#include "loadgen/worker.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <limits>
#include <memory>

#include "core/http/h1_response_parser.hpp"
#include "loadgen/h2_connection.hpp"

namespace gatedrill::loadgen {

// ---------------------------------------------------------------------------------------------
// Collector

Collector::Collector(int workers)
    : published_through_(static_cast<size_t>(workers), -1),
      finished_(static_cast<size_t>(workers), false),
      phases_(static_cast<size_t>(workers)) {}

void Collector::publish(int worker, int64_t second, const Tally& tally) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!tally.empty()) seconds_[second].merge(tally);
  published_through_[static_cast<size_t>(worker)] = second;
  changed_.notify_all();
}

void Collector::finish(int worker, std::vector<Tally> phases, int64_t end_ns,
                       std::string first_error) {
  std::lock_guard<std::mutex> lock(mutex_);
  finished_[static_cast<size_t>(worker)] = true;
  phases_[static_cast<size_t>(worker)] = std::move(phases);
  end_ns_ = std::max(end_ns_, end_ns);
  if (first_error_.empty()) first_error_ = std::move(first_error);
  changed_.notify_all();
}

std::optional<Tally> Collector::take_second(int64_t second) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto ready = [&] {
    for (size_t w = 0; w < finished_.size(); ++w)
      if (!finished_[w] && published_through_[w] < second) return false;
    return true;
  };
  changed_.wait(lock, ready);
  bool all_finished = std::all_of(finished_.begin(), finished_.end(), [](bool f) { return f; });
  if (all_finished) {
    // Past the last second any worker counted in: nothing more to report.
    int64_t last = -1;
    for (int64_t p : published_through_) last = std::max(last, p);
    if (second > last && (seconds_.empty() || seconds_.rbegin()->first < second))
      return std::nullopt;
  }
  Tally out;
  if (auto it = seconds_.find(second); it != seconds_.end()) {
    out = std::move(it->second);
    seconds_.erase(it);
  }
  return out;
}

std::vector<Tally> Collector::phase_totals(size_t phase_count) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Tally> out(phase_count);
  for (const auto& worker : phases_)
    for (size_t i = 0; i < worker.size() && i < phase_count; ++i) out[i].merge(worker[i]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The event loop

namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
constexpr int64_t kSecond = 1'000'000'000;
constexpr size_t kBufferSize = 64 * 1024;
// How often the loop looks at *stop when nothing else wakes it.
constexpr int64_t kStopCheckNs = 50'000'000;
// Event bits saying the peer shut down (its FIN may have come with the last bytes).
constexpr uint32_t kPeerClosed = EPOLLRDHUP | EPOLLHUP | EPOLLERR;

enum class ConnState { kDown, kConnecting, kHandshake, kIdle, kWriting, kReading };

class Loop;
struct Connection;

// A stream of an HTTP/2 connection: the request it carries.
struct H2Stream {
  bool busy = false;
  Slot slot;
  int64_t sent_ns = 0;
};

// An HTTP/1.1 request sent (or being written) on a connection, awaiting its response.
struct H1Request {
  Slot slot;
  int64_t sent_ns = 0;
  const std::string* bytes = nullptr;
};

// What the H2Connection's stream-end callback needs to find its way back.
struct H2Context {
  Loop* loop = nullptr;
  Connection* connection = nullptr;
};

struct Connection {
  int fd = -1;
  SSL* ssl = nullptr;
  SSL_SESSION* session = nullptr;  // the latest the server issued, offered on the next handshake
  int64_t served = 0;              // responses on the current connection
  ConnState state = ConnState::kDown;
  uint32_t generation = 0;  // tells stale epoll events of a closed socket apart
  uint32_t events = 0;      // the epoll interest currently registered
  int64_t wake_ns = 0;      // a timer: reconnect, connect deadline, planned send or timeout
  ConnectionSchedule schedule{nullptr, 0};
  std::optional<Slot> pending;  // the next request, planned but not sent
  // HTTP/1.1: the requests in flight, oldest first (a ring of LoadOptions::pipeline entries;
  // responses come back in this order). The last `unwritten` of them still have bytes to write,
  // `written` bytes of the first of those are out.
  std::vector<H1Request> ring;
  size_t ring_head = 0;
  size_t ring_count = 0;
  size_t unwritten = 0;
  size_t written = 0;
  H1ResponseParser parser;
  std::unique_ptr<char[]> buffer;
  size_t buffered = 0;
  int failures = 0;  // consecutive connect/IO failures, for the backoff
  // HTTP/2 only: the session (null while down), its stream slots and unsent output.
  std::unique_ptr<H2Connection> h2;
  std::vector<H2Stream> streams;
  std::string out;
  size_t out_pos = 0;
  H2Context h2_context;
};

class Loop {
 public:
  explicit Loop(const WorkerSetup& setup)
      : s_(setup),
        conns_(static_cast<size_t>(setup.connection_count)),
        phase_tallies_(setup.plans->size()) {
    for (int i = 0; i < s_.connection_count; ++i) {
      Connection& c = conns_[static_cast<size_t>(i)];
      double offset = (static_cast<double>(s_.first_connection + i) + 0.5) /
                      static_cast<double>(s_.total_connections);
      uint64_t connection = static_cast<uint64_t>(s_.first_connection + i);
      c.schedule = ConnectionSchedule(s_.plans, offset, {s_.jitter, s_.jitter_seed + connection});
      c.buffer = std::make_unique<char[]>(kBufferSize);
      if (s_.h2_requests != nullptr) {
        c.streams.resize(static_cast<size_t>(s_.h2_streams));
        c.h2_context = {this, &c};
      } else {
        c.ring.resize(static_cast<size_t>(std::max(1, s_.pipeline)));
      }
    }
    request_cursor_ = static_cast<size_t>(s_.first_connection);
  }

  ~Loop() {
    for (auto& c : conns_) {
      close_connection(c);
      if (c.session != nullptr) SSL_SESSION_free(c.session);
    }
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
  }

  void run();
  void h2_stream_end(Connection& c, int slot, int status, bool ok);
  int64_t end_ns() const { return end_ns_; }
  std::vector<Tally>& phase_tallies() { return phase_tallies_; }
  const std::string& first_error() const { return first_error_; }

 private:
  int64_t now() const { return s_.time->monotonic_ns() - s_.start_mono_ns; }
  size_t phase_at(int64_t t) const {
    const auto& plans = *s_.plans;
    for (size_t i = 0; i < plans.size(); ++i)
      if (t < plans[i].end_ns()) return i;
    return plans.empty() ? 0 : plans.size() - 1;
  }
  void note_error(const std::string& what) {
    if (first_error_.empty()) first_error_ = what;
  }

  void roll_second(int64_t t);
  // A response: counted in the second's tally and in its phase's. While every response of a
  // second belongs to one phase (all but the seconds a phase ends in), it is recorded once, in
  // the second's tally, which is added to the phase's when the second ends: two histogram
  // records per response instead of four.
  void record_response(size_t phase, int status, int64_t latency_ns, int64_t actual_ns) {
    if (second_phase_ != phase) {
      if (second_phase_ == kNoPhase) {
        second_phase_ = phase;
      } else if (second_phase_ != kMixedPhases) {
        phase_tallies_[second_phase_].add_responses(second_tally_);
        second_phase_ = kMixedPhases;
      }
    }
    second_tally_.record(status, latency_ns, actual_ns);
    if (second_phase_ == kMixedPhases) phase_tallies_[phase].record(status, latency_ns, actual_ns);
  }
  // Before the second's tally is published and reset.
  void fold_second_into_phase() {
    if (second_phase_ != kNoPhase && second_phase_ != kMixedPhases)
      phase_tallies_[second_phase_].add_responses(second_tally_);
    second_phase_ = kNoPhase;
  }
  void on_timer(Connection& c, int64_t t);
  void on_event(Connection& c, uint32_t events);
  void start_connect(Connection& c, int64_t t);
  void on_connected(Connection& c, int64_t t);
  void drive_handshake(Connection& c);
  void h1_pump(Connection& c, int64_t t);
  void h1_settle(Connection& c, int64_t t);
  bool do_write(Connection& c);
  // peer_closed: the event said the peer shut down (EPOLLRDHUP/HUP/ERR), so a short read does
  // not mean the socket is done: its end must still be read.
  void do_read(Connection& c, bool peer_closed);
  bool complete(Connection& c, int64_t t);
  void h1_drop_in_flight(Connection& c, bool first_timed_out);
  H1Request& ring_at(Connection& c, size_t i) { return c.ring[(c.ring_head + i) % c.ring.size()]; }
  void fail_connect(Connection& c, int64_t t, const std::string& why);
  void fail_io(Connection& c, const std::string& why);
  void close_connection(Connection& c);
  void reconnect_after(Connection& c, int64_t t, int64_t delay_ns);
  void set_interest(Connection& c, uint32_t events);
  // epoll_pwait2 with a nanosecond timeout, or epoll_wait where the kernel lacks it.
  int wait_events(epoll_event* events, int max, int64_t wait_ns);
  bool h2() const { return s_.h2_requests != nullptr; }
  void h2_start(Connection& c, int64_t t);
  void h2_pump(Connection& c, int64_t t);
  bool h2_flush(Connection& c);
  void h2_read(Connection& c, bool peer_closed);  // peer_closed: as for do_read
  void h2_expire(Connection& c, int64_t t);
  void h2_fail(Connection& c, const std::string& why);
  // The connection served its requests_per_connection and has nothing in flight.
  bool h2_rotation_due(const Connection& c) const {
    return s_.requests_per_connection > 0 && c.served >= s_.requests_per_connection &&
           c.h2->in_flight() == 0;
  }
  // Every timer change goes through here so earliest_wake_ stays a lower bound of all timers
  // and the loop scans the connections only when one may be due.
  void wake_at(Connection& c, int64_t t) {
    c.wake_ns = t;
    earliest_wake_ = std::min(earliest_wake_, t);
  }
  bool in_flight(const Connection& c) const {
    return c.ring_count > 0 || (c.h2 && c.h2->in_flight() > 0);
  }
  Connection& conn(uint64_t data, bool* stale) {
    size_t index = static_cast<size_t>(data & 0xffffffffu);
    Connection& c = conns_[index];
    *stale = c.fd < 0 || static_cast<uint32_t>(data >> 32) != c.generation;
    return c;
  }

  WorkerSetup s_;
  std::vector<Connection> conns_;
  int epoll_fd_ = -1;
  Tally second_tally_;
  std::vector<Tally> phase_tallies_;
  int64_t current_second_ = 0;
  size_t request_cursor_ = 0;
  bool draining_ = false;
  std::string first_error_;
  int64_t end_ns_ = 0;
  int64_t earliest_wake_ = 0;
  bool pwait2_ = true;
  static constexpr size_t kNoPhase = std::numeric_limits<size_t>::max();
  static constexpr size_t kMixedPhases = kNoPhase - 1;
  size_t second_phase_ = kNoPhase;  // the phase of this second's responses (see record_response)
};

void Loop::roll_second(int64_t t) {
  int64_t second = t / kSecond;
  if (second <= current_second_) return;
  fold_second_into_phase();
  s_.collector->publish(s_.index, current_second_, second_tally_);
  // A loop that overslept a whole second has nothing for the seconds it skipped.
  if (second - 1 > current_second_) s_.collector->publish(s_.index, second - 1, Tally{});
  second_tally_.reset();
  current_second_ = second;
}

void Loop::set_interest(Connection& c, uint32_t events) {
  if (c.fd < 0 || c.events == events) return;
  epoll_event ev{};
  // Edge-triggered: every read path reads until the socket is empty (a short read or EAGAIN;
  // to the end once EPOLLRDHUP says the peer shut down) or closes the connection, so no
  // readiness is lost; level-triggered epoll would poll each returned socket again on the next
  // wait only to drop it.
  ev.events = events | EPOLLET | EPOLLRDHUP;
  ev.data.u64 =
      (static_cast<uint64_t>(c.generation) << 32) | static_cast<uint64_t>(&c - conns_.data());
  ::epoll_ctl(epoll_fd_, c.events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd, &ev);
  c.events = events;
}

void Loop::close_connection(Connection& c) {
  if (c.ssl != nullptr) {
    SSL_free(c.ssl);
    c.ssl = nullptr;
  }
  if (c.fd >= 0) {
    ::close(c.fd);  // also leaves the epoll set
    c.fd = -1;
  }
  c.events = 0;
  ++c.generation;
  c.buffered = 0;
  c.served = 0;
  c.ring_count = 0;
  c.unwritten = 0;
  c.written = 0;
  c.h2.reset();
  for (auto& stream : c.streams) stream.busy = false;
  c.out.clear();
  c.out_pos = 0;
  c.state = ConnState::kDown;
}

void Loop::reconnect_after(Connection& c, int64_t t, int64_t delay_ns) {
  close_connection(c);
  wake_at(c, t + delay_ns);
}

void Loop::fail_connect(Connection& c, int64_t t, const std::string& why) {
  ++second_tally_.connect_errors;
  ++phase_tallies_[phase_at(t)].connect_errors;
  note_error(why);
  ++c.failures;
  // 10 ms doubling to 320 ms: quick recovery after a blip, no storm against a dead port.
  int64_t backoff = int64_t{10'000'000} << std::min(c.failures - 1, 5);
  reconnect_after(c, t, backoff);
}

void Loop::fail_io(Connection& c, const std::string& why) {
  int64_t t = now();
  // Every request in flight failed (the planned, unsent one waits for the new connection); a
  // failure with none in flight (bytes nobody asked for) still counts once.
  if (c.ring_count == 0) {
    ++second_tally_.errors;
    ++phase_tallies_[c.pending ? static_cast<size_t>(c.pending->phase) : phase_at(t)].errors;
  }
  h1_drop_in_flight(c, false);
  note_error(why);
  ++c.failures;
  int64_t backoff = c.failures <= 1 ? 0 : int64_t{10'000'000} << std::min(c.failures - 2, 5);
  reconnect_after(c, t, backoff);
}

void Loop::start_connect(Connection& c, int64_t t) {
  if (draining_ && !c.pending) {
    wake_at(c, kNever);
    return;
  }
  int fd = ::socket(s_.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    fail_connect(c, t, std::string("socket: ") + std::strerror(errno));
    return;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c.fd = fd;
  c.events = 0;
  int r = ::connect(fd, reinterpret_cast<const sockaddr*>(&s_.address), s_.address_len);
  if (r == 0) {
    on_connected(c, t);
    return;
  }
  if (errno != EINPROGRESS) {
    fail_connect(c, t, std::string("connect: ") + std::strerror(errno));
    return;
  }
  c.state = ConnState::kConnecting;
  wake_at(c, t + s_.connect_timeout_ns);
  set_interest(c, EPOLLOUT);
}

void Loop::on_connected(Connection& c, int64_t t) {
  if (s_.ssl_ctx == nullptr && h2()) {
    h2_start(c, t);
    return;
  }
  if (s_.ssl_ctx == nullptr) {
    c.state = ConnState::kIdle;
    set_interest(c, EPOLLIN);
    h1_pump(c, t);
    return;
  }
  c.ssl = SSL_new(s_.ssl_ctx);
  if (c.ssl == nullptr || SSL_set_fd(c.ssl, c.fd) != 1) {
    fail_connect(c, t, "TLS: cannot create a session");
    return;
  }
  SSL_set_app_data(c.ssl, &c);  // for the new-session callback
  if (s_.tls_resume && c.session != nullptr) SSL_set_session(c.ssl, c.session);
  if (!s_.tls_host_is_ip) SSL_set_tlsext_host_name(c.ssl, s_.tls_host.c_str());
  if (s_.verify_peer) {
    if (s_.tls_host_is_ip)
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c.ssl), s_.tls_host.c_str());
    else
      SSL_set1_host(c.ssl, s_.tls_host.c_str());
  }
  SSL_set_connect_state(c.ssl);
  c.state = ConnState::kHandshake;
  if (c.wake_ns <= t) wake_at(c, t + s_.connect_timeout_ns);
  drive_handshake(c);
}

void Loop::drive_handshake(Connection& c) {
  ERR_clear_error();
  int r = SSL_do_handshake(c.ssl);
  if (r == 1) {
    int64_t t = now();
    bool resumed = SSL_session_reused(c.ssl) == 1;
    for (Tally* tally : {&second_tally_, &phase_tallies_[phase_at(t)]}) {
      ++tally->tls_handshakes;
      if (resumed) ++tally->tls_resumed;
    }
    if (h2()) {
      h2_start(c, t);
      return;
    }
    c.state = ConnState::kIdle;
    set_interest(c, EPOLLIN);
    h1_pump(c, now());
    return;
  }
  int err = SSL_get_error(c.ssl, r);
  if (err == SSL_ERROR_WANT_READ) {
    set_interest(c, EPOLLIN);
  } else if (err == SSL_ERROR_WANT_WRITE) {
    set_interest(c, EPOLLIN | EPOLLOUT);
  } else {
    std::string why = "TLS handshake failed";
    long verify = SSL_get_verify_result(c.ssl);
    if (verify != X509_V_OK) {
      why += std::string(": certificate verify failed (") + X509_verify_cert_error_string(verify) +
             ")";
    } else if (unsigned long e = ERR_peek_error(); e != 0) {
      char text[256];
      ERR_error_string_n(e, text, sizeof text);
      why += std::string(": ") + text;
    }
    ERR_clear_error();
    fail_connect(c, now(), why);
  }
}

// HTTP/1.1: sends every due request the pipeline has room for (one write for all of them),
// then sets the connection's state, interest and timer.
void Loop::h1_pump(Connection& c, int64_t t) {
  const size_t depth = c.ring.size();
  const bool rotate = s_.requests_per_connection > 0;
  const auto& requests = *s_.requests;
  while (c.ring_count < depth &&
         !(rotate && c.served + static_cast<int64_t>(c.ring_count) >= s_.requests_per_connection)) {
    if (!c.pending) c.pending = c.schedule.next(t);
    if (!c.pending || c.pending->planned_ns > t) break;
    if (c.ring_count == 0) c.parser.reset(s_.head_request);
    H1Request& r = ring_at(c, c.ring_count);
    r.slot = *c.pending;
    r.sent_ns = t;
    r.bytes = &requests[request_cursor_ % requests.size()];
    ++request_cursor_;
    ++c.ring_count;
    ++c.unwritten;
    ++second_tally_.sent;
    ++phase_tallies_[static_cast<size_t>(c.pending->phase)].sent;
    c.pending.reset();
  }
  if (c.unwritten > 0 && !do_write(c)) return;
  h1_settle(c, t);
}

void Loop::h1_settle(Connection& c, int64_t t) {
  c.state = c.ring_count == 0 ? ConnState::kIdle
            : c.unwritten > 0 ? ConnState::kWriting
                              : ConnState::kReading;
  set_interest(c, c.unwritten > 0 ? EPOLLIN | EPOLLOUT : EPOLLIN);
  // The next timer: the next planned request if the pipeline has room for it, else (or if
  // sooner) the oldest request's deadline.
  int64_t wake = kNever;
  const bool rotate = s_.requests_per_connection > 0;
  if (c.ring_count < c.ring.size() &&
      !(rotate && c.served + static_cast<int64_t>(c.ring_count) >= s_.requests_per_connection)) {
    if (!c.pending) c.pending = c.schedule.next(t);
    if (c.pending) wake = c.pending->planned_ns;
  }
  if (c.ring_count > 0) wake = std::min(wake, ring_at(c, 0).sent_ns + s_.timeout_ns);
  wake_at(c, wake);
}

// Writes what is unwritten: over TCP every pipelined request in one sendmsg. False when the
// connection failed (and was closed).
bool Loop::do_write(Connection& c) {
  constexpr size_t kMaxIov = 64;
  while (c.unwritten > 0) {
    size_t first = c.ring_count - c.unwritten;
    if (c.ssl != nullptr) {
      const std::string& req = *ring_at(c, first).bytes;
      ERR_clear_error();
      int n = SSL_write(c.ssl, req.data() + c.written, static_cast<int>(req.size() - c.written));
      if (n > 0) {
        c.written += static_cast<size_t>(n);
        if (c.written == req.size()) {
          c.written = 0;
          --c.unwritten;
        }
        continue;
      }
      int err = SSL_get_error(c.ssl, n);
      if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
        set_interest(c, EPOLLIN | EPOLLOUT);
        return true;
      }
      ERR_clear_error();
      fail_io(c, "TLS write failed");
      return false;
    }
    if (c.unwritten == 1) {
      // One request (the common case without pipelining): a plain send, no msghdr to copy.
      const std::string& req = *ring_at(c, first).bytes;
      ssize_t n = ::send(c.fd, req.data() + c.written, req.size() - c.written, MSG_NOSIGNAL);
      if (n > 0) {
        c.written += static_cast<size_t>(n);
        if (c.written == req.size()) {
          c.written = 0;
          c.unwritten = 0;
        }
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        set_interest(c, EPOLLIN | EPOLLOUT);
        return true;
      }
      if (n < 0 && errno == EINTR) continue;
      fail_io(c, std::string("write: ") + std::strerror(errno));
      return false;
    }
    iovec iov[kMaxIov];
    size_t count = std::min(c.unwritten, kMaxIov);
    for (size_t i = 0; i < count; ++i) {
      const std::string& req = *ring_at(c, first + i).bytes;
      size_t skip = i == 0 ? c.written : 0;
      iov[i] = {const_cast<char*>(req.data() + skip), req.size() - skip};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    ssize_t n = ::sendmsg(c.fd, &msg, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      set_interest(c, EPOLLIN | EPOLLOUT);
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      fail_io(c, std::string("write: ") + std::strerror(errno));
      return false;
    }
    auto left = static_cast<size_t>(n);
    for (size_t i = 0; i < count && left > 0; ++i) {
      size_t rest = iov[i].iov_len;
      if (left < rest) {
        c.written += left;
        break;
      }
      left -= rest;
      c.written = 0;
      --c.unwritten;
    }
  }
  return true;
}

// Requests in flight that will not be answered any more (the connection goes away): the first
// one timed out when first_timed_out, the rest are errors.
void Loop::h1_drop_in_flight(Connection& c, bool first_timed_out) {
  for (size_t i = 0; i < c.ring_count; ++i) {
    auto phase = static_cast<size_t>(ring_at(c, i).slot.phase);
    if (i == 0 && first_timed_out) {
      ++second_tally_.timeouts;
      ++phase_tallies_[phase].timeouts;
    } else {
      ++second_tally_.errors;
      ++phase_tallies_[phase].errors;
    }
  }
  c.ring_count = 0;
  c.unwritten = 0;
  c.written = 0;
}

// The oldest request's response is complete. False when the connection was replaced.
bool Loop::complete(Connection& c, int64_t t) {
  const H1Request& r = ring_at(c, 0);
  int64_t latency = t - r.slot.planned_ns;
  int64_t actual = t - r.sent_ns;
  record_response(static_cast<size_t>(r.slot.phase), c.parser.status(), latency, actual);
  c.ring_head = (c.ring_head + 1) % c.ring.size();
  --c.ring_count;
  c.failures = 0;
  ++c.served;
  bool close = c.parser.close_after();
  c.parser.reset(s_.head_request);
  bool rotate = s_.requests_per_connection > 0 && c.served >= s_.requests_per_connection;
  if (close || rotate) {
    // The server closes, or the connection served its share: start clean on a new connection.
    // Requests pipelined behind a closing response go unanswered. A close_notify first keeps
    // the session resumable.
    if (c.ring_count > 0) {
      h1_drop_in_flight(c, false);
      note_error("the server closed the connection with pipelined requests unanswered");
    }
    if (c.ssl != nullptr) {
      ERR_clear_error();
      SSL_shutdown(c.ssl);
      ERR_clear_error();
    }
    reconnect_after(c, t, 0);
    return false;
  }
  return true;
}

void Loop::do_read(Connection& c, bool peer_closed) {
  bool answered = false;
  int64_t t = 0;  // when the latest bytes arrived: the completion time of what they complete
  for (;;) {
    char* space = c.buffer.get() + c.buffered;
    size_t room = kBufferSize - c.buffered;
    ssize_t n = 0;
    bool drained = false;
    if (c.ssl != nullptr) {
      ERR_clear_error();
      int r = SSL_read(c.ssl, space, static_cast<int>(room));
      if (r > 0) {
        n = r;
      } else {
        int err = SSL_get_error(c.ssl, r);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
        ERR_clear_error();
        n = err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL ? 0 : -1;
        if (n < 0) {
          fail_io(c, "TLS read failed");
          return;
        }
      }
    } else {
      n = ::recv(c.fd, space, room, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        if (errno == EINTR) continue;
        if (c.ring_count == 0) {
          reconnect_after(c, now(), 0);  // the server dropped an idle keep-alive connection
          return;
        }
        fail_io(c, std::string("read: ") + std::strerror(errno));
        return;
      }
      // A short read emptied the socket; with edge-triggered epoll a later arrival wakes us
      // again. A FIN that came with the bytes does not: then read on to the end.
      drained = static_cast<size_t>(n) < room && !peer_closed;
    }
    if (n == 0) {
      if (c.ring_count == 0) {
        reconnect_after(c, now(), 0);  // an idle keep-alive connection closed: not an error
        return;
      }
      bool nothing_yet = c.buffered == 0 && c.parser.state() == H1ResponseParser::State::kHeaders;
      c.parser.on_eof();
      if (c.parser.done()) {
        c.buffered = 0;
        if (complete(c, now())) {
          if (c.ring_count > 0) {
            fail_io(c, "connection closed with pipelined requests unanswered");
          } else {
            reconnect_after(c, now(), 0);
          }
        }
      } else {
        fail_io(c, nothing_yet ? "connection closed without a response"
                               : "connection closed in the middle of a response");
      }
      return;
    }
    if (c.ring_count == 0) {
      fail_io(c, "unexpected bytes on an idle connection");
      return;
    }
    t = now();
    c.buffered += static_cast<size_t>(n);
    // Every complete response in the buffer, oldest request first; one compaction at the end.
    size_t start = 0;
    while (c.ring_count > 0 && start < c.buffered) {
      start += c.parser.feed(std::string_view(c.buffer.get() + start, c.buffered - start));
      if (c.parser.failed()) {
        fail_io(c, std::string("bad response: ") + c.parser.error());
        return;
      }
      if (!c.parser.done()) break;
      answered = true;
      if (!complete(c, t)) return;
    }
    if (c.ring_count == 0 && start < c.buffered) {
      // Bytes nobody asked for: start clean on a new connection.
      reconnect_after(c, now(), 0);
      return;
    }
    if (start > 0) {
      std::memmove(c.buffer.get(), c.buffer.get() + start, c.buffered - start);
      c.buffered -= start;
    }
    if (c.buffered == kBufferSize) {
      fail_io(c, "bad response: a line does not fit the read buffer");
      return;
    }
    if (drained) break;
  }
  // New room in the pipeline: send what is due. Otherwise the state may still need to change
  // (the writes finished).
  if (answered) {
    h1_pump(c, t);
  } else {
    h1_settle(c, now());
  }
}

void Loop::on_timer(Connection& c, int64_t t) {
  switch (c.state) {
    case ConnState::kDown:
      if (draining_) {
        // Past the end. Requests planned before it that wait for this connection still go out
        // when it is only being replaced (the server closed it after a response, or it served
        // its share): otherwise whether they count would hang on when the close came. A
        // connection that is failing gives them up.
        if (!c.pending && c.failures == 0) c.pending = c.schedule.next(t);
        if (!c.pending || c.failures > 0) {
          c.pending.reset();
          wake_at(c, kNever);
          break;
        }
      }
      start_connect(c, t);
      break;
    case ConnState::kConnecting:
      fail_connect(c, t, "connect timed out");
      break;
    case ConnState::kHandshake:
      fail_connect(c, t, "TLS handshake timed out");
      break;
    case ConnState::kIdle:
      if (h2()) {
        h2_expire(c, t);
        if (h2_rotation_due(c)) {
          reconnect_after(c, t, 0);
        } else {
          h2_pump(c, t);
        }
      } else {
        h1_pump(c, t);
      }
      break;
    case ConnState::kWriting:
    case ConnState::kReading: {
      if (ring_at(c, 0).sent_ns + s_.timeout_ns > t) {
        h1_pump(c, t);  // not a timeout: the pipeline has room and a request is due
        break;
      }
      // The connection is replaced; requests pipelined behind the timed-out one are lost.
      h1_drop_in_flight(c, true);
      note_error("request timed out");
      reconnect_after(c, t, 0);
      break;
    }
  }
}

void Loop::on_event(Connection& c, uint32_t events) {
  switch (c.state) {
    case ConnState::kConnecting: {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      int64_t t = now();
      if (err != 0) {
        fail_connect(c, t, std::string("connect: ") + std::strerror(err));
      } else if ((events & (EPOLLERR | EPOLLHUP)) != 0 && (events & EPOLLOUT) == 0) {
        fail_connect(c, t, "connect: connection failed");
      } else {
        on_connected(c, t);
      }
      break;
    }
    case ConnState::kHandshake:
      drive_handshake(c);
      break;
    case ConnState::kWriting:
      // TLS may need a read before the write goes on, so on any event. Responses to earlier
      // requests are read even while later ones wait to be written (a server that stops
      // reading until its responses are taken would otherwise deadlock with us).
      if (!do_write(c)) break;
      if ((events & EPOLLIN) != 0) {
        do_read(c, (events & kPeerClosed) != 0);  // settles the connection
      } else {
        h1_settle(c, now());
      }
      break;
    case ConnState::kReading:
    case ConnState::kIdle:
      if (h2()) {
        if ((events & EPOLLOUT) != 0 && !h2_flush(c)) break;
        h2_read(c, (events & kPeerClosed) != 0);
      } else {
        do_read(c, (events & kPeerClosed) != 0);
      }
      break;
    case ConnState::kDown:
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP/2: one session per connection, up to h2_streams requests in flight on it. The schedule
// is the same as HTTP/1.1's; a due request waits only for a free stream instead of a free
// connection.

void Loop::h2_start(Connection& c, int64_t t) {
  if (c.ssl != nullptr) {
    const unsigned char* alpn = nullptr;
    unsigned int alpn_len = 0;
    SSL_get0_alpn_selected(c.ssl, &alpn, &alpn_len);
    if (alpn_len != 2 || std::memcmp(alpn, "h2", 2) != 0) {
      fail_connect(c, t, "the server did not negotiate h2 (ALPN)");
      return;
    }
  }
  c.h2 = std::make_unique<H2Connection>(
      s_.h2_streams,
      [](void* context, int slot, int status, bool ok) {
        auto* ctx = static_cast<H2Context*>(context);
        ctx->loop->h2_stream_end(*ctx->connection, slot, status, ok);
      },
      &c.h2_context);
  if (auto started = c.h2->start(); !started) {
    fail_connect(c, t, "h2: " + started.error().message);
    return;
  }
  c.state = ConnState::kIdle;
  set_interest(c, EPOLLIN);
  h2_pump(c, t);
}

void Loop::h2_pump(Connection& c, int64_t t) {
  bool rotate = s_.requests_per_connection > 0;
  while (c.h2->capacity() > 0 &&
         !(rotate && c.served + c.h2->in_flight() >= s_.requests_per_connection)) {
    if (!c.pending) c.pending = c.schedule.next(t);
    if (!c.pending || c.pending->planned_ns > t) break;
    size_t slot = 0;
    while (c.streams[slot].busy) ++slot;  // capacity > 0: a free one exists
    const auto& requests = *s_.h2_requests;
    if (auto submitted = c.h2->submit(requests, request_cursor_++, static_cast<int>(slot));
        !submitted) {
      h2_fail(c, submitted.error().message);
      return;
    }
    c.streams[slot] = {true, *c.pending, t};
    ++second_tally_.sent;
    ++phase_tallies_[static_cast<size_t>(c.pending->phase)].sent;
    c.pending.reset();
  }
  if (!h2_flush(c)) return;
  // The next timer: the next planned request if a stream is free for it, else the earliest
  // stream deadline.
  int64_t wake = kNever;
  if (c.h2->capacity() > 0) {
    if (!c.pending) c.pending = c.schedule.next(t);
    if (c.pending) wake = c.pending->planned_ns;
  }
  for (const auto& stream : c.streams)
    if (stream.busy) wake = std::min(wake, stream.sent_ns + s_.timeout_ns);
  wake_at(c, wake);
}

bool Loop::h2_flush(Connection& c) {
  for (;;) {
    // Gather every queued frame first: one write (one TLS record) instead of one per frame.
    if (c.out_pos == c.out.size()) {
      c.out.clear();
      c.out_pos = 0;
    }
    for (;;) {
      auto next = c.h2->next_output();
      if (!next) {
        h2_fail(c, "h2: " + next.error().message);
        return false;
      }
      if (next->empty()) break;
      c.out.append(next->data(), next->size());
    }
    if (c.out_pos == c.out.size()) break;
    while (c.out_pos < c.out.size()) {
      const char* data = c.out.data() + c.out_pos;
      size_t left = c.out.size() - c.out_pos;
      ssize_t n = 0;
      if (c.ssl != nullptr) {
        ERR_clear_error();
        int r = SSL_write(c.ssl, data, static_cast<int>(left));
        if (r <= 0) {
          int err = SSL_get_error(c.ssl, r);
          if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
            set_interest(c, EPOLLIN | EPOLLOUT);
            return true;
          }
          ERR_clear_error();
          h2_fail(c, "TLS write failed");
          return false;
        }
        n = r;
      } else {
        n = ::send(c.fd, data, left, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          set_interest(c, EPOLLIN | EPOLLOUT);
          return true;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          h2_fail(c, std::string("write: ") + std::strerror(errno));
          return false;
        }
      }
      c.out_pos += static_cast<size_t>(n);
    }
  }
  set_interest(c, EPOLLIN);
  return true;
}

void Loop::h2_read(Connection& c, bool peer_closed) {
  for (;;) {
    ssize_t n = 0;
    if (c.ssl != nullptr) {
      ERR_clear_error();
      int r = SSL_read(c.ssl, c.buffer.get(), static_cast<int>(kBufferSize));
      if (r <= 0) {
        int err = SSL_get_error(c.ssl, r);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
        ERR_clear_error();
        h2_fail(c, err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL
                       ? "connection closed with streams open"
                       : "TLS read failed");
        return;
      }
      n = r;
    } else {
      n = ::recv(c.fd, c.buffer.get(), kBufferSize, 0);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        h2_fail(c, n == 0 ? "connection closed with streams open"
                          : std::string("read: ") + std::strerror(errno));
        return;
      }
    }
    if (auto fed = c.h2->receive(c.buffer.get(), static_cast<size_t>(n)); !fed) {
      h2_fail(c, "h2: " + fed.error().message);
      return;
    }
    // A short plain read emptied the socket (as in do_read): no read that returns EAGAIN.
    if (c.ssl == nullptr && static_cast<size_t>(n) < kBufferSize && !peer_closed) break;
  }
  int64_t t = now();
  if (h2_rotation_due(c) || (c.h2->finished() && c.h2->in_flight() == 0)) {
    if (!h2_flush(c)) return;
    reconnect_after(c, t, 0);
    return;
  }
  h2_pump(c, t);
}

void Loop::h2_stream_end(Connection& c, int slot, int status, bool ok) {
  H2Stream& stream = c.streams[static_cast<size_t>(slot)];
  stream.busy = false;
  int64_t t = now();
  size_t phase = static_cast<size_t>(stream.slot.phase);
  if (ok) {
    record_response(phase, status, t - stream.slot.planned_ns, t - stream.sent_ns);
    c.failures = 0;
  } else {
    ++second_tally_.errors;
    ++phase_tallies_[phase].errors;
    note_error(status == 0 ? "h2 stream reset without a response" : "h2 stream reset");
  }
  ++c.served;  // a rotation it completes happens in h2_read, after nghttp2's callbacks returned
}

void Loop::h2_expire(Connection& c, int64_t t) {
  for (size_t i = 0; i < c.streams.size(); ++i) {
    H2Stream& stream = c.streams[i];
    if (!stream.busy || stream.sent_ns + s_.timeout_ns > t) continue;
    ++second_tally_.timeouts;
    ++phase_tallies_[static_cast<size_t>(stream.slot.phase)].timeouts;
    note_error("request timed out");
    c.h2->cancel(static_cast<int>(i));
    stream.busy = false;
    ++c.served;
  }
}

void Loop::h2_fail(Connection& c, const std::string& why) {
  int64_t t = now();
  int open = 0;
  for (auto& stream : c.streams)
    if (stream.busy) {
      ++open;
      ++second_tally_.errors;
      ++phase_tallies_[static_cast<size_t>(stream.slot.phase)].errors;
    }
  if (open == 0) {
    reconnect_after(c, t, 0);  // an idle session went away: not an error
    return;
  }
  note_error(why);
  ++c.failures;
  int64_t backoff = c.failures <= 1 ? 0 : int64_t{10'000'000} << std::min(c.failures - 2, 5);
  reconnect_after(c, t, backoff);
}

int Loop::wait_events(epoll_event* events, int max, int64_t wait_ns) {
  if (pwait2_) {
    timespec timeout{static_cast<time_t>(wait_ns / kSecond), static_cast<long>(wait_ns % kSecond)};
    int n = ::epoll_pwait2(epoll_fd_, events, max, &timeout, nullptr);
    if (n >= 0 || errno != ENOSYS) return n;
    pwait2_ = false;
  }
  // Kernels before 5.11 (and valgrind) lack epoll_pwait2: whole milliseconds, rounded up so a
  // timer never fires early.
  int64_t ms = std::min<int64_t>((wait_ns + 999'999) / 1'000'000, kStopCheckNs / 1'000'000);
  return ::epoll_wait(epoll_fd_, events, max, static_cast<int>(ms));
}

void Loop::run() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    note_error(std::string("epoll_create1: ") + std::strerror(errno));
    return;
  }
  for (auto& c : conns_) wake_at(c, 0);
  std::vector<epoll_event> events(conns_.size() + 1);
  int64_t drain_deadline = kNever;
  for (;;) {
    int64_t t = now();
    if (s_.stop != nullptr && s_.stop->load(std::memory_order_relaxed)) break;
    roll_second(t);
    if (!draining_ && t >= s_.end_ns) {
      draining_ = true;
      drain_deadline = t + s_.timeout_ns;
    }
    int64_t next = std::min(t + kStopCheckNs, (current_second_ + 1) * kSecond);
    if (!draining_) next = std::min(next, s_.end_ns);
    if (t >= earliest_wake_ || draining_) {
      bool busy = false;
      earliest_wake_ = kNever;
      for (auto& c : conns_) {
        if (c.wake_ns <= t) on_timer(c, t);
        if (draining_ && c.state == ConnState::kIdle) c.wake_ns = kNever;
        busy = busy || in_flight(c) || c.state == ConnState::kConnecting ||
               c.state == ConnState::kHandshake ||
               (c.state == ConnState::kDown && c.wake_ns != kNever);
        earliest_wake_ = std::min(earliest_wake_, c.wake_ns);
      }
      if (draining_ && (!busy || t >= drain_deadline)) break;
      if (draining_) next = std::min(next, drain_deadline);
    }
    next = std::min(next, earliest_wake_);
    int64_t wait_ns = std::max<int64_t>(0, next - now());
    int n = wait_events(events.data(), static_cast<int>(events.size()), wait_ns);
    if (n < 0) {
      if (errno == EINTR) continue;
      note_error(std::string("epoll wait: ") + std::strerror(errno));
      break;
    }
    for (int i = 0; i < n; ++i) {
      bool stale = false;
      Connection& c = conn(events[static_cast<size_t>(i)].data.u64, &stale);
      if (!stale) on_event(c, events[static_cast<size_t>(i)].events);
    }
  }
  end_ns_ = now();
  roll_second(end_ns_);
  fold_second_into_phase();
  s_.collector->publish(s_.index, current_second_, second_tally_);
  second_tally_.reset();
}

int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* c = static_cast<Connection*>(SSL_get_app_data(ssl));
  if (c == nullptr) return 0;
  if (c->session != nullptr) SSL_SESSION_free(c->session);
  c->session = session;
  return 1;  // the reference is ours now
}

}  // namespace

void configure_client_sessions(ssl_ctx_st* ctx, bool resume) {
  if (!resume) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    return;
  }
  // Each connection keeps its own session; OpenSSL's internal client cache is not used.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
}

void run_worker(const WorkerSetup& setup) {
  // Writes to a socket the peer closed raise SIGPIPE (OpenSSL writes with plain write()); a
  // blocked SIGPIPE stays pending on this thread and the write fails with EPIPE instead.
  sigset_t pipe_set;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, nullptr);
  // The kernel's default 50 us timer slack would delay every planned send by that much.
  ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

  std::string first_error;
  std::vector<Tally> phases;
  int64_t end_ns = 0;
  {
    Loop loop(setup);
    loop.run();
    phases = std::move(loop.phase_tallies());
    end_ns = loop.end_ns();
    first_error = loop.first_error();
  }
  setup.collector->finish(setup.index, std::move(phases), end_ns, std::move(first_error));
}

}  // namespace gatedrill::loadgen
