#include "scenarios/fault_executor.hpp"

#include <csignal>

#include <boost/json.hpp>

#include "core/http/http_client.hpp"
#include "core/util/json.hpp"
#include "core/util/strings.hpp"
#include "scenarios/drill_faults.hpp"
#include "scenarios/network_faults.hpp"
#include "scenarios/peers/redis_server.hpp"
#include "scenarios/process_fault_actions.hpp"

namespace gatedrill {

namespace {

Result<void> expect_2xx(const Result<HttpResponse>& response, const std::string& what) {
  if (!response) return make_error(response.error().code, what + ": " + response.error().message);
  if (response->status / 100 != 2)
    return make_error("admin_api", what + " answered " + std::to_string(response->status) + ": " +
                                       response->body);
  return {};
}

Result<void> set_skew(const std::string& admin, int64_t skew_ms) {
  boost::json::object body{{"skew_ms", skew_ms}};
  return expect_2xx(http_post_json(admin + "/admin/clock", boost::json::serialize(body)),
                    "POST /admin/clock");
}

using Clear = std::function<Result<void>()>;

// POST /admin/faults on the node; the clear action deletes that fault by its id.
Result<std::function<Result<void>()>> admin_fault(const std::string& admin, const std::string& type,
                                                  boost::json::object params) {
  boost::json::object body{{"type", type}, {"params", std::move(params)}};
  auto response = http_post_json(admin + "/admin/faults", boost::json::serialize(body));
  if (auto ok = expect_2xx(response, "POST /admin/faults " + type); !ok) return ok.error();
  auto doc = parse_json_object(response->body);
  if (!doc) return doc.error();
  auto id = json_string(*doc, "id");
  if (!id || !id->has_value())
    return make_error("admin_api", "POST /admin/faults answered without an id");
  std::string url = admin + "/admin/faults/" + **id;
  return std::function<Result<void>()>([url]() -> Result<void> {
    auto response = http_request("DELETE", url);
    // 404: the fault ended on its own (a stall that ran out) or the node restarted.
    if (response && response->status == 404) return {};
    return expect_2xx(response, "DELETE " + url);
  });
}

// Several clears as one (an mtu fault's toxic on each stream).
Clear all_of(std::vector<Clear> clears) {
  return [clears = std::move(clears)]() -> Result<void> {
    Result<void> first;
    for (const auto& c : clears)
      if (auto r = c(); !r && first.ok()) first = r;
    return first;
  };
}

int64_t duration_ms(const std::string& text) {
  auto d = parse_duration(text);
  return d ? std::chrono::duration_cast<std::chrono::milliseconds>(*d).count() : 0;
}

}  // namespace

FaultExecutor::FaultExecutor(const Endpoints& endpoints, Supervisor& supervisor, TimeSource& time)
    : endpoints_(endpoints), supervisor_(supervisor), time_(time) {}

Result<std::function<Result<void>()>> FaultExecutor::carry_out(const FaultAction& action,
                                                               const NodeEndpoint& node) {
  using Clear = std::function<Result<void>()>;
  const std::string& type = action.type;
  if (type == "load_surge") return Clear([] { return Result<void>(); });
  if (auto pki = carry_out_pki(action)) return std::move(*pki);
  auto param = [&](const char* key) {
    auto it = action.params.find(key);
    return it == action.params.end() ? std::string() : it->second;
  };
  if (type == "clock_skew") {
    if (auto r = set_skew(node.admin, duration_ms(param("offset"))); !r) return r.error();
    std::string admin = node.admin;
    return Clear([admin] { return set_skew(admin, 0); });
  }
  if (type == "kill" && action.duration.count() > 0) {
    // A window: the node stays down (unless its restart policy brings it back first) and is
    // started again when the window ends, like an operator restoring a crashed service.
    auto spec = supervisor_.spec(node.name);
    if (!spec) return make_error("no_such_process", "no process named '" + node.name + "'");
    if (auto r = supervisor_.signal(node.name, SIGKILL); !r) return r.error();
    return Clear([this, spec = *spec]() -> Result<void> {
      if (supervisor_.pid(spec.name)) return {};
      // The monitor reaps the killed child moments after SIGKILL; spawn refuses until then.
      auto spawned = supervisor_.spawn(spec);
      for (int i = 0; !spawned && spawned.error().code == "duplicate_name" && i < 50; ++i) {
        if (supervisor_.pid(spec.name)) return {};  // its restart policy was first
        (void)supervisor_.wait_exit(spec.name, std::chrono::milliseconds(20));
        spawned = supervisor_.spawn(spec);
      }
      if (!spawned) return spawned.error();
      return {};
    });
  }
  if (type == "kill" || type == "restart") {
    if (auto r = supervisor_.signal(node.name, type == "kill" ? SIGKILL : SIGTERM); !r)
      return r.error();
    return Clear([] { return Result<void>(); });
  }
  if (type == "pause") {
    if (auto r = supervisor_.signal(node.name, SIGSTOP); !r) return r.error();
    std::string name = node.name;
    return Clear([this, name] { return supervisor_.signal(name, SIGCONT); });
  }
  if (type == "latency") {
    return admin_fault(
        node.admin, node.kind == "idp" ? "slow" : "latency",
        boost::json::object{{"latency_ms", static_cast<double>(duration_ms(param("latency")))}});
  }
  if (type == "error") {
    boost::json::object params;
    if (!param("status").empty()) params["status"] = std::stoi(param("status"));
    if (!param("probability").empty()) params["probability"] = std::stod(param("probability"));
    return admin_fault(node.admin, "error", std::move(params));
  }
  if (type == "stall") {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(action.duration).count();
    return admin_fault(node.admin, "stall", boost::json::object{{"duration_ms", ms}});
  }
  if (type == "upstream_down") return admin_fault(node.admin, "down", {});
  if (auto drill = carry_out_drill(action, node)) return std::move(*drill);
  if (type == "idp_down" || type == "jwks_down") return admin_fault(node.admin, type, {});
  return make_error("bad_fault", "no executor for fault '" + type + "'");
}

std::optional<Result<Clear>> FaultExecutor::carry_out_drill(const FaultAction& action,
                                                            const NodeEndpoint& node) {
  const std::string& type = action.type;
  auto param = [&](const char* key, const char* fallback) {
    auto it = action.params.find(key);
    return it == action.params.end() ? std::string(fallback) : it->second;
  };
  auto pid_of = [&](const std::string& name) -> Result<pid_t> {
    auto pid = supervisor_.pid(name);
    if (!pid) return make_error("no_such_process", name + " is not running");
    return *pid;
  };
  // A toxic on the proxy in front of `target`, through the proxy's /admin/faults.
  auto add_toxic = [&](const std::string& target, const std::string& stream) -> Result<Clear> {
    auto body = toxic_body(action, stream);
    if (!body) return body.error();
    (*body)["proxy"] = target;
    (*body).erase("name");
    return admin_fault(endpoints_.proxy.admin, "toxic", std::move(*body));
  };
  if (type == "cpu_starve" || type == "memory_limit") {
    auto pid = pid_of(node.name);
    if (!pid) return pid.error();
    return type == "cpu_starve" ? starve_cpu(*pid, action, mechanism_detail_)
                                : limit_memory(*pid, action, mechanism_detail_);
  }
  if (type == "ballast") {
    auto size = parse_size(param("size", "0"));
    if (!size) return size.error();
    return admin_fault(
        node.admin, "ballast",
        boost::json::object{{"bytes", *size}, {"ramp_ms", duration_ms(param("ramp", "0s"))}});
  }
  if (type == "toxic") return add_toxic(node.name, param("stream", "downstream"));
  if (is_network_fault(type)) {
    return carry_out_network_fault(
        action, networks_, [&](const std::string& stream) { return add_toxic(node.name, stream); },
        mechanism_detail_);
  }
  if (type == "redis_down") {
    std::string mode = param("mode", "kill");
    mechanism_detail_["mode"] = mode;
    if (mode == "blackhole") {
      // A timeout toxic with no timeout holds every byte: connections stay open, nothing answers.
      std::vector<Clear> clears;
      for (const char* s : {"upstream", "downstream"}) {
        boost::json::object body{{"proxy", "redis"},
                                 {"type", "timeout"},
                                 {"stream", s},
                                 {"attributes", boost::json::object{{"timeout", 0}}}};
        auto clear = admin_fault(endpoints_.proxy.admin, "toxic", std::move(body));
        if (!clear) {
          (void)all_of(clears)();
          return clear.error();
        }
        clears.push_back(std::move(*clear));
      }
      return all_of(std::move(clears));
    }
    if (!redis_)
      return make_error("bad_fault", "redis_down: the topology has no redis (redis = true)");
    RedisServer* redis = redis_;
    if (mode == "hang") {
      if (auto r = redis->hang(); !r) return r.error();
      return Clear([redis] { return redis->resume(); });
    }
    auto killed = redis->kill();
    if (!killed) return killed.error();
    mechanism_detail_["exit_status"] = std::to_string(*killed);
    return Clear([redis] { return redis->restart(); });
  }
  if (type == "jwks_rotate") {
    std::string mode = param("mode", "sign_first");
    boost::json::object body{{"mode", mode}};
    if (mode == "publish_first")
      body["delay_s"] = static_cast<double>(duration_ms(param("delay", "0s"))) / 1000.0;
    std::string admin = node.admin;
    if (auto r =
            expect_2xx(http_post_json(admin + "/admin/keys/rotate", boost::json::serialize(body)),
                       "POST /admin/keys/rotate");
        !r)
      return r.error();
    if (mode != "sign_first") return Clear([] { return Result<void>(); });
    // Clearing a sign-first rotation is what fixes it: the new key gets published.
    return Clear([admin] {
      return expect_2xx(http_post_json(admin + "/admin/keys/publish", "{}"),
                        "POST /admin/keys/publish");
    });
  }
  return std::nullopt;
}

Result<void> FaultExecutor::apply(const FaultAction& action) {
  // load_surge: the load generators are the fault; nothing to call, only the window to record.
  static const NodeEndpoint kLoad{"load", "load", "", "", "", "", ""};
  const NodeEndpoint* node = action.node == "load" ? &kLoad : endpoints_.find(action.node);
  if (!node) return make_error("bad_fault", "unknown node '" + action.node + "'");
  mechanism_detail_.clear();
  auto clear = carry_out(action, *node);
  if (!clear) return clear.error();

  boost::json::object detail;
  for (const auto& [k, v] : action.params) detail[k] = v;
  for (const auto& [k, v] : mechanism_detail_) detail[k] = v;
  if (action.duration.count() > 0) detail["duration"] = format_duration(action.duration);
  FaultWindow window{action.type,     action.node, boost::json::serialize(detail),
                     time_.wall_ms(), 0,           {}};
  bool instantaneous =
      (action.type == "kill" && action.duration.count() == 0) || action.type == "restart";
  if (instantaneous) window.end_ms = window.start_ms;
  std::lock_guard lock(mutex_);
  windows_.push_back(window);
  if (listener_) listener_(window);
  if (!instantaneous) {
    int64_t clear_at =
        action.duration.count() > 0
            ? time_.monotonic_ms() +
                  std::chrono::duration_cast<std::chrono::milliseconds>(action.duration).count()
            : 0;
    active_.push_back({windows_.size() - 1, clear_at, std::move(*clear)});
  }
  return {};
}

void FaultExecutor::close(Active& active) {
  auto cleared = active.clear();
  FaultWindow& w = windows_[active.window];
  w.end_ms = time_.wall_ms();
  if (!cleared) {
    // The window still closes: the node may be gone (killed), and a run must not hang on it.
    std::fprintf(stderr, "warning: clearing %s on %s: %s\n", w.type.c_str(), w.node.c_str(),
                 cleared.error().message.c_str());
  }
  if (listener_) listener_(w);
}

void FaultExecutor::clear_expired() {
  std::lock_guard lock(mutex_);
  int64_t now = time_.monotonic_ms();
  for (auto it = active_.begin(); it != active_.end();) {
    if (it->clear_at_ms > 0 && now >= it->clear_at_ms) {
      close(*it);
      it = active_.erase(it);
    } else {
      ++it;
    }
  }
}

void FaultExecutor::clear_all() {
  std::lock_guard lock(mutex_);
  for (auto& a : active_) close(a);
  active_.clear();
}

std::vector<FaultWindow> FaultExecutor::windows() const {
  std::lock_guard lock(mutex_);
  return windows_;
}

}  // namespace gatedrill
