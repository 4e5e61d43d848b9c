#include "scenarios/trust_agent.hpp"

#include <sys/stat.h>

#include <boost/json.hpp>
#include <cstdio>
#include <fstream>

#include "core/http/http_client.hpp"
#include "core/util/json.hpp"

namespace gatedrill {

namespace {

std::string percent_encode(const std::string& s) {
  std::string out;
  const char* hex = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

HttpClientOptions quick() {
  HttpClientOptions o;
  o.timeout = std::chrono::milliseconds(2000);
  return o;
}

Result<std::string> get_text(const std::string& url) {
  auto r = http_get(url, quick());
  if (!r) return r.error();
  if (r->status != 200)
    return make_error("ca",
                      "GET " + url + " answered " + std::to_string(r->status) + ": " + r->body);
  return r->body;
}

}  // namespace

Result<void> write_file_atomically(const std::string& path, const std::string& content,
                                   unsigned mode) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) return make_error("write_failed", "cannot write " + tmp);
  }
  ::chmod(tmp.c_str(), mode);
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return make_error("write_failed", "cannot rename " + tmp);
  return {};
}

TrustAgent::TrustAgent(TimeSource& time, TrustAgentOptions options)
    : time_(time), options_(std::move(options)) {
  for (const auto& n : options_.nodes) states_[n.name];
}

TrustAgent::~TrustAgent() {
  stop();
}

Result<void> TrustAgent::sync_node(TrustAgentNode& node, NodeState& state) {
  const std::string query = "?node=" + percent_encode(node.name);
  auto bundle = get_text(options_.ca_admin + "/bundle" + query);
  if (!bundle) return bundle.error();
  auto crl = get_text(options_.ca_admin + "/crl" + query);
  if (!crl) return crl.error();
  auto svid = get_text(options_.ca_admin + "/svid?spiffe_id=" + percent_encode(node.spiffe_id) +
                       "&ip=127.0.0.1");
  if (!svid) return svid.error();
  auto doc = parse_json_object(*svid);
  if (!doc) return doc.error();
  auto chain = json_string(*doc, "chain");
  auto key = json_string(*doc, "key");
  auto serial = json_string(*doc, "serial");
  if (!chain || !key || !serial || !chain->has_value() || !key->has_value() || !serial->has_value())
    return make_error("ca", "GET /svid answered without chain, key and serial: " + *svid);

  if (*bundle != state.bundle) {
    if (auto w = write_file_atomically(node.dir + "/bundle.pem", *bundle); !w) return w;
    state.bundle = *bundle;
    state.dirty = true;
  }
  if (*crl != state.crl) {
    if (auto w = write_file_atomically(node.dir + "/crl.pem", *crl); !w) return w;
    state.crl = *crl;
    state.dirty = true;
  }
  if (**serial != state.serial) {
    // The key first: a reload between the two writes would pair the new key with the old
    // certificate and fail (the node then keeps what it had, and the next pass retries).
    if (auto w = write_file_atomically(node.dir + "/svid.key", **key, 0600); !w) return w;
    if (auto w = write_file_atomically(node.dir + "/svid.pem", **chain); !w) return w;
    state.serial = **serial;
    state.dirty = true;
  }
  std::string admin;
  {
    std::lock_guard lock(mutex_);
    admin = node.admin;
  }
  if (state.dirty && !admin.empty()) {
    auto r = http_request("POST", admin + "/admin/tls/reload", {}, {}, quick());
    // A node that is restarting reads the files at start; a refused reload is retried.
    if (r && r->status / 100 == 2) {
      state.dirty = false;
      std::lock_guard lock(mutex_);
      ++state.reloads;
    }
  }
  return {};
}

Result<void> TrustAgent::heartbeat() {
  if (options_.registry_url.empty()) return {};
  for (const auto& service : options_.services) {
    {
      std::lock_guard lock(mutex_);
      if (silent_.count(service)) continue;
    }
    auto own = options_.service_addresses.find(service);
    const std::string& address =
        own == options_.service_addresses.end() ? options_.service_address : own->second;
    boost::json::object body{{"address", address},
                             {"ttl_ms", static_cast<int64_t>(options_.heartbeat_ttl.count())}};
    auto r = http_post_json(options_.registry_url + "/v1/discovery/" + service,
                            boost::json::serialize(body), quick());
    if (!r) return r.error();
    if (r->status / 100 != 2)
      return make_error("registry", service + " heartbeat answered " + std::to_string(r->status) +
                                        ": " + r->body);
  }
  return {};
}

