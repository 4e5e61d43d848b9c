#include "ca-sim/pki.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <tuple>

#include "core/crypto/openssl_ptr.hpp"

namespace gatedrill {

namespace {

using std::chrono::seconds;

X509Ptr read_cert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

// A CRL signed by `authority` listing `revoked` serials (hex).
Result<std::string> make_crl(const Certificate& authority, const std::set<std::string>& revoked,
                             int64_t this_update_s, int64_t next_update_s) {
  auto issuer = read_cert(authority.pem);
  if (!issuer) return make_error("crl", "the issuing certificate is not readable");
  X509CrlPtr crl(X509_CRL_new());
  Asn1TimePtr last(ASN1_TIME_set(nullptr, static_cast<time_t>(this_update_s)));
  Asn1TimePtr next(ASN1_TIME_set(nullptr, static_cast<time_t>(next_update_s)));
  if (!crl || !last || !next || X509_CRL_set_version(crl.get(), 1) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer.get())) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), last.get()) != 1 ||
      X509_CRL_set1_nextUpdate(crl.get(), next.get()) != 1) {
    return make_error("crl", "cannot build the CRL");
  }
  for (const auto& serial_hex : revoked) {
    BIGNUM* raw = nullptr;
    if (BN_hex2bn(&raw, serial_hex.c_str()) == 0)
      return make_error("crl", "bad serial " + serial_hex);
    BnPtr bn(raw);
    X509RevokedPtr entry(X509_REVOKED_new());
    ASN1_INTEGER* serial = BN_to_ASN1_INTEGER(bn.get(), nullptr);
    const bool ok = entry && serial && X509_REVOKED_set_serialNumber(entry.get(), serial) == 1 &&
                    X509_REVOKED_set_revocationDate(entry.get(), last.get()) == 1;
    ASN1_INTEGER_free(serial);
    if (!ok || X509_CRL_add0_revoked(crl.get(), entry.get()) != 1) {
      return make_error("crl", "cannot add serial " + serial_hex);
    }
    entry.release();  // owned by the CRL now
  }
  X509_CRL_sort(crl.get());
  if (X509_CRL_sign(crl.get(), authority.key.native(), EVP_sha256()) == 0) {
    return make_error("crl", "cannot sign the CRL");
  }
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_X509_CRL(out.get(), crl.get()) != 1)
    return make_error("crl", "cannot write the CRL");
  char* data = nullptr;
  const long n = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

Result<void> check_spiffe_id(const std::string& id, const std::string& trust_domain) {
  const std::string scheme = "spiffe://";
  if (id.rfind(scheme, 0) != 0)
    return make_error("bad_spiffe_id", "'" + id + "' does not start with spiffe://");
  const auto slash = id.find('/', scheme.size());
  const std::string td = id.substr(
      scheme.size(), slash == std::string::npos ? std::string::npos : slash - scheme.size());
  if (td != trust_domain) {
    return make_error("bad_spiffe_id",
                      "'" + id + "' is not in the trust domain '" + trust_domain + "'");
  }
  if (slash == std::string::npos || slash + 1 >= id.size()) {
    return make_error("bad_spiffe_id", "'" + id + "' has no workload path");
  }
  for (char c : id.substr(slash)) {
    const bool ok =
        std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '-' || c == '_' || c == '.';
    if (!ok)
      return make_error("bad_spiffe_id", "'" + id + "' has a character SPIFFE paths do not allow");
  }
  if (id.find("//", slash) != std::string::npos || id.back() == '/') {
    return make_error("bad_spiffe_id", "'" + id + "' has an empty path segment");
  }
  return {};
}

