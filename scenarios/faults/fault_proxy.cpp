#include "scenarios/faults/fault_proxy.hpp"

#include <array>
#include <atomic>
#include <charconv>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "scenarios/faults/fault_network.hpp"

namespace gatedrill {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

Result<std::pair<std::string, uint16_t>> split_host_port(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return make_error("bad_address", "'" + text + "' is not host:port");
  }
  std::string host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  const std::string port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || ptr != port_text.data() + port_text.size() ||
      port > 65535) {
    return make_error("bad_address", "'" + text + "' has no valid port (0..65535)");
  }
  return std::make_pair(host, static_cast<uint16_t>(port));
}

namespace {

// The toxics of one proxy at one moment, split by direction; replaced, never modified.
struct ToxicSet {
  std::vector<Toxic> upstream, downstream;
  const std::vector<Toxic>& of(Stream s) const {
    return s == Stream::kUpstream ? upstream : downstream;
  }
};

class Connection;

class Proxy {
 public:
  Proxy(asio::io_context& io, ProxyConfig config, tcp::endpoint upstream, uint64_t seed)
      : io_(io),
        config_(std::move(config)),
        upstream_(upstream),
        acceptor_(io),
        seed_(seed),
        toxics_(std::make_shared<ToxicSet>()) {}

  Result<void> listen(const tcp::endpoint& endpoint) {
    error_code ec;
    if (config_.listen_netns.empty()) {
      acceptor_.open(endpoint.protocol(), ec);
    } else {
      auto fd = socket_in_netns(config_.listen_netns,
                                endpoint.protocol() == tcp::v4() ? AF_INET : AF_INET6, SOCK_STREAM);
      if (!fd)
        return make_error("bind_failed", "proxy '" + config_.name + "': " + fd.error().message);
      acceptor_.assign(endpoint.protocol(), *fd, ec);
    }
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return make_error("bind_failed", "proxy '" + config_.name + "' cannot listen on " +
                                           config_.listen + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint().port();
    return {};
  }

  void start_accept(const std::shared_ptr<Proxy>& self);
  void close();  // io thread

  std::shared_ptr<const ToxicSet> snapshot() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return toxics_;
  }

  ProxyInfo info() const {
    std::lock_guard<std::mutex> lock(mutex_);
    ProxyInfo info;
    info.config = config_;
    info.port = port_;
    info.toxics = ordered_;
    info.connections = accepted_.load();
    if (port_ != 0) {
      auto hp = split_host_port(config_.listen);
      if (hp) info.config.listen = hp->first + ":" + std::to_string(port_);
    }
    return info;
  }

  Result<Toxic> add_toxic(Toxic toxic, uint64_t id) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& t : ordered_) {
        if (t.name == toxic.name) {
          return make_error(
              "duplicate_toxic",
              "proxy '" + config_.name + "' already has a toxic named '" + toxic.name + "'");
        }
      }
      toxic.id = id;
      ordered_.push_back(toxic);
      rebuild_locked();
    }
    notify_connections();
    return toxic;
  }

  Result<void> remove_toxic(const std::string& name) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = std::find_if(ordered_.begin(), ordered_.end(),
                             [&](const Toxic& t) { return t.name == name; });
      if (it == ordered_.end()) {
        return make_error("no_such_toxic",
                          "proxy '" + config_.name + "' has no toxic named '" + name + "'");
      }
      ordered_.erase(it);
      rebuild_locked();
    }
    notify_connections();
    return {};
  }

  const tcp::endpoint& upstream() const { return upstream_; }
  const std::string& upstream_netns() const { return config_.upstream_netns; }
  asio::io_context& io() { return io_; }

 private:
  void rebuild_locked() {
    auto set = std::make_shared<ToxicSet>();
    for (const auto& t : ordered_)
      (t.stream == Stream::kUpstream ? set->upstream : set->downstream).push_back(t);
    toxics_ = std::move(set);
  }
  void notify_connections();

  asio::io_context& io_;
  ProxyConfig config_;
  tcp::endpoint upstream_;
  tcp::acceptor acceptor_;
  uint64_t seed_;
  uint16_t port_ = 0;
  std::atomic<uint64_t> accepted_{0};
  bool closed_ = false;  // io thread

  mutable std::mutex mutex_;
  std::vector<Toxic> ordered_;
  std::shared_ptr<const ToxicSet> toxics_;
  std::vector<std::weak_ptr<Connection>> connections_;
};

