#include "ca-sim/ca_command.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <tuple>

#include "ca-sim/ca_server.hpp"
#include "ca-sim/pki.hpp"
#include "core/util/cli.hpp"
#include "core/util/signals.hpp"
#include "core/util/strings.hpp"

namespace gatedrill {

namespace {

Result<KeyType> key_type_of(const std::string& text) {
  if (text == "p256" || text == "ec") return KeyType::kEcP256;
  if (text == "rsa") return KeyType::kRsa;
  return make_error("usage", "--key-type must be p256 or rsa, got '" + text + "'");
}

Result<std::chrono::seconds> ttl_of(const std::string& flag, const std::string& text) {
  auto d = parse_duration(text);
  if (!d) return make_error("usage", flag + ": " + d.error().message);
  auto s = std::chrono::duration_cast<std::chrono::seconds>(*d);
  if (s.count() <= 0) return make_error("usage", flag + " must be at least 1s");
  return s;
}

Result<void> write_file(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out || ::chmod(path.c_str(), mode) != 0)
    return make_error("write_failed", "cannot write " + path);
  return {};
}

int fail(const Error& e) {
  std::fprintf(stderr, "error: %s\n", e.message.c_str());
  return e.code == "usage" ? 2 : 1;
}

int issue(int argc, char** argv) {
  std::string spiffe_id, out_dir, ttl_text = "1h", key_type_text = "p256";
  ArgParser args("ca issue",
                 "Creates a throwaway CA (root + intermediate) and issues one SPIFFE X.509 SVID,\n"
                 "written to --out as svid.pem, svid.key, chain.pem, bundle.pem and crl.pem.");
  args.option("spiffe-id", &spiffe_id, "the SVID's identity, spiffe://TRUST-DOMAIN/PATH");
  args.option("out", &out_dir, "output folder (created if missing)");
  args.option("ttl", &ttl_text, "SVID lifetime, e.g. 15m, 1h (default 1h)");
  args.option("key-type", &key_type_text, "p256 (default) or rsa");
  std::string state_dir;
  args.option("state", &state_dir,
              "keep the CA here and reuse it on later calls (default: a new CA)");
  if (int code = parse_or_exit_code(args, argc, argv); code >= 0) return code;
  if (spiffe_id.empty() || out_dir.empty())
    return fail(make_error("usage", "--spiffe-id and --out are required"));
  auto key_type = key_type_of(key_type_text);
  if (!key_type) return fail(key_type.error());
  auto ttl = ttl_of("--ttl", ttl_text);
  if (!ttl) return fail(ttl.error());
  const std::string prefix = "spiffe://";
  if (spiffe_id.rfind(prefix, 0) != 0)
    return fail(make_error("usage", "--spiffe-id must start with spiffe://"));
  PkiOptions options;
  options.trust_domain =
      spiffe_id.substr(prefix.size(), spiffe_id.find('/', prefix.size()) - prefix.size());
  options.key_type = *key_type;
  options.state_dir = state_dir;
  if (!state_dir.empty() && ::mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return fail(
        make_error("write_failed", "cannot create " + state_dir + ": " + std::strerror(errno)));
  }

  SystemTimeSource time;
  auto pki = Pki::create(time, options);
  if (!pki) return fail(pki.error());
  auto svid = (*pki)->issue_svid(spiffe_id, *ttl);
  if (!svid) return fail(svid.error());
  auto crl = (*pki)->crl_pem();
  if (!crl) return fail(crl.error());
  if (::mkdir(out_dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return fail(
        make_error("write_failed", "cannot create " + out_dir + ": " + std::strerror(errno)));
  }
  for (const auto& [name, text, mode] :
       {std::tuple<const char*, const std::string*, mode_t>{"svid.pem", &svid->cert_pem, 0644},
        {"svid.key", &svid->key_pem, 0600},
        {"chain.pem", &svid->chain_pem, 0644},
        {"bundle.pem", nullptr, 0644},
        {"crl.pem", &*crl, 0644}}) {
    const std::string body = text ? *text : (*pki)->bundle_pem();
    auto written = write_file(out_dir + "/" + name, body, mode);
    if (!written) return fail(written.error());
  }
  std::printf("{\"spiffe_id\":\"%s\",\"serial\":\"%s\",\"not_after_s\":%lld,\"out\":\"%s\"}\n",
              spiffe_id.c_str(), svid->serial_hex.c_str(),
              static_cast<long long>(svid->not_after_s), out_dir.c_str());
  return 0;
}

int serve(int argc, char** argv) {
  CaServerOptions options;
  std::string key_type_text = "p256", svid_ttl_text = "1h", crl_ttl_text = "1h";
  int64_t admin_port = 0;
  ArgParser args(
      "ca serve",
      "The CA peer: trust bundles and CRLs per node (GET /bundle?node=, GET /crl?node=),\n"
      "SVIDs rotated at half-life (GET /svid?spiffe_id=), issue/revoke on /admin, and the\n"
      "faults roll_intermediate, stop_rotation, expired_crl, bundle_desync.");
  args.option("trust-domain", &options.pki.trust_domain,
              "SPIFFE trust domain (default gatedrill.test)");
  args.option("admin-port", &admin_port, "admin port on 127.0.0.1 (0: any free port)");
  args.option("out", &options.out_dir, "folder where bundle.pem and crl.pem are kept current");
  args.option("state", &options.pki.state_dir,
              "keep the CA's certificates and keys here (default: memory)");
  args.option("key-type", &key_type_text, "p256 (default) or rsa");
  args.option("svid-ttl", &svid_ttl_text, "SVID lifetime (default 1h)");
  args.option("crl-ttl", &crl_ttl_text, "CRL validity, its nextUpdate (default 1h)");
  if (int code = parse_or_exit_code(args, argc, argv); code >= 0) return code;
  auto key_type = key_type_of(key_type_text);
  if (!key_type) return fail(key_type.error());
  auto svid_ttl = ttl_of("--svid-ttl", svid_ttl_text);
  if (!svid_ttl) return fail(svid_ttl.error());
  auto crl_ttl = ttl_of("--crl-ttl", crl_ttl_text);
  if (!crl_ttl) return fail(crl_ttl.error());
  if (admin_port < 0 || admin_port > 65535)
    return fail(make_error("usage", "--admin-port must be 0..65535"));
  options.pki.key_type = *key_type;
  options.pki.crl_ttl = *crl_ttl;
  options.svid_ttl = *svid_ttl;
  options.admin_port = static_cast<uint16_t>(admin_port);

  TerminationSignals signals;
  SystemTimeSource time;
  CaServer server(time, options);
  if (auto started = server.start(); !started) return fail(started.error());
  print_ready_line("ca", 0, server.port());
  signals.wait();
  server.stop();
  return 0;
}

}  // namespace

int ca_command(int argc, char** argv) {
  const std::string sub = argc >= 2 ? argv[1] : "";
  if (sub == "issue") return issue(argc - 1, argv + 1);
  if (sub == "serve") return serve(argc - 1, argv + 1);
  const bool help = sub == "--help" || sub == "-h";
  std::fprintf(
      help ? stdout : stderr,
      "usage: gatedrill ca serve [options]    the CA peer (gatedrill ca serve --help)\n"
      "       gatedrill ca issue --spiffe-id spiffe://td/ns/x/sa/y --out DIR [--ttl 1h]\n");
  return help ? 0 : 2;
}

}  // namespace gatedrill
