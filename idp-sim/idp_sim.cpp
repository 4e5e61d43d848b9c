#include "idp-sim/idp_sim.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <boost/json/serialize.hpp>

#include "core/crypto/base64url.hpp"
#include "core/crypto/x509.hpp"
#include "core/resp/resp_client.hpp"
#include "core/util/json.hpp"
#include "core/util/strings.hpp"
#include "gateway/redis/redis_keys.hpp"
#include "idp-sim/client_auth.hpp"

namespace gatedrill {

namespace {

constexpr int64_t kMaxTtlS = 10LL * 365 * 86400;

// splitmix64: "fail with probability p" without shared RNG state between server threads.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string random_id() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) throw std::runtime_error("RAND_bytes failed");
  return base64url_encode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

Error bad_params(const std::string& message) {
  return make_error("bad_params", message);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string file_contents(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

HttpResponse no_store(HttpResponse response) {
  response.headers.emplace_back("cache-control", "no-store");
  response.headers.emplace_back("pragma", "no-cache");
  return response;
}

}  // namespace

IdpSim::IdpSim(TimeSource& time, IdpOptions options)
    : time_(time), options_(std::move(options)), faults_(time) {
  if (options_.client_secret.empty()) throw std::invalid_argument("IdpSim needs a client secret");
  tokens_endpoint_ = &metrics_.counter("gatedrill_idp_tokens_issued_total", "Tokens issued",
                                       {{"source", "token_endpoint"}});
  tokens_admin_ = &metrics_.counter("gatedrill_idp_tokens_issued_total", "Tokens issued",
                                    {{"source", "admin"}});
  jwks_fetches_ = &metrics_.counter("gatedrill_idp_jwks_fetches_total",
                                    "JWKS documents served (faulted ones included)");
  discovery_fetches_ =
      &metrics_.counter("gatedrill_idp_discovery_fetches_total", "Discovery documents served");
  for (const char* reason :
       {"invalid_request", "invalid_client", "unsupported_grant_type", "unavailable"}) {
    token_errors_[reason] =
        &metrics_.counter("gatedrill_idp_token_errors_total", "Token requests refused, by reason",
                          {{"reason", reason}});
  }
  register_faults();
}

IdpSim::~IdpSim() {
  stop();
}

Result<void> check_tenant_name(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64;
  for (char c : name)
    ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
  if (!ok)
    return make_error("bad_options", "tenant name \"" + std::string(name) +
                                         "\" must be 1..64 letters, digits, '-' or '_'");
  return {};
}

Result<void> IdpSim::load_or_create_keys() {
  for (const auto& tenant : options_.tenants) {
    if (auto ok = check_tenant_name(tenant); !ok) return ok;
    if (tenant_keys_.count(tenant))
      return make_error("bad_options", "tenant " + tenant + " is given twice");
    auto ring = KeyRing::create(time_, options_.alg);  // its own keys, in memory only
    if (!ring) return ring.error();
    tenant_keys_.emplace(tenant, std::move(*ring));
  }
  if (options_.keys_dir.empty()) {
    auto ring = KeyRing::create(time_, options_.alg);
    if (!ring) return ring.error();
    keys_.emplace(std::move(*ring));
    return {};
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(options_.keys_dir, ec);
  if (ec)
    return make_error("bad_key",
                      "cannot create --keys-dir " + options_.keys_dir + ": " + ec.message());
  fs::path path =
      fs::path(options_.keys_dir) / ("signing-" + std::string(jws_alg_name(options_.alg)) + ".pem");
  std::optional<Key> stored;
  if (fs::exists(path, ec)) {
    auto key = Key::from_pem(file_contents(path));
    if (!key) return make_error("bad_key", path.string() + ": " + key.error().message);
    stored = *key;
  }
  auto ring = KeyRing::create(time_, options_.alg, stored);
  if (!ring) return make_error("bad_key", path.string() + ": " + ring.error().message);
  if (!stored) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write, ec);
    out << ring->current().key.private_pem();
    if (!out) return make_error("bad_key", "cannot write " + path.string());
  }
  keys_.emplace(std::move(*ring));
  return {};
}

Result<void> IdpSim::start() {
  if (options_.tls_cert_file.empty() != options_.tls_key_file.empty())
    return make_error("bad_options", "TLS needs both a certificate and a key");
  if (!options_.client_ca_file.empty() && options_.tls_cert_file.empty())
    return make_error("bad_options", "a client CA needs TLS (a certificate and a key)");
  if (options_.mtls_client_id.empty() != options_.mtls_client_uri.empty() ||
      (!options_.mtls_client_id.empty() && options_.client_ca_file.empty()))
    return make_error("bad_options", "an mTLS client needs an id, a URI and a client CA");
  if (!options_.mtls_client_id.empty() && options_.mtls_client_id == options_.client_id)
    return make_error("bad_options", "the mTLS client needs an id of its own");
  if (auto loaded = load_or_create_keys(); !loaded) return loaded;
  if (auto opened = open_public(); !opened) return opened;

  HttpServerOptions admin_options;
  admin_options.bind_address = options_.bind_address;
  admin_options.port = options_.admin_port;
  admin_ = std::make_unique<AdminServer>(time_, metrics_, faults_, admin_options);
  admin_->route("POST", "/admin/tokens",
                [this](const HttpRequest& r) { return handle_admin_tokens(r); });
  admin_->route("POST", "/admin/keys/rotate",
                [this](const HttpRequest& r) { return handle_admin_rotate(r); });
  admin_->route("POST", "/admin/keys/publish",
                [this](const HttpRequest& r) { return handle_admin_publish(r); });
  admin_->route("GET", "/admin/keys",
                [this](const HttpRequest& r) { return handle_admin_keys(r); });
  admin_->route("POST", "/admin/revoke",
                [this](const HttpRequest& r) { return handle_admin_revoke(r); });
  return admin_->start();
}

Result<void> IdpSim::open_public() {
  std::lock_guard lock(server_mutex_);
  HttpServerOptions options;
  options.bind_address = options_.bind_address;
  options.port = bound_port_ != 0 ? bound_port_ : options_.port;  // reopen on the same port
  options.threads = options_.threads;
  options.max_body_bytes = 64 * 1024;
  if (!options_.tls_cert_file.empty()) {
    options.tls = TlsServerConfig{options_.tls_cert_file, options_.tls_key_file};
    options.tls_client_ca_file = options_.client_ca_file;
  }
  auto server = std::make_unique<HttpServer>(options);
  server->route("*", "/*", [this](const HttpRequest& r) { return handle_public(r); });
  if (auto started = server->start(); !started) return started;
  bound_port_ = server->port();
  server_ = std::move(server);
  return {};
}

void IdpSim::close_public() {
  std::unique_ptr<HttpServer> server;
  {
    std::lock_guard lock(server_mutex_);
    server = std::move(server_);
  }
  if (server) server->stop();
}

void IdpSim::stop() {
  stopping_.store(true);
  if (admin_) admin_->stop();
  faults_.clear();  // before the servers go: a cleared idp_down close must not reopen anything
  close_public();
}

uint16_t IdpSim::port() const {
  std::lock_guard lock(server_mutex_);
  return bound_port_;
}

uint16_t IdpSim::admin_port() const {
  return admin_ ? admin_->port() : 0;
}

std::string IdpSim::base_url() const {
  return (options_.tls_cert_file.empty() ? "http://" : "https://") + options_.bind_address + ":" +
         std::to_string(port());
}

std::string IdpSim::issuer() const {
  return options_.issuer.empty() ? base_url() : options_.issuer;
}

std::string IdpSim::issuer(std::string_view tenant) const {
  return tenant.empty() ? issuer() : issuer() + "/" + std::string(tenant);
}

std::string IdpSim::base_url(std::string_view tenant) const {
  return tenant.empty() ? base_url() : base_url() + "/" + std::string(tenant);
}

KeyRing* IdpSim::ring(std::string_view tenant) {
  if (tenant.empty()) return &*keys_;
  auto it = tenant_keys_.find(tenant);
  return it == tenant_keys_.end() ? nullptr : &it->second;
}

Result<KeyRing*> IdpSim::admin_ring(const boost::json::object& params) {
  auto tenant = json_string(params, "tenant");
  if (!tenant) return make_error("bad_params", tenant.error().message);
  KeyRing* keys = ring(tenant->value_or(""));
  if (!keys) return make_error("unknown_tenant", "no tenant named \"" + **tenant + "\"");
  return keys;
}

namespace {
HttpResponse admin_ring_error(const Error& e) {
  return json_error(e.code == "unknown_tenant" ? 404 : 400, e.code, e.message);
}

// An admin POST body: a JSON object, or nothing at all ({}).
Result<boost::json::object> admin_body(const HttpRequest& request) {
  return parse_json_object(trim(request.body).empty() ? std::string_view("{}")
                                                      : std::string_view(request.body));
}
}  // namespace

bool IdpSim::draw(double probability) {
  if (probability <= 0) return false;
  double x = static_cast<double>(mix(error_draw_.fetch_add(1, std::memory_order_relaxed)) >> 11) /
             static_cast<double>(1ULL << 53);
  return x < probability;
}

HttpResponse IdpSim::handle_public(const HttpRequest& request) {
  const bool is_token =
      request.path.size() >= 6 && request.path.compare(request.path.size() - 6, 6, "/token") == 0;
  auto unavailable = [&](int status, const char* why) {
    if (is_token) token_errors_.at("unavailable")->inc();
    HttpResponse r = json_error(status, "unavailable", why);
    r.delay = std::chrono::microseconds(slow_us_.load(std::memory_order_relaxed));
    return r;
  };
  if (down_.load(std::memory_order_relaxed))
    return unavailable(503, "the IdP is down (fault idp_down)");
  if (draw(error_probability_.load(std::memory_order_relaxed)))
    return unavailable(error_status_.load(std::memory_order_relaxed),
                       "injected error (fault error_5xx)");

  // /NAME/... is tenant NAME's issuer; anything else the default one.
  std::string_view path = request.path;
  std::string_view tenant;
  KeyRing* keys = &*keys_;
  if (!tenant_keys_.empty() && path.size() > 1) {
    const auto slash = path.find('/', 1);
    if (slash != std::string_view::npos) {
      if (KeyRing* t = ring(path.substr(1, slash - 1))) {
        tenant = path.substr(1, slash - 1);
        keys = t;
        path = path.substr(slash);
      }
    }
  }
  HttpResponse response;
  if (path == "/.well-known/openid-configuration") {
    response = request.method == "GET" ? discovery(tenant)
                                       : json_error(405, "method_not_allowed", "use GET");
  } else if (path == "/jwks.json") {
    response =
        request.method == "GET" ? jwks(*keys) : json_error(405, "method_not_allowed", "use GET");
  } else if (path == "/token") {
    response = request.method == "POST" ? token(request, tenant, *keys)
                                        : json_error(405, "method_not_allowed", "use POST");
  } else {
    response = json_error(404, "not_found", "no such endpoint: " + request.path);
  }
  response.delay = std::chrono::microseconds(slow_us_.load(std::memory_order_relaxed));
  return response;
}

HttpResponse IdpSim::discovery(std::string_view tenant) const {
  discovery_fetches_->inc();
  std::string base = base_url(tenant);
  boost::json::array auth_methods{"client_secret_basic", "client_secret_post"};
  if (!options_.mtls_client_id.empty()) auth_methods.emplace_back("tls_client_auth");
  boost::json::object doc{
      {"issuer", issuer(tenant)},
      {"jwks_uri", base + "/jwks.json"},
      {"token_endpoint", base + "/token"},
      {"id_token_signing_alg_values_supported", boost::json::array{jws_alg_name(options_.alg)}},
      {"grant_types_supported", boost::json::array{"client_credentials"}},
      {"token_endpoint_auth_methods_supported", auth_methods},
      {"response_types_supported", boost::json::array{"token"}},
      {"subject_types_supported", boost::json::array{"public"}},
  };
  return json_ok(boost::json::serialize(doc));
}

HttpResponse IdpSim::jwks(KeyRing& keys) {
  jwks_fetches_->inc();
  if (jwks_down_.load(std::memory_order_relaxed))
    return json_error(503, "unavailable", "the JWKS endpoint is down (fault jwks_down)");
  std::string body = keys.jwks_json();
  switch (jwks_malformed_.load(std::memory_order_relaxed)) {
    case 1:
      body = "<html>502 Bad Gateway</html> not a key set {";
      break;
    case 2:
      body = R"({"keys":[]})";
      break;
    case 3:
      body = body.substr(0, body.size() / 2);
      break;
    default:
      break;
  }
  HttpResponse response = json_ok(std::move(body));
  response.headers.emplace_back("cache-control", "public, max-age=300");
  return response;
}

HttpResponse IdpSim::token_error(int status, const std::string& error,
                                 const std::string& description, bool basic_challenge) {
  if (auto it = token_errors_.find(error); it != token_errors_.end()) it->second->inc();
  HttpResponse response;
  response.status = status;
  response.body = boost::json::serialize(
      boost::json::object{{"error", error}, {"error_description", description}});
  if (basic_challenge)
    response.headers.emplace_back("www-authenticate", "Basic realm=\"gatedrill-idp\"");
  return no_store(std::move(response));
}

boost::json::object IdpSim::default_claims(int64_t ttl_s, const std::string& sub,
                                           std::string_view tenant) const {
  const int64_t now = time_.wall_seconds();  // skewed by /admin/clock: the clock-skew-idp drill
  return boost::json::object{{"iss", issuer(tenant)},
                             {"sub", sub},
                             {"aud", options_.audience},
                             {"iat", now},
                             {"nbf", now},
                             {"exp", now + ttl_s},
                             {"jti", random_id()},
                             {"scope", options_.scope}};
}

Result<void> IdpSim::check_tls_client(const HttpRequest& request) const {
  if (request.peer_certificate_pem.empty())
    return make_error("invalid_client", "tls_client_auth: no client certificate was presented");
  // The server verified the chain against the client CA; what is left is whose it is.
  auto info = inspect_certificate(request.peer_certificate_pem);
  if (!info) return make_error("invalid_client", "tls_client_auth: " + info.error().message);
  for (const auto& uri : info->uris)
    if (uri == options_.mtls_client_uri) return {};
  return make_error("invalid_client",
                    "tls_client_auth: the client certificate's URI SANs do "
                    "not include the one registered for " +
                        options_.mtls_client_id);
}

HttpResponse IdpSim::token(const HttpRequest& request, std::string_view tenant, KeyRing& keys) {
  auto content_type = to_lower(trim(split(request.header("content-type"), ';')[0]));
  if (content_type != "application/x-www-form-urlencoded")
    return token_error(400, "invalid_request",
                       "the body must be application/x-www-form-urlencoded");
  auto form = parse_form(request.body);
  if (!form) return token_error(400, "invalid_request", form.error().message);

  auto basic = parse_basic_auth(request.header("authorization"));
  if (!basic) return token_error(401, "invalid_client", basic.error().message, true);
  const bool has_post = form->count("client_id") || form->count("client_secret");
  if (*basic && has_post)
    return token_error(400, "invalid_request",
                       "use one client authentication method, not Basic and the body both");

  auto grant = form->find("grant_type");
  if (grant == form->end()) return token_error(400, "invalid_request", "grant_type is required");
  if (grant->second != "client_credentials")
    return token_error(400, "unsupported_grant_type",
                       "only grant_type=client_credentials is supported");

  ClientCredentials credentials;
  const bool tls_client = !*basic && !options_.mtls_client_id.empty() && form->count("client_id") &&
                          !form->count("client_secret") &&
                          form->at("client_id") == options_.mtls_client_id;
  if (tls_client) {
    if (auto ok = check_tls_client(request); !ok)
      return token_error(401, "invalid_client", ok.error().message);
    credentials.id = options_.mtls_client_id;
  } else if (*basic) {
    credentials = **basic;
  } else if (has_post) {
    credentials.id = form->count("client_id") ? form->at("client_id") : "";
    credentials.secret = form->count("client_secret") ? form->at("client_secret") : "";
  } else {
    return token_error(401, "invalid_client", "client authentication is required", true);
  }
  if (!tls_client) {
    // Both compared every time, so the answer time does not tell which one was wrong.
    bool id_ok = constant_time_equal(credentials.id, options_.client_id);
    bool secret_ok = constant_time_equal(credentials.secret, options_.client_secret);
    if (!id_ok || !secret_ok)
      return token_error(401, "invalid_client", "unknown client or wrong secret", bool(*basic));
  }

  boost::json::object claims = default_claims(options_.token_ttl.count(), credentials.id, tenant);
  if (auto scope = form->find("scope"); scope != form->end() && !scope->second.empty())
    claims["scope"] = scope->second;
  SigningKey key = keys.current();
  auto jwt = sign_jwt(key.alg, key.key, key.kid, claims);
  if (!jwt) return json_error(500, "sign_failed", jwt.error().message);
  tokens_endpoint_->inc();
  boost::json::object body{{"access_token", *jwt},
                           {"token_type", "Bearer"},
                           {"expires_in", options_.token_ttl.count()},
                           {"scope", claims["scope"]}};
  return no_store(json_ok(boost::json::serialize(body)));
}

HttpResponse IdpSim::handle_admin_tokens(const HttpRequest& request) {
  boost::json::object params;
  if (!trim(request.body).empty()) {
    auto parsed = parse_json_object(request.body);
    if (!parsed) return json_error(400, "bad_json", parsed.error().message);
    params = std::move(*parsed);
  }
  auto ring_or = admin_ring(params);
  if (!ring_or) return admin_ring_error(ring_or.error());
  KeyRing& keys = **ring_or;
  const std::string tenant = json_string(params, "tenant")->value_or("");  // checked above
  auto kid = json_string(params, "kid");
  auto alg_name = json_string(params, "alg");
  auto ttl = json_int(params, "ttl_s");
  auto count = json_int(params, "count");
  for (const Error* e : {kid ? nullptr : &kid.error(), alg_name ? nullptr : &alg_name.error(),
                         ttl ? nullptr : &ttl.error(), count ? nullptr : &count.error()}) {
    if (e) return json_error(400, "bad_params", e->message);
  }
  const boost::json::object* overrides = nullptr;
  if (auto it = params.find("claims"); it != params.end()) {
    if (!it->value().is_object())
      return json_error(400, "bad_params", "claims must be a JSON object");
    overrides = &it->value().as_object();
  }
  int64_t n = count->value_or(1);
  if (n < 1 || n > kMaxAdminTokens)
    return json_error(400, "bad_params", "count must be 1.." + std::to_string(kMaxAdminTokens));
  int64_t ttl_s = ttl->value_or(options_.token_ttl.count());
  if (ttl_s < -kMaxTtlS || ttl_s > kMaxTtlS)
    return json_error(400, "bad_params",
                      "ttl_s must be within +/- 10 years (negative mints expired tokens)");

  // Which key signs, and which kid the header names. A kid the ring does not know is put in the
  // header as is (the unknown-kid drills); an alg with no fitting key gets a new unpublished key.
  std::optional<SigningKey> named = kid->has_value() ? keys.find(**kid) : std::nullopt;
  SigningKey signer;
  if (alg_name->has_value()) {
    auto alg = parse_jws_alg(**alg_name);
    if (!alg) return json_error(400, "bad_params", alg.error().message);
    if (named && jws_alg_fits_key(*alg, named->key)) {
      signer = *named;
      signer.alg = *alg;
    } else {
      auto fitting = keys.key_for(*alg);
      if (!fitting) return json_error(500, "sign_failed", fitting.error().message);
      signer = *fitting;
    }
  } else {
    signer = named ? *named : keys.current();
  }
  std::string header_kid = kid->has_value() ? **kid : signer.kid;

  // Token pools for the load generator can be large: sign them on a few threads.
  std::vector<std::string> signed_tokens(static_cast<size_t>(n));
  std::mutex failure_mutex;
  std::string failure;
  auto sign_range = [&](int64_t begin, int64_t end) {
    try {
      for (int64_t i = begin; i < end; ++i) {
        boost::json::object claims = default_claims(ttl_s, options_.client_id, tenant);
        if (overrides) {
          for (const auto& member : *overrides) {
            if (member.value().is_null())
              claims.erase(member.key());  // drills: tokens without exp ...
            else
              claims[member.key()] = member.value();
          }
        }
        auto jwt = sign_jwt(signer.alg, signer.key, header_kid, claims);
        if (!jwt) throw std::runtime_error(jwt.error().message);
        signed_tokens[static_cast<size_t>(i)] = std::move(*jwt);
      }
    } catch (const std::exception& e) {
      std::lock_guard lock(failure_mutex);
      failure = e.what();
    }
  };
  const int64_t workers =
      n >= 256 ? std::clamp<int64_t>(std::thread::hardware_concurrency(), 1, 4) : 1;
  std::vector<std::thread> threads;
  for (int64_t w = 1; w < workers; ++w)
    threads.emplace_back(sign_range, n * w / workers, n * (w + 1) / workers);
  sign_range(0, n / workers);
  for (auto& t : threads) t.join();
  if (!failure.empty()) return json_error(500, "sign_failed", failure);
  boost::json::array tokens;
  tokens.reserve(static_cast<size_t>(n));
  for (auto& t : signed_tokens) tokens.emplace_back(std::move(t));
  tokens_admin_->inc(static_cast<uint64_t>(n));
  boost::json::object body{
      {"token", tokens[0]}, {"kid", header_kid}, {"alg", jws_alg_name(signer.alg)}};
  if (n > 1) body["tokens"] = std::move(tokens);
  return json_ok(boost::json::serialize(body));
}

HttpResponse IdpSim::handle_admin_rotate(const HttpRequest& request) {
  auto params = admin_body(request);
  if (!params) return json_error(400, "bad_json", params.error().message);
  auto ring_or = admin_ring(*params);
  if (!ring_or) return admin_ring_error(ring_or.error());
  KeyRing& keys = **ring_or;
  auto mode = json_string(*params, "mode");
  auto delay = json_number(*params, "delay_s");
  if (!mode) return json_error(400, "bad_params", mode.error().message);
  if (!delay) return json_error(400, "bad_params", delay.error().message);
  if (!mode->has_value())
    return json_error(400, "bad_params", "mode is required: \"publish_first\" or \"sign_first\"");
  Result<SigningKey> fresh = make_error("", "");
  if (**mode == "publish_first") {
    double seconds = delay->value_or(0);
    if (seconds < 0 || seconds > 86400)
      return json_error(400, "bad_params", "delay_s must be 0..86400");
    fresh =
        keys.rotate_publish_first(std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000)));
  } else if (**mode == "sign_first") {
    if (delay->has_value())
      return json_error(400, "bad_params", "delay_s applies to publish_first only");
    fresh = keys.rotate_sign_first();
  } else {
    return json_error(400, "bad_params",
                      "mode must be \"publish_first\" or \"sign_first\", not \"" + **mode + "\"");
  }
  if (!fresh) return json_error(500, "rotate_failed", fresh.error().message);
  boost::json::object body{{"kid", fresh->kid},
                           {"mode", **mode},
                           {"published", fresh->published},
                           {"signing_kid", keys.current().kid}};
  return json_ok(boost::json::serialize(body));
}