// One proxied connection: two directions, each a loop of read -> plan -> (delays) write.
// All of it runs on the single io thread, so no locking inside.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<Proxy> proxy, tcp::socket client, uint64_t seed)
      : proxy_(std::move(proxy)),
        client_(std::move(client)),
        server_(proxy_->io()),
        up_(proxy_->io(), client_, server_, Stream::kUpstream, seed),
        down_(proxy_->io(), server_, client_, Stream::kDownstream, seed ^ 0x9e3779b97f4a7c15ULL),
        close_timer_(proxy_->io()) {}

  void start() {
    auto self = shared_from_this();
    if (const std::string& ns = proxy_->upstream_netns(); !ns.empty()) {
      // async_connect uses a socket that is already open: this one connects from inside ns.
      const auto protocol = proxy_->upstream().protocol();
      auto fd = socket_in_netns(ns, protocol == tcp::v4() ? AF_INET : AF_INET6, SOCK_STREAM);
      error_code ec;
      if (fd) server_.assign(protocol, *fd, ec);
      if (!fd || ec) return close();
    }
    server_.async_connect(proxy_->upstream(), [self](const error_code& ec) {
      if (ec) return self->close();
      error_code ignored;
      self->client_.set_option(tcp::no_delay(true), ignored);
      self->server_.set_option(tcp::no_delay(true), ignored);
      self->read(self->up_);
      self->read(self->down_);
    });
  }

  // The toxics changed: plan held chunks again.
  void replan() {
    for (Direction* d : {&up_, &down_}) {
      if (d->holding) d->timer.cancel();
    }
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    up_.timer.cancel();
    down_.timer.cancel();
    close_timer_.cancel();
    client_.close(ignored);
    server_.close(ignored);
  }

 private:
  struct Direction {
    Direction(asio::io_context& io, tcp::socket& from, tcp::socket& to, Stream s, uint64_t seed)
        : src(from), dst(to), stream(s), state(seed), timer(io) {}
    tcp::socket& src;
    tcp::socket& dst;
    Stream stream;
    DirectionState state;
    asio::steady_timer timer;
    std::array<char, 16384> buffer{};
    bool holding = false;
    std::string held;
    ChunkPlan plan;
    size_t next_piece = 0;
    bool finished = false;  // end of stream passed on
  };

  Direction& other(Direction& d) { return &d == &up_ ? down_ : up_; }

  void read(Direction& d) {
    if (closed_) return;
    auto self = shared_from_this();
    d.src.async_read_some(asio::buffer(d.buffer), [self, &d](const error_code& ec, size_t n) {
      if (self->closed_) return;
      if (ec == asio::error::eof) return self->end_of_stream(d);
      if (ec) return self->close();
      self->process(d, std::string(d.buffer.data(), n));
    });
  }

  void process(Direction& d, std::string chunk) {
    auto toxics = proxy_->snapshot();
    std::string copy = chunk;
    d.plan = plan_chunk(std::move(chunk), toxics->of(d.stream), d.state);
    auto self = shared_from_this();
    switch (d.plan.action) {
      case ChunkPlan::Action::kHold:
        d.holding = true;
        d.held = std::move(copy);
        d.timer.expires_at(asio::steady_timer::time_point::max());
        d.timer.async_wait([self, &d](const error_code&) {
          if (self->closed_ || !d.holding) return;
          d.holding = false;
          self->process(d, std::move(d.held));
        });
        return;
      case ChunkPlan::Action::kDrop:
        if (d.plan.close_after && !close_armed_) {
          close_armed_ = true;
          close_timer_.expires_after(*d.plan.close_after);
          close_timer_.async_wait([self](const error_code& ec) {
            if (!ec) self->close();
          });
        }
        return finish_chunk(d);
      case ChunkPlan::Action::kForward:
        d.next_piece = 0;
        return write_piece(d);
    }
  }

  void write_piece(Direction& d) {
    if (closed_) return;
    if (d.next_piece == d.plan.pieces.size()) return finish_chunk(d);
    auto self = shared_from_this();
    auto write = [self, &d] {
      const Piece& piece = d.plan.pieces[d.next_piece];
      asio::async_write(d.dst, asio::buffer(piece.data), [self, &d](const error_code& ec, size_t) {
        if (self->closed_) return;
        if (ec) return self->close();
        ++d.next_piece;
        self->write_piece(d);
      });
    };
    const auto delay = d.plan.pieces[d.next_piece].delay;
    if (delay.count() <= 0) return write();
    d.timer.expires_after(delay);
    d.timer.async_wait([self, write](const error_code& ec) {
      if (!ec && !self->closed_) write();
    });
  }

  void finish_chunk(Direction& d) {
    if (!d.plan.pieces.empty()) other(d).state.exchange = 0;  // a new exchange begins
    const auto then = d.plan.then;
    if (then == ChunkPlan::Then::kContinue) return read(d);
    auto self = shared_from_this();
    auto act = [self, then] {
      if (then == ChunkPlan::Then::kReset)
        self->reset();
      else
        self->close();
    };
    if (d.plan.then_delay.count() <= 0) return act();
    d.timer.expires_after(d.plan.then_delay);
    d.timer.async_wait([self, act](const error_code& ec) {
      if (!ec && !self->closed_) act();
    });
  }

  void end_of_stream(Direction& d) {
    auto toxics = proxy_->snapshot();
    const auto delay = close_delay(toxics->of(d.stream), d.state);
    auto self = shared_from_this();
    auto pass_on = [self, &d] {
      error_code ignored;
      d.dst.shutdown(tcp::socket::shutdown_send, ignored);
      d.finished = true;
      if (self->other(d).finished) self->close();
    };
    if (delay.count() <= 0) return pass_on();
    d.timer.expires_after(delay);
    d.timer.async_wait([self, pass_on](const error_code& ec) {
      if (!ec && !self->closed_) pass_on();
    });
  }

  // Both peers see "connection reset" (RST), as from a peer that aborted.
  void reset() {
    error_code ignored;
    client_.set_option(asio::socket_base::linger(true, 0), ignored);
    server_.set_option(asio::socket_base::linger(true, 0), ignored);
    close();
  }

  std::shared_ptr<Proxy> proxy_;
  tcp::socket client_;
  tcp::socket server_;
  Direction up_, down_;
  asio::steady_timer close_timer_;
  bool close_armed_ = false;
  bool closed_ = false;
};

