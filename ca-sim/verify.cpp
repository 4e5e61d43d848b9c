#include "ca-sim/verify.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <string>

#include "core/crypto/openssl_ptr.hpp"

namespace gatedrill {

namespace {

BioPtr bio_of(std::string_view text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

}  // namespace

Result<void> verify_certificate(std::string_view leaf_pem, std::string_view bundle_pem,
                                std::string_view crl_pem, int64_t now_s) {
  auto leaf_bio = bio_of(leaf_pem);
  X509Ptr leaf(PEM_read_bio_X509(leaf_bio.get(), nullptr, nullptr, nullptr));
  if (!leaf) {
    ERR_clear_error();
    return make_error("bad_pem", "the certificate is not readable PEM");
  }
  X509StorePtr store(X509_STORE_new());
  auto bundle_bio = bio_of(bundle_pem);
  int anchors = 0;
  while (X509* cert = PEM_read_bio_X509(bundle_bio.get(), nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(store.get(), cert);
    X509_free(cert);
    ++anchors;
  }
  ERR_clear_error();  // the loop ends on a "no start line" error
  if (anchors == 0) return make_error("bad_pem", "the trust bundle holds no certificate");
  unsigned long flags = 0;
  if (!crl_pem.empty()) {
    auto crl_bio = bio_of(crl_pem);
    int crls = 0;
    while (X509_CRL* crl = PEM_read_bio_X509_CRL(crl_bio.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_crl(store.get(), crl);
      X509_CRL_free(crl);
      ++crls;
    }
    ERR_clear_error();
    if (crls == 0) return make_error("bad_pem", "the CRL text holds no CRL");
    flags |= X509_V_FLAG_CRL_CHECK;
  }
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), nullptr) != 1) {
    return make_error("untrusted", "cannot set up verification");
  }
  X509_STORE_CTX_set_flags(ctx.get(), flags);
  X509_STORE_CTX_set_time(ctx.get(), 0, static_cast<time_t>(now_s));
  if (X509_verify_cert(ctx.get()) == 1) return {};
  const int err = X509_STORE_CTX_get_error(ctx.get());
  ERR_clear_error();
  const std::string reason = X509_verify_cert_error_string(err);
  switch (err) {
    case X509_V_ERR_CERT_REVOKED:
      return make_error("revoked", reason);
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return make_error("expired", reason);
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return make_error("not_yet_valid", reason);
    case X509_V_ERR_CRL_HAS_EXPIRED:
      return make_error("crl_expired", reason);
    case X509_V_ERR_UNABLE_TO_GET_CRL:
      return make_error("crl_missing", reason);
    default:
      return make_error("untrusted", reason);
  }
}

}  // namespace gatedrill
