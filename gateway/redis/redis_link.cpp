#include "gateway/redis/redis_link.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace gatedrill::gateway {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Result<RedisLinkOptions> parse_redis_url(std::string_view url) {
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme)
    return make_error("usage",
                      "Redis URL must be redis://host:port (got '" + std::string(url) + "')");
  std::string_view rest = url.substr(kScheme.size());
  if (auto slash = rest.find('/'); slash != std::string_view::npos) rest = rest.substr(0, slash);
  RedisLinkOptions options;
  options.port = 6379;
  auto colon = rest.rfind(':');
  std::string_view host = colon == std::string_view::npos ? rest : rest.substr(0, colon);
  if (host.empty() || host.find('@') != std::string_view::npos)
    return make_error("usage",
                      "Redis URL needs a host and no credentials (got '" + std::string(url) + "')");
  if (colon != std::string_view::npos) {
    std::string_view digits = rest.substr(colon + 1);
    int port = 0;
    if (digits.empty() || digits.size() > 5) port = -1;
    for (char c : digits) {
      if (c < '0' || c > '9') port = -1;
      if (port >= 0) port = port * 10 + (c - '0');
    }
    if (port <= 0 || port > 65535)
      return make_error("usage",
                        "Redis URL port must be 1..65535 (got '" + std::string(url) + "')");
    options.port = static_cast<uint16_t>(port);
  }
  options.host = std::string(host);
  return options;
}

struct RedisLink::Impl {
  struct Batch {
    size_t count = 0;
    std::vector<resp::Value> replies;
    Callback done;
  };

  RedisLinkOptions options;
  RedisLinkHooks hooks;
  asio::io_context io{1};
  tcp::socket socket{io};
  asio::steady_timer watchdog{io};
  asio::steady_timer retry{io};
  std::thread thread;

  // Guards `stopped` against submissions, so nothing is posted after the stop.
  mutable std::mutex state_mutex;
  mutable std::condition_variable state_changed;
  bool stopped = false;
  bool started = false;
  std::atomic<bool> is_up{false};

  // The rest is touched only on the link's thread.
  uint64_t generation = 0;  // bumps on each new connection: late handlers of an old one ignore
  bool connected = false;   // TCP up (maybe still waiting for PING)
  std::deque<Batch> in_flight;
  std::string pending;  // bytes to write after the current write
  std::string writing;  // the bytes of the current write
  bool write_busy = false;
  resp::Reader reader;
  uint64_t progress = 0;  // replies seen
  uint64_t progress_at_tick = 0;
  bool waiting_at_tick = false;
  char read_buffer[16384];

  Impl(RedisLinkOptions o, RedisLinkHooks h) : options(std::move(o)), hooks(std::move(h)) {}

  void set_up(bool up) {
    if (is_up.exchange(up) == up) return;
    { std::lock_guard lock(state_mutex); }
    state_changed.notify_all();
    if (hooks.on_state) hooks.on_state(up);
  }

  void error(std::string_view kind) {
    if (hooks.on_error) hooks.on_error(kind);
  }

  void fail_all(const Error& why) {
    std::deque<Batch> failed;
    failed.swap(in_flight);
    for (auto& batch : failed) batch.done(why);
  }

  // Drops the connection: waiting batches fail with `code`, a reconnect is scheduled.
  void drop(std::string_view kind, const std::string& code, const std::string& message) {
    if (!connected) return;
    connected = false;
    ++generation;
    boost::system::error_code ignored;
    socket.close(ignored);
    set_up(false);
    error(kind);
    pending.clear();
    write_busy = false;
    reader = resp::Reader();
    fail_all(make_error(code, message));
    schedule_connect();
  }

  void schedule_connect() {
    retry.expires_after(options.reconnect_interval);
    retry.async_wait([self = this](const boost::system::error_code& ec) {
      if (!ec) self->connect();
    });
  }

  void connect() {
    const uint64_t gen = ++generation;
    socket = tcp::socket(io);
    boost::system::error_code ec;
    auto address = asio::ip::make_address(options.host, ec);
    if (ec) {
      // A name, not an address: resolve it (loopback names resolve at once).
      tcp::resolver resolver(io);
      auto results = resolver.resolve(options.host, std::to_string(options.port), ec);
      if (ec || results.empty()) {
        error("connect");
        schedule_connect();
        return;
      }
      address = results.begin()->endpoint().address();
    }
    // The watchdog bounds the connect and the PING.
    watchdog.expires_after(options.timeout);
    watchdog.async_wait([self = this, gen](const boost::system::error_code& e) {
      if (e || gen != self->generation || self->is_up) return;
      boost::system::error_code ignored;
      self->socket.close(ignored);  // the pending connect or read completes with an error
    });
    socket.async_connect(
        tcp::endpoint(address, options.port),
        [self = this, gen](const boost::system::error_code& e) {
          if (gen != self->generation) return;
          if (e) {
            self->watchdog.cancel();
            self->error(e == asio::error::operation_aborted ? "timeout" : "connect");
            self->schedule_connect();
            return;
          }
          boost::system::error_code ignored;
          self->socket.set_option(tcp::no_delay(true), ignored);
          self->connected = true;
          // PING first: the link is up only once Redis answers.
          Batch ping;
          ping.count = 1;
          ping.done = [self](Replies replies) {
            if (!replies || replies->front().is_error()) return;
            self->set_up(true);
            self->start_ticks();
          };
          self->enqueue({{"PING"}}, std::move(ping));
          self->read();
        });
  }

