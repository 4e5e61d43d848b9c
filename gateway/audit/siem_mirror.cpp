#include "gateway/audit/siem_mirror.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "core/util/strings.hpp"

namespace gatedrill::gateway {

namespace {
constexpr size_t kMaxDatagram = 60000;  // under the 64 KiB UDP limit with headroom

bool parse_udp(std::string_view url, std::string& host, std::string& port) {
  constexpr std::string_view kScheme = "udp://";
  if (url.substr(0, kScheme.size()) != kScheme) return false;
  std::string_view rest = url.substr(kScheme.size());
  auto colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size()) return false;
  for (char c : rest.substr(colon + 1))
    if (c < '0' || c > '9') return false;
  host = std::string(rest.substr(0, colon));
  port = std::string(rest.substr(colon + 1));
  return port.size() <= 5 && std::stoi(port) > 0 && std::stoi(port) <= 65535;
}
}  // namespace

Result<void> check_siem_url(const std::string& url) {
  std::string host, port;
  if (url.rfind("udp://", 0) == 0) {
    if (!parse_udp(url, host, port))
      return make_error("usage", "--siem-url udp://host:port (got '" + url + "')");
    return {};
  }
  auto u = Url::parse(url);
  if (!u || u->scheme != "http")
    return make_error(
        "usage", "--siem-url must be http://host:port/path or udp://host:port (got '" + url + "')");
  return {};
}

std::string siem_header_value(std::string_view name, std::string_view value) {
  if (iequals(name, "authorization") || iequals(name, "proxy-authorization") ||
      iequals(name, "cookie"))
    return "[redacted]";
  return std::string(value);
}

std::string siem_json(const SiemRecord& r) {
  boost::json::object headers;
  for (const auto& [name, value] : r.headers) headers[to_lower(name)] = value;
  boost::json::object o{{"type", "gatedrill.gateway.request"},
                        {"decision_id", r.decision_id},
                        {"time_ms", r.time_ms},
                        {"node", r.node},
                        {"remote", r.remote},
                        {"method", r.method},
                        {"target", r.target},
                        {"route", r.route},
                        {"identity", r.identity.view()},
                        {"status", r.status},
                        {"reason", r.reason},
                        {"policy_version", r.policy_version.view()},
                        {"headers", std::move(headers)}};
  return boost::json::serialize(o);
}

SiemMirror::SiemMirror(SiemOptions options)
    : options_(std::move(options)), queue_({options_.queue_capacity, options_.batch_max, false}) {}

SiemMirror::~SiemMirror() {
  stop();
}

Result<void> SiemMirror::start() {
  if (auto ok = check_siem_url(options_.url); !ok)
    return make_error("siem_config", ok.error().message);
  std::string host, port;
  if (parse_udp(options_.url, host, port)) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* list = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &list); rc != 0)
      return make_error("siem_config", "cannot resolve " + host + ": " + gai_strerror(rc));
    fd_ = ::socket(list->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    // connect() on UDP only fixes the destination; nothing is sent.
    if (fd_ < 0 || ::connect(fd_, list->ai_addr, list->ai_addrlen) != 0) {
      Error e = make_error("siem_config", std::string("UDP socket: ") + std::strerror(errno));
      ::freeaddrinfo(list);
      if (fd_ >= 0) ::close(fd_);
      fd_ = -1;
      return e;
    }
    ::freeaddrinfo(list);
    udp_ = true;
  }
  queue_.start([this](std::vector<SiemRecord>& batch) { return send_batch(batch); });
  return {};
}

void SiemMirror::stop() {
  queue_.stop();  // one last batch at most: stopping stays bounded with a slow sink
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool SiemMirror::submit(SiemRecord record) {
  return queue_.submit(std::move(record));
}

void SiemMirror::flush() {
  queue_.flush();
}

uint64_t SiemMirror::sent() const {
  return queue_.handled();
}
uint64_t SiemMirror::dropped() const {
  return queue_.dropped();
}
uint64_t SiemMirror::queued() const {
  return queue_.size();
}

bool SiemMirror::send_udp(const std::string& line) {
  if (line.size() > kMaxDatagram) return false;
  // MSG_DONTWAIT: a full socket buffer is a slow sink, and slow sinks lose records.
  return ::send(fd_, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL) ==
         static_cast<ssize_t>(line.size());
}

bool SiemMirror::send_http(const std::string& body) {
  HttpClientOptions http;
  http.timeout = options_.timeout;
  auto r =
      http_request("POST", options_.url, {{"content-type", "application/x-ndjson"}}, body, http);
  return r && r->status >= 200 && r->status < 300;
}

size_t SiemMirror::send_batch(std::vector<SiemRecord>& batch) {
  if (udp_) {
    size_t ok = 0;
    for (const auto& record : batch) ok += send_udp(siem_json(record)) ? 1 : 0;
    return ok;
  }
  std::string body;
  for (const auto& record : batch) body += siem_json(record) + "\n";
  return send_http(body) ? batch.size() : 0;
}

}  // namespace gatedrill::gateway