HttpResponse IdpSim::handle_admin_publish(const HttpRequest& request) {
  auto params = admin_body(request);
  if (!params) return json_error(400, "bad_json", params.error().message);
  auto ring_or = admin_ring(*params);
  if (!ring_or) return admin_ring_error(ring_or.error());
  boost::json::array kids;
  for (auto& kid : (*ring_or)->publish_pending()) kids.emplace_back(kid);
  return json_ok(boost::json::serialize(boost::json::object{{"published", std::move(kids)}}));
}

HttpResponse IdpSim::handle_admin_keys(const HttpRequest& request) {
  auto query = parse_form(request.query);
  if (!query) return json_error(400, "bad_params", query.error().message);
  boost::json::object params;
  if (auto tenant = query->find("tenant"); tenant != query->end())
    params["tenant"] = tenant->second;
  auto ring_or = admin_ring(params);
  if (!ring_or) return admin_ring_error(ring_or.error());
  KeyRing& keys = **ring_or;
  std::string signing = keys.current().kid;
  boost::json::array list;
  for (const auto& k : keys.keys()) {
    list.push_back(boost::json::object{{"kid", k.kid},
                                       {"alg", jws_alg_name(k.alg)},
                                       {"published", k.published},
                                       {"signing", k.kid == signing}});
  }
  return json_ok(boost::json::serialize(
      boost::json::object{{"signing_kid", signing}, {"keys", std::move(list)}}));
}