Result<void> TrustAgent::sync_once() {
  if (!options_.ca_admin.empty()) {
    if (!options_.client_spiffe_id.empty())
      if (auto r = issue_client(); !r) return r;
    for (auto& node : options_.nodes) {
      ::mkdir(node.dir.c_str(), 0755);
      if (auto r = sync_node(node, states_[node.name]); !r)
        return make_error(r.error().code, node.name + ": " + r.error().message);
    }
  }
  return heartbeat();
}

Result<void> TrustAgent::issue_client(bool renewal) {
  boost::json::object request{{"spiffe_id", options_.client_spiffe_id},
                              {"ttl_s", options_.client_ttl.count()},
                              {"renewal", renewal}};
  auto r =
      http_post_json(options_.ca_admin + "/admin/issue", boost::json::serialize(request), quick());
  if (!r) return make_error(r.error().code, "issuing the client SVID: " + r.error().message);
  if (r->status != 200)
    return make_error(
        "ca", "issuing the client SVID answered " + std::to_string(r->status) + ": " + r->body);
  auto doc = parse_json_object(r->body);
  if (!doc) return doc.error();
  auto cert = json_string(*doc, "cert");
  auto key = json_string(*doc, "key");
  auto serial = json_string(*doc, "serial");
  if (!cert || !key || !serial || !cert->has_value() || !key->has_value() || !serial->has_value())
    return make_error("ca", "the client SVID came without cert, key or serial");
  // The leaf alone: the nodes know the intermediates from their trust bundles (that is what a
  // bundle desync breaks); a client sending its chain would be verified by any node that
  // trusts the root.
  if (auto w = write_file_atomically(options_.client_key_file, **key, 0600); !w) return w;
  if (auto w = write_file_atomically(options_.client_cert_file, **cert); !w) return w;
  std::lock_guard lock(mutex_);
  client_serial_ = **serial;
  client_renew_ms_ =
      time_.monotonic_ms() +
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.client_ttl).count() / 2;
  return {};
}

std::string TrustAgent::client_serial() const {
  std::lock_guard lock(mutex_);
  return client_serial_;
}

void TrustAgent::set_admin(const std::string& node, const std::string& admin) {
  std::lock_guard lock(mutex_);
  for (auto& n : options_.nodes)
    if (n.name == node) n.admin = admin;
}

void TrustAgent::set_heartbeat(const std::string& service, bool on) {
  std::lock_guard lock(mutex_);
  if (on)
    silent_.erase(service);
  else
    silent_.insert(service);
  next_heartbeat_ms_ = 0;  // resume at once
}

std::map<std::string, int64_t> TrustAgent::reloads() const {
  std::lock_guard lock(mutex_);
  std::map<std::string, int64_t> out;
  for (const auto& [name, s] : states_) out[name] = s.reloads;
  return out;
}

void TrustAgent::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void TrustAgent::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void TrustAgent::run() {
  // Errors are transient here (a CA or registry fault, a node restarting): report the first of
  // a streak on stderr, retry on the next pass.
  std::string last_error;
  for (;;) {
    std::string error;
    if (!options_.ca_admin.empty()) {
      for (auto& node : options_.nodes) {
        if (auto r = sync_node(node, states_[node.name]); !r && error.empty())
          error = node.name + ": " + r.error().message;
      }
      // The load's client SVID is renewed at half its life, like the nodes' serving SVIDs; a
      // refused renewal is retried on every pass until it works or the SVID has expired.
      bool renew = false;
      {
        std::lock_guard lock(mutex_);
        renew = !options_.client_spiffe_id.empty() && time_.monotonic_ms() >= client_renew_ms_;
      }
      if (renew)
        if (auto r = issue_client(true); !r && error.empty()) error = r.error().message;
    }
    bool beat = false;
    {
      std::lock_guard lock(mutex_);
      int64_t now = time_.monotonic_ms();
      if (now >= next_heartbeat_ms_) {
        beat = true;
        next_heartbeat_ms_ = now + std::max<int64_t>(50, options_.heartbeat_ttl.count() / 4);
      }
    }
    if (beat)
      if (auto r = heartbeat(); !r && error.empty()) error = "heartbeat: " + r.error().message;
    if (!error.empty() && error != last_error)
      std::fprintf(stderr, "  trust agent: %s\n", error.c_str());
    last_error = error;
    std::unique_lock lock(mutex_);
    if (wake_.wait_for(lock, options_.interval, [this] { return stopping_; })) return;
  }
}

}  // namespace gatedrill
