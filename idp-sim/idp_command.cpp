#include "idp-sim/idp_command.hpp"

#include <openssl/rand.h>

#include <cstdio>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "core/crypto/base64url.hpp"
#include "core/util/cli.hpp"
#include "core/util/signals.hpp"
#include "core/util/strings.hpp"
#include "idp-sim/idp_sim.hpp"

namespace gatedrill {

namespace {
bool valid_redis_url(const std::string& url) {
  const std::string scheme = "redis://";
  if (url.rfind(scheme, 0) != 0) return false;
  auto colon = url.rfind(':');
  if (colon <= scheme.size() || colon + 1 >= url.size() || url.size() - colon > 6) return false;
  for (size_t i = colon + 1; i < url.size(); ++i)
    if (url[i] < '0' || url[i] > '9') return false;
  const int port = std::stoi(url.substr(colon + 1));
  return port > 0 && port <= 65535;
}
}  // namespace

int idp_command(int argc, char** argv) {
  IdpOptions options;
  std::string alg = "RS256", ttl = "300s";
  int64_t port = 0, admin_port = 0, threads = 2;
  ArgParser args(
      "idp",
      "A simulated OIDC identity provider: discovery, JWKS and a client_credentials token\n"
      "endpoint on --port; token minting, key rotation, clock skew and faults (idp_down,\n"
      "jwks_down, slow, error_5xx, jwks_malformed) on --admin-port.");
  args.option("port", &port, "public port on 127.0.0.1 (0: any free port)");
  args.option("admin-port", &admin_port, "admin port (0: any free port)");
  args.option("issuer", &options.issuer, "iss of the tokens (default http://127.0.0.1:PORT)");
  args.option("audience", &options.audience, "aud of the tokens (default gatedrill)");
  args.option("alg", &alg, "signing alg: RS256, PS256, ES256 or EdDSA (default RS256)");
  args.option("client-id", &options.client_id, "the one client (default gatedrill-loadgen)");
  args.option("client-secret", &options.client_secret,
              "its secret (default: generated and printed)");
  args.option("token-ttl", &ttl, "lifetime of issued tokens, e.g. 300s, 5m (default 300s)");
  args.option("keys-dir", &options.keys_dir, "keep the signing key here across restarts");
  args.option("threads", &threads, "server threads (default 2)");
  args.option("redis", &options.redis_url,
              "redis://127.0.0.1:PORT: POST /admin/revoke {\"jti\"} blacklists a token there");
  args.option("tls-cert", &options.tls_cert_file, "serve the public port over HTTPS (PEM chain)");
  args.option("tls-key", &options.tls_key_file, "the key of --tls-cert (PEM)");
  args.option("client-ca", &options.client_ca_file,
              "verify client certificates against this bundle (with --tls-cert)");
  args.repeated("tenant", &options.tenants,
                "NAME: another issuer in this process, {issuer}/NAME, with its own keys, "
                "discovery, JWKS and token endpoint under /NAME/ (repeatable)");
  std::string mtls_client;
  args.option("mtls-client", &mtls_client,
              "ID=URI: a client that authenticates with a certificate (RFC 8705 "
              "tls_client_auth) whose URI SAN is URI, e.g. a SPIFFE ID (needs --client-ca)");
  if (int code = parse_or_exit_code(args, argc, argv); code >= 0) return code;
  if (!mtls_client.empty()) {
    const auto eq = mtls_client.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == mtls_client.size()) {
      std::fprintf(stderr, "error: --mtls-client wants ID=URI, got \"%s\"\n", mtls_client.c_str());
      return 2;
    }
    options.mtls_client_id = mtls_client.substr(0, eq);
    options.mtls_client_uri = mtls_client.substr(eq + 1);
  }

  auto parsed_alg = parse_jws_alg(alg);
  auto ttl_ns = parse_duration(ttl);
  std::string problem;
  if (!parsed_alg)
    problem = "--alg must be RS256, PS256, ES256 or EdDSA, not \"" + alg + "\"";
  else if (!ttl_ns)
    problem = ttl_ns.error().message;
  else if (*ttl_ns < std::chrono::seconds(1))
    problem = "--token-ttl must be at least 1s";
  else if (port < 0 || port > 65535 || admin_port < 0 || admin_port > 65535)
    problem = "ports must be 0..65535";
  else if (threads < 1 || threads > 64)
    problem = "--threads must be 1..64";
  else if (options.client_id.empty())
    problem = "--client-id must not be empty";
  else if (!options.redis_url.empty() && !valid_redis_url(options.redis_url))
    problem = "--redis must be redis://host:port (got \"" + options.redis_url + "\")";
  if (!problem.empty()) {
    std::fprintf(stderr, "error: %s\n", problem.c_str());
    return 2;
  }
  options.alg = *parsed_alg;
  options.token_ttl = std::chrono::duration_cast<std::chrono::seconds>(*ttl_ns);
  options.port = static_cast<uint16_t>(port);
  options.admin_port = static_cast<uint16_t>(admin_port);
  options.threads = static_cast<int>(threads);
  const bool generated_secret = options.client_secret.empty();
  if (generated_secret) {
    unsigned char bytes[24];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
      std::fprintf(stderr, "error: no randomness for the client secret\n");
      return 1;
    }
    options.client_secret =
        base64url_encode(std::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
  }

  TerminationSignals signals;
  SystemTimeSource time;
  IdpSim idp(time, options);
  if (auto started = idp.start(); !started) {
    std::fprintf(stderr, "error: %s\n", started.error().message.c_str());
    return started.error().code == "bad_options" ? 2 : 1;
  }
  boost::json::object ready{{"component", "idp"},
                            {"port", idp.port()},
                            {"admin_port", idp.admin_port()},
                            {"issuer", idp.issuer()},
                            {"jwks_uri", idp.base_url() + "/jwks.json"},
                            {"token_endpoint", idp.base_url() + "/token"},
                            {"client_id", options.client_id},
                            {"kid", idp.key_ring().current().kid}};
  if (generated_secret) ready["client_secret"] = options.client_secret;
  if (!options.tenants.empty()) {
    boost::json::array tenants;
    for (const auto& name : options.tenants)
      tenants.push_back(
          boost::json::object{{"tenant", name},
                              {"issuer", idp.issuer(name)},
                              {"jwks_uri", idp.base_url() + "/" + name + "/jwks.json"},
                              {"token_endpoint", idp.base_url() + "/" + name + "/token"}});
    ready["tenants"] = std::move(tenants);
  }
  std::printf("%s\n", boost::json::serialize(ready).c_str());
  std::fflush(stdout);
  signals.wait();
  idp.stop();
  return 0;
}

}  // namespace gatedrill