HttpResponse IdpSim::handle_admin_revoke(const HttpRequest& request) {
  auto parsed = parse_json_object(request.body);
  if (!parsed) return json_error(400, "bad_json", parsed.error().message);
  auto jti = json_string(*parsed, "jti");
  auto ttl = json_int(*parsed, "ttl_s");
  if (!jti) return json_error(400, "bad_params", jti.error().message);
  if (!ttl) return json_error(400, "bad_params", ttl.error().message);
  if (!jti->has_value() || (*jti)->empty() || (*jti)->size() > 256)
    return json_error(400, "bad_params", "jti must be a string of 1..256 bytes");
  const int64_t ttl_s = ttl->value_or(options_.token_ttl.count() + 60);
  if (ttl_s < 1 || ttl_s > kMaxTtlS)
    return json_error(400, "bad_params", "ttl_s must be 1..10 years");
  if (options_.redis_url.empty())
    return json_error(503, "no_redis", "the IdP was started without --redis");
  // redis://host:port (checked by the command line; the admin path may block briefly).
  std::string_view rest =
      std::string_view(options_.redis_url).substr(std::string_view("redis://").size());
  auto colon = rest.rfind(':');
  const std::string host(rest.substr(0, colon));
  const auto port = static_cast<uint16_t>(std::stoi(std::string(rest.substr(colon + 1))));
  auto client = RespClient::connect(host, port, std::chrono::milliseconds(1000));
  if (!client) return json_error(503, "redis_unavailable", client.error().message);
  const std::string key = revoked_jti_key(**jti);
  auto reply = client->command({"SET", key, "1", "EX", std::to_string(ttl_s)});
  if (!reply) return json_error(503, "redis_unavailable", reply.error().message);
  if (reply->is_error()) return json_error(502, "redis_error", reply->str);
  return json_ok(boost::json::serialize(
      boost::json::object{{"revoked", **jti}, {"key", key}, {"ttl_s", ttl_s}}));
}