Result<std::unique_ptr<Pki>> Pki::create(const TimeSource& time, PkiOptions options) {
  if (options.trust_domain.empty() || options.trust_domain.find('/') != std::string::npos) {
    return make_error("bad_options", "the trust domain must be a non-empty name without '/'");
  }
  if (options.key_type == KeyType::kEd25519) {
    return make_error("bad_options", "the CA keys are P-256 or RSA");
  }
  std::unique_ptr<Pki> pki(new Pki(time, std::move(options)));
  if (!pki->options_.state_dir.empty()) {
    auto loaded = pki->load("root", pki->root_.cert);
    if (!loaded) return loaded.error();
    if (*loaded) {
      for (int n = 1;; ++n) {
        Authority a;
        auto more = pki->load("intermediate-" + std::to_string(n), a.cert);
        if (!more) return more.error();
        if (!*more) break;
        auto info = inspect_certificate(a.cert.pem);
        if (!info) return info.error();
        a.serial_hex = info->serial_hex;
        pki->intermediates_.push_back(std::move(a));
      }
      if (pki->intermediates_.empty()) {
        return make_error("bad_state",
                          pki->options_.state_dir + " has a root but no intermediate-1");
      }
      return pki;
    }
  }
  auto key = Key::generate(pki->options_.key_type);
  if (!key) return key.error();
  const int64_t now = time.wall_seconds();
  CertRequest root;
  root.common_name = "gatedrill root CA (" + pki->options_.trust_domain + ")";
  root.is_ca = true;
  root.server_auth = false;
  root.not_before_s = now - 60;
  root.not_after_s = now + pki->options_.root_ttl.count();
  root.uris = {"spiffe://" + pki->options_.trust_domain};
  auto cert = issue_certificate(root, *key, "", *key);
  if (!cert) return cert.error();
  pki->root_.cert = *cert;
  auto intermediate = pki->make_intermediate(1);
  if (!intermediate) return intermediate.error();
  if (auto saved = pki->save("root", pki->root_.cert); !saved) return saved.error();
  if (auto saved = pki->save("intermediate-1", intermediate->cert); !saved) return saved.error();
  pki->intermediates_.push_back(std::move(*intermediate));
  return pki;
}

Result<Pki::Authority> Pki::make_intermediate(int number) {
  auto key = Key::generate(options_.key_type);
  if (!key) return key.error();
  const int64_t now = time_.wall_seconds();
  CertRequest request;
  request.common_name =
      "gatedrill intermediate CA " + std::to_string(number) + " (" + options_.trust_domain + ")";
  request.is_ca = true;
  request.path_len = 0;
  request.server_auth = false;
  request.not_before_s = now - 60;
  request.not_after_s =
      std::min(now + options_.intermediate_ttl.count(), now + options_.root_ttl.count());
  auto cert = issue_certificate(request, *key, root_.cert.pem, root_.cert.key);
  if (!cert) return cert.error();
  auto info = inspect_certificate(cert->pem);
  if (!info) return info.error();
  return Authority{*cert, info->serial_hex, {}};
}

Result<void> Pki::save(const std::string& name, const Certificate& cert) const {
  if (options_.state_dir.empty()) return {};
  const std::string base = options_.state_dir + "/" + name;
  for (const auto& [path, text, mode] :
       {std::tuple<std::string, std::string, mode_t>{base + ".pem", cert.pem, 0644},
        {base + ".key", cert.key.private_pem(), 0600}}) {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    out.close();
    if (!out || ::chmod(path.c_str(), mode) != 0)
      return make_error("write_failed", "cannot write " + path);
  }
  return {};
}

Result<bool> Pki::load(const std::string& name, Certificate& cert) const {
  const std::string base = options_.state_dir + "/" + name;
  std::ifstream pem_in(base + ".pem"), key_in(base + ".key");
  if (!pem_in) return false;
  if (!key_in) return make_error("bad_state", base + ".pem has no " + name + ".key beside it");
  cert.pem.assign(std::istreambuf_iterator<char>(pem_in), {});
  const std::string key_pem(std::istreambuf_iterator<char>(key_in), {});
  auto key = Key::from_pem(key_pem);
  if (!key || !key->has_private())
    return make_error("bad_state", base + ".key is not a private key");
  cert.key = *key;
  auto info = inspect_certificate(cert.pem);
  if (!info) return make_error("bad_state", base + ".pem is not a certificate");
  return true;
}

