#include "gateway/server/spiffe_identity.hpp"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <vector>

#include "core/util/strings.hpp"

namespace gatedrill::gateway {

Result<void> check_spiffe_id(std::string_view uri, std::string_view trust_domain) {
  constexpr std::string_view kScheme = "spiffe://";
  if (uri.substr(0, kScheme.size()) != kScheme)
    return make_error("bad_spiffe_id", "URI SAN is not a spiffe:// ID");
  std::string_view rest = uri.substr(kScheme.size());
  auto slash = rest.find('/');
  std::string_view domain = rest.substr(0, slash);
  if (domain.empty()) return make_error("bad_spiffe_id", "SPIFFE ID without a trust domain");
  for (char c : domain)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
      return make_error("bad_spiffe_id", "SPIFFE trust domain has invalid characters");
  if (slash == std::string_view::npos || slash + 1 >= rest.size())
    return make_error("bad_spiffe_id", "SPIFFE ID without a workload path");
  if (rest.find_first_of("?#") != std::string_view::npos)
    return make_error("bad_spiffe_id", "SPIFFE ID with a query or fragment");
  if (!trust_domain.empty() && domain != trust_domain)
    return make_error("wrong_trust_domain", "SPIFFE ID from trust domain " + std::string(domain));
  return {};
}

Result<std::string> spiffe_id_of(X509* cert, std::string_view trust_domain) {
  if (!cert) return make_error("no_spiffe_id", "no peer certificate");
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  std::unique_ptr<GENERAL_NAMES, void (*)(GENERAL_NAMES*)> guard(names, GENERAL_NAMES_free);
  std::vector<std::string> uris;
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                      static_cast<size_t>(ASN1_STRING_length(uri)));
  }
  if (uris.empty()) return make_error("no_spiffe_id", "the client certificate has no URI SAN");
  if (uris.size() > 1)
    return make_error("several_uri_sans", "the client certificate has more than one URI SAN");
  if (auto ok = check_spiffe_id(uris[0], trust_domain); !ok) return ok.error();
  return uris[0];
}

}  // namespace gatedrill::gateway