void IdpSim::register_faults() {
  // {"mode": "503"} (default): public endpoints answer 503. {"mode": "close"}: the public port
  // stops listening and open connections are dropped (connection refused), until cleared.
  faults_.register_type(
      "idp_down", [this](const boost::json::object& params) -> Result<FaultRegistry::Clear> {
        auto mode = json_string(params, "mode");
        if (!mode) return mode.error();
        std::string m = mode->value_or("503");
        if (m == "503") {
          down_.store(true, std::memory_order_relaxed);
          return FaultRegistry::Clear([this] { down_.store(false, std::memory_order_relaxed); });
        }
        if (m == "close") {
          close_public();
          return FaultRegistry::Clear([this] {
            if (stopping_.load()) return;
            if (auto reopened = open_public(); !reopened)
              std::fprintf(stderr, "idp: cannot reopen the public port: %s\n",
                           reopened.error().message.c_str());
          });
        }
        return bad_params("idp_down mode must be \"503\" or \"close\", not \"" + m + "\"");
      });
  // Only /jwks.json answers 503.
  faults_.register_type(
      "jwks_down", [this](const boost::json::object&) -> Result<FaultRegistry::Clear> {
        jwks_down_.store(true, std::memory_order_relaxed);
        return FaultRegistry::Clear([this] { jwks_down_.store(false, std::memory_order_relaxed); });
      });
  // {"latency_ms": 250}: added to every public answer.
  faults_.register_type(
      "slow", [this](const boost::json::object& params) -> Result<FaultRegistry::Clear> {
        auto ms = json_number(params, "latency_ms");
        if (!ms) return ms.error();
        if (!ms->has_value()) return bad_params("slow needs latency_ms");
        if (**ms < 0 || **ms > 600000) return bad_params("latency_ms must be 0..600000");
        slow_us_.store(static_cast<int64_t>(**ms * 1000), std::memory_order_relaxed);
        return FaultRegistry::Clear([this] { slow_us_.store(0, std::memory_order_relaxed); });
      });
  // {"status": 500, "probability": 0.5} on the public endpoints.
  faults_.register_type("error_5xx",
                        [this](const boost::json::object& params) -> Result<FaultRegistry::Clear> {
                          auto status = json_int(params, "status");
                          if (!status) return status.error();
                          auto probability = json_number(params, "probability");
                          if (!probability) return probability.error();
                          int64_t s = status->value_or(500);
                          double p = probability->value_or(1.0);
                          if (s < 500 || s > 599) return bad_params("status must be 500..599");
                          if (!(p >= 0 && p <= 1))
                            return bad_params("probability must be between 0 and 1");
                          error_status_.store(static_cast<int>(s), std::memory_order_relaxed);
                          error_probability_.store(p, std::memory_order_relaxed);
                          return FaultRegistry::Clear(
                              [this] { error_probability_.store(0, std::memory_order_relaxed); });
                        });
  // {"mode": "garbage" | "empty" | "truncated"}: /jwks.json answers 200 with a broken body
  // (not JSON / a key set with no keys / the real document cut in half).
  faults_.register_type(
      "jwks_malformed", [this](const boost::json::object& params) -> Result<FaultRegistry::Clear> {
        auto mode = json_string(params, "mode");
        if (!mode) return mode.error();
        std::string m = mode->value_or("garbage");
        int value = m == "garbage" ? 1 : m == "empty" ? 2 : m == "truncated" ? 3 : 0;
        if (value == 0)
          return bad_params(
              "jwks_malformed mode must be \"garbage\", \"empty\" or \"truncated\", not \"" + m +
              "\"");
        jwks_malformed_.store(value, std::memory_order_relaxed);
        return FaultRegistry::Clear(
            [this] { jwks_malformed_.store(0, std::memory_order_relaxed); });
      });
}

}  // namespace gatedrill