void Proxy::start_accept(const std::shared_ptr<Proxy>& self) {
  acceptor_.async_accept([self](const error_code& ec, tcp::socket socket) {
    if (self->closed_) return;
    if (!ec) {
      const uint64_t n = ++self->accepted_;
      auto connection = std::make_shared<Connection>(self, std::move(socket),
                                                     self->seed_ + n * 0x9e3779b97f4a7c15ULL);
      {
        std::lock_guard<std::mutex> lock(self->mutex_);
        std::erase_if(self->connections_, [](const auto& w) { return w.expired(); });
        self->connections_.push_back(connection);
      }
      connection->start();
    }
    self->start_accept(self);
  });
}

void Proxy::close() {
  closed_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  std::vector<std::weak_ptr<Connection>> connections;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    connections.swap(connections_);
  }
  for (auto& w : connections) {
    if (auto c = w.lock()) c->close();
  }
}

void Proxy::notify_connections() {
  std::vector<std::weak_ptr<Connection>> connections;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    connections = connections_;
  }
  for (auto& w : connections) {
    asio::post(io_, [w] {
      if (auto c = w.lock()) c->replan();
    });
  }
}

}  // namespace

struct FaultProxy::Impl {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread;
  mutable std::mutex mutex;
  std::map<std::string, std::shared_ptr<Proxy>> proxies;
  uint64_t next_toxic_id = 1;
  uint64_t seed = std::random_device{}();