Result<IssuedCert> Pki::issue(CertRequest request, std::chrono::seconds ttl) {
  if (ttl.count() <= 0) return make_error("bad_ttl", "a certificate needs a positive ttl");
  auto key = Key::generate(options_.key_type);
  if (!key) return key.error();
  std::lock_guard<std::mutex> lock(mutex_);
  const Authority& issuer = intermediates_.back();
  const int64_t now = time_.wall_seconds();
  request.not_before_s = now;
  request.not_after_s = now + ttl.count();
  auto cert = issue_certificate(request, *key, issuer.cert.pem, issuer.cert.key);
  if (!cert) return cert.error();
  auto info = inspect_certificate(cert->pem);
  if (!info) return info.error();
  issued_[info->serial_hex] = intermediates_.size() - 1;
  IssuedCert out;
  out.cert_pem = cert->pem;
  out.key_pem = key->private_pem();
  out.chain_pem = cert->pem + issuer.cert.pem;
  out.serial_hex = info->serial_hex;
  out.not_before_s = request.not_before_s;
  out.not_after_s = request.not_after_s;
  return out;
}

Result<IssuedCert> Pki::issue_svid(const std::string& spiffe_id, std::chrono::seconds ttl,
                                   const std::vector<std::string>& ip_addresses) {
  auto ok = check_spiffe_id(spiffe_id, options_.trust_domain);
  if (!ok) return ok.error();
  CertRequest request;
  request.uris = {spiffe_id};
  request.ip_addresses = ip_addresses;
  request.server_auth = true;
  request.client_auth = true;
  auto issued = issue(request, ttl);
  if (issued) issued->spiffe_id = spiffe_id;
  return issued;
}

Result<IssuedCert> Pki::issue_server(const std::vector<std::string>& dns_names,
                                     const std::vector<std::string>& ip_addresses,
                                     std::chrono::seconds ttl) {
  if (dns_names.empty() && ip_addresses.empty()) {
    return make_error("bad_request", "a server certificate needs a DNS name or an IP address");
  }
  CertRequest request;
  request.common_name = dns_names.empty() ? ip_addresses.front() : dns_names.front();
  request.dns_names = dns_names;
  request.ip_addresses = ip_addresses;
  request.server_auth = true;
  return issue(request, ttl);
}

Result<void> Pki::revoke(const std::string& serial_hex) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = issued_.find(serial_hex);
  if (it == issued_.end())
    return make_error("unknown_serial",
                      "no certificate with serial " + serial_hex + " was issued here");
  intermediates_[it->second].revoked.insert(serial_hex);
  return {};
}

bool Pki::revoked(const std::string& serial_hex) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = issued_.find(serial_hex);
  return it != issued_.end() && intermediates_[it->second].revoked.count(serial_hex) != 0;
}

Result<void> Pki::roll_intermediate() {
  int number = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    number = static_cast<int>(intermediates_.size()) + 1;
  }
  auto next = make_intermediate(number);
  if (!next) return next.error();
  auto saved = save("intermediate-" + std::to_string(number), next->cert);
  if (!saved) return saved;
  std::lock_guard<std::mutex> lock(mutex_);
  intermediates_.push_back(std::move(*next));
  return {};
}

void Pki::set_expired_crl(bool expired) {
  std::lock_guard<std::mutex> lock(mutex_);
  expired_crl_ = expired;
}

std::string Pki::bundle_pem() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::string pem = root_.cert.pem;
  const int64_t now = time_.wall_seconds();
  for (const auto& i : intermediates_) {
    auto info = inspect_certificate(i.cert.pem);
    if (info && info->not_after_s > now) pem += i.cert.pem;
  }
  return pem;
}

std::string Pki::root_pem() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return root_.cert.pem;
}

Result<std::string> Pki::crl_pem() const {
  std::lock_guard<std::mutex> lock(mutex_);
  const int64_t now = time_.wall_seconds();
  const int64_t ttl = options_.crl_ttl.count();
  // Expired: issued two periods ago, due one period ago, as a CA that stopped publishing.
  const int64_t this_update = expired_crl_ ? now - 2 * ttl : now;
  const int64_t next_update = expired_crl_ ? now - ttl : now + ttl;
  std::string pem;
  for (const auto& i : intermediates_) {
    auto crl = make_crl(i.cert, i.revoked, this_update, next_update);
    if (!crl) return crl.error();
    pem += *crl;
  }
  return pem;
}

int Pki::generation() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int>(intermediates_.size());
}

}  // namespace gatedrill