  void start_ticks() {
    progress_at_tick = progress;
    waiting_at_tick = false;
    tick();
  }

  // Every `timeout`: a connection that has had replies owed for a whole tick without any
  // progress is stuck (a hung Redis) and is dropped.
  void tick() {
    watchdog.expires_after(options.timeout);
    watchdog.async_wait([self = this, gen = generation](const boost::system::error_code& e) {
      if (e || gen != self->generation || !self->connected) return;
      const bool waiting = !self->in_flight.empty();
      if (waiting && self->waiting_at_tick && self->progress == self->progress_at_tick) {
        self->drop(
            "timeout", "timeout",
            "Redis did not answer within " + std::to_string(self->options.timeout.count()) + " ms");
        return;
      }
      self->waiting_at_tick = waiting;
      self->progress_at_tick = self->progress;
      self->tick();
    });
  }

  void enqueue(const std::vector<std::vector<std::string>>& commands, Batch batch) {
    for (const auto& c : commands) resp::append_command(pending, c);
    in_flight.push_back(std::move(batch));
    flush();
  }

  void flush() {
    if (write_busy || pending.empty() || !connected) return;
    write_busy = true;
    writing.swap(pending);
    pending.clear();
    asio::async_write(socket, asio::buffer(writing),
                      [self = this, gen = generation](const boost::system::error_code& e, size_t) {
                        if (gen != self->generation) return;
                        self->write_busy = false;
                        if (e) {
                          self->drop("io", "io", "write to Redis failed: " + e.message());
                          return;
                        }
                        self->writing.clear();
                        self->flush();
                      });
  }

  void read() {
    socket.async_read_some(
        asio::buffer(read_buffer),
        [self = this, gen = generation](const boost::system::error_code& e, size_t n) {
          if (gen != self->generation) return;
          if (e) {
            const bool aborted = e == asio::error::operation_aborted;
            self->drop(
                aborted ? "timeout" : "io", aborted ? "timeout" : "io",
                aborted ? "Redis did not answer in time" : "Redis connection lost: " + e.message());
            return;
          }
          self->reader.feed(std::string_view(self->read_buffer, n));
          if (!self->consume()) return;
          self->read();
        });
  }

  // Hands complete replies to their batches. False when the connection was dropped.
  bool consume() {
    for (;;) {
      auto next = reader.next();
      if (!next) {
        drop("protocol", next.error().code, "bad reply from Redis: " + next.error().message);
        return false;
      }
      if (!next->has_value()) return true;
      ++progress;
      if (in_flight.empty()) {
        drop("protocol", "resp_protocol", "Redis sent a reply nobody asked for");
        return false;
      }
      Batch& front = in_flight.front();
      front.replies.push_back(std::move(**next));
      if (front.replies.size() == front.count) {
        Batch done = std::move(front);
        in_flight.pop_front();
        done.done(std::move(done.replies));
      }
    }
  }

  void submit_on_thread(std::vector<std::vector<std::string>> commands, Callback done) {
    if (!is_up) {
      done(make_error("unavailable", "Redis is not connected"));
      return;
    }
    if (in_flight.size() >= options.max_in_flight) {
      done(make_error("overloaded", "too many Redis commands waiting for replies"));
      return;
    }
    Batch batch;
    batch.count = commands.size();
    batch.done = std::move(done);
    enqueue(commands, std::move(batch));
  }

  void shutdown() {
    ++generation;
    connected = false;
    boost::system::error_code ignored;
    socket.close(ignored);
    watchdog.cancel();
    retry.cancel();
    set_up(false);
    fail_all(make_error("stopped", "the Redis link is stopping"));
    io.stop();
  }
};

RedisLink::RedisLink(RedisLinkOptions options, RedisLinkHooks hooks)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(hooks))) {}

RedisLink::~RedisLink() {
  stop();
}

void RedisLink::start() {
  std::lock_guard lock(impl_->state_mutex);
  if (impl_->started || impl_->stopped) return;
  impl_->started = true;
  asio::post(impl_->io, [impl = impl_.get()] { impl->connect(); });
  impl_->thread = std::thread([impl = impl_.get()] {
    auto guard = asio::make_work_guard(impl->io);
    impl->io.run();
  });
}

void RedisLink::stop() {
  {
    std::lock_guard lock(impl_->state_mutex);
    if (impl_->stopped) return;
    impl_->stopped = true;
    if (!impl_->started) return;
    asio::post(impl_->io, [impl = impl_.get()] { impl->shutdown(); });
  }
  if (impl_->thread.joinable()) impl_->thread.join();
}

void RedisLink::submit(std::vector<std::vector<std::string>> commands, Callback done) {
  if (commands.empty()) {
    done(std::vector<resp::Value>{});
    return;
  }
  {
    std::lock_guard lock(impl_->state_mutex);
    if (impl_->stopped) {
      done(make_error("stopped", "the Redis link is stopped"));
      return;
    }
    if (impl_->started && impl_->is_up) {
      asio::post(impl_->io, [impl = impl_.get(), commands = std::move(commands),
                             done = std::move(done)]() mutable {
        impl->submit_on_thread(std::move(commands), std::move(done));
      });
      return;
    }
  }
  done(make_error("unavailable", "Redis is not connected"));
}

bool RedisLink::up() const {
  return impl_->is_up;
}

bool RedisLink::wait_up(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(impl_->state_mutex);
  return impl_->state_changed.wait_for(lock, timeout, [this] { return impl_->is_up.load(); });
}

}  // namespace gatedrill::gateway