  // Runs f on the io thread and waits for it.
  template <class F>
  void on_io(F f) {
    std::promise<void> done;
    asio::post(io, [&] {
      f();
      done.set_value();
    });
    done.get_future().wait();
  }

  Result<std::shared_ptr<Proxy>> find(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex);
    auto it = proxies.find(name);
    if (it == proxies.end()) return make_error("no_such_proxy", "no proxy named '" + name + "'");
    return it->second;
  }
};

FaultProxy::FaultProxy() : impl_(std::make_unique<Impl>()) {
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

FaultProxy::~FaultProxy() {
  std::map<std::string, std::shared_ptr<Proxy>> proxies;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    proxies.swap(impl_->proxies);
  }
  impl_->on_io([&] {
    for (auto& [_, p] : proxies) p->close();
  });
  impl_->work.reset();
  impl_->io.stop();
  impl_->thread.join();
}

Result<ProxyInfo> FaultProxy::add_proxy(const ProxyConfig& config) {
  if (config.name.empty() || config.name.find('/') != std::string::npos) {
    return make_error("bad_proxy", "a proxy name must be non-empty and contain no '/'");
  }
  auto listen = split_host_port(config.listen);
  if (!listen) return make_error("bad_proxy", "listen: " + listen.error().message);
  auto upstream = split_host_port(config.upstream);
  if (!upstream) return make_error("bad_proxy", "upstream: " + upstream.error().message);
  if (upstream->second == 0)
    return make_error("bad_proxy", "upstream: port 0 is not a destination");
  error_code ec;
  const auto listen_address = asio::ip::make_address(listen->first, ec);
  if (ec) return make_error("bad_proxy", "listen: '" + listen->first + "' is not an IP address");
  tcp::resolver resolver(impl_->io);
  auto resolved = resolver.resolve(upstream->first, std::to_string(upstream->second), ec);
  if (ec || resolved.empty()) {
    return make_error("bad_proxy", "upstream: cannot resolve '" + upstream->first + "'");
  }
  std::shared_ptr<Proxy> proxy;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (impl_->proxies.count(config.name) != 0) {
      return make_error("duplicate_proxy", "a proxy named '" + config.name + "' exists");
    }
    proxy = std::make_shared<Proxy>(impl_->io, config, resolved.begin()->endpoint(),
                                    impl_->seed + impl_->proxies.size() * 7919);
    if (config.enabled) {
      auto bound = proxy->listen(tcp::endpoint(listen_address, listen->second));
      if (!bound) return bound.error();
      asio::post(impl_->io, [proxy] { proxy->start_accept(proxy); });
    }
    impl_->proxies.emplace(config.name, proxy);
  }
  return proxy->info();
}

Result<void> FaultProxy::remove_proxy(const std::string& name) {
  std::shared_ptr<Proxy> proxy;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    auto it = impl_->proxies.find(name);
    if (it == impl_->proxies.end())
      return make_error("no_such_proxy", "no proxy named '" + name + "'");
    proxy = it->second;
    impl_->proxies.erase(it);
  }
  impl_->on_io([&] { proxy->close(); });
  return {};
}

Result<ProxyInfo> FaultProxy::proxy(const std::string& name) const {
  auto p = impl_->find(name);
  if (!p) return p.error();
  return (*p)->info();
}

std::vector<ProxyInfo> FaultProxy::proxies() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  std::vector<ProxyInfo> out;
  for (const auto& [_, p] : impl_->proxies) out.push_back(p->info());
  return out;
}

Result<Toxic> FaultProxy::add_toxic(const std::string& proxy, Toxic toxic) {
  auto p = impl_->find(proxy);
  if (!p) return p.error();
  uint64_t id = 0;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    id = impl_->next_toxic_id++;
  }
  return (*p)->add_toxic(std::move(toxic), id);
}

Result<void> FaultProxy::remove_toxic(const std::string& proxy, const std::string& toxic) {
  auto p = impl_->find(proxy);
  if (!p) return p.error();
  return (*p)->remove_toxic(toxic);
}

}  // namespace gatedrill
