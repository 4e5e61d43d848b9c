#include "core/crypto/x509.hpp"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "core/crypto/openssl_ptr.hpp"

namespace gatedrill {

namespace {

Error bad_request(std::string message) {
  return make_error("bad_cert_request", std::move(message));
}

X509Ptr read_cert(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return nullptr;
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// Names go into an OpenSSL config string ("DNS:a,IP:b"); a comma or control byte in one would
// smuggle in another entry, so refuse them.
bool safe_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (c == ',' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return false;
  }
  return true;
}

Result<void> add_ext(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str()));
  if (!ext)
    return bad_request(std::string("cannot encode extension ") + OBJ_nid2sn(nid) + " = " + value);
  if (X509_add_ext(cert, ext.get(), -1) != 1)
    return bad_request(std::string("cannot add extension ") + OBJ_nid2sn(nid));
  return {};
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  // Howard Hinnant's algorithm: days since 1970-01-01 for a proleptic Gregorian date.
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

int64_t asn1_time_to_unix(const ASN1_TIME* t) {
  struct tm tm {};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return days_from_civil(tm.tm_year + 1900, static_cast<unsigned>(tm.tm_mon + 1),
                         static_cast<unsigned>(tm.tm_mday)) *
             86400 +
         tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

std::string name_to_string(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return {};
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<size_t>(len)) : std::string();
}

Result<void> set_serial(X509* cert, int64_t serial) {
  ASN1_INTEGER* target = X509_get_serialNumber(cert);
  if (serial > 0)
    return ASN1_INTEGER_set_int64(target, serial) == 1 ? Result<void>() : bad_request("bad serial");
  if (serial < 0) return bad_request("serial must be positive (or 0 for a random one)");
  // 159 random bits: positive and within the 20-octet limit of RFC 5280.
  BnPtr bn(BN_new());
  if (!bn || BN_rand(bn.get(), 159, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_is_zero(bn.get()))
    return bad_request("cannot draw a random serial");
  if (!BN_to_ASN1_INTEGER(bn.get(), target)) return bad_request("cannot encode the serial");
  return {};
}

}  // namespace

Result<Certificate> issue_certificate(const CertRequest& request, const Key& subject_key,
                                      std::string_view issuer_cert_pem, const Key& issuer_key) {
  if (!subject_key.valid()) return bad_request("no subject key");
  if (!issuer_key.valid() || !issuer_key.has_private())
    return bad_request("the issuer key must be a private key");
  if (request.not_after_s <= request.not_before_s)
    return bad_request("not_after must be later than not_before");
  if (request.common_name.empty() && request.dns_names.empty() && request.ip_addresses.empty() &&
      request.uris.empty())
    return bad_request("a certificate needs a common name or a subjectAltName");

  X509Ptr issuer;
  if (!issuer_cert_pem.empty()) {
    issuer = read_cert(issuer_cert_pem);
    if (!issuer) return bad_request("the issuer certificate is not readable PEM");
    if (X509_check_private_key(issuer.get(), issuer_key.native()) != 1)
      return bad_request("the issuer key does not match the issuer certificate");
  } else if (EVP_PKEY_eq(subject_key.native(), issuer_key.native()) != 1) {
    return bad_request("a self-signed certificate is signed by its own key");
  }

  X509Ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1)
    return bad_request("cannot allocate a certificate");
  auto serial = set_serial(cert.get(), request.serial);
  if (!serial) return serial.error();
  if (!ASN1_TIME_set(X509_getm_notBefore(cert.get()), static_cast<time_t>(request.not_before_s)) ||
      !ASN1_TIME_set(X509_getm_notAfter(cert.get()), static_cast<time_t>(request.not_after_s))) {
    return bad_request("validity times out of range");
  }
  if (X509_set_pubkey(cert.get(), subject_key.native()) != 1)
    return bad_request("cannot set the public key");

  X509_NAME* subject = X509_get_subject_name(cert.get());
  if (!request.common_name.empty() &&
      X509_NAME_add_entry_by_txt(
          subject, "CN", MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(request.common_name.c_str()),
          static_cast<int>(request.common_name.size()), -1, 0) != 1) {
    return bad_request("cannot encode the common name");
  }
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer.get()) : subject);

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer ? issuer.get() : cert.get(), cert.get(), nullptr, nullptr, 0);

  std::string basic = request.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE";
  if (request.is_ca && request.path_len >= 0)
    basic += ",pathlen:" + std::to_string(request.path_len);
  if (auto r = add_ext(cert.get(), &ctx, NID_basic_constraints, basic); !r) return r.error();

  std::string usage =
      request.is_ca ? "critical,keyCertSign,cRLSign,digitalSignature" : "critical,digitalSignature";
  if (!request.is_ca && subject_key.type() == KeyType::kRsa) usage += ",keyEncipherment";
  if (auto r = add_ext(cert.get(), &ctx, NID_key_usage, usage); !r) return r.error();

  if (!request.is_ca && (request.server_auth || request.client_auth)) {
    std::string eku;
    if (request.server_auth) eku = "serverAuth";
    if (request.client_auth) eku += eku.empty() ? "clientAuth" : ",clientAuth";
    if (auto r = add_ext(cert.get(), &ctx, NID_ext_key_usage, eku); !r) return r.error();
  }

  std::string san;
  auto append = [&](const char* kind, const std::vector<std::string>& names) -> bool {
    for (const auto& name : names) {
      if (!safe_name(name)) return false;
      if (!san.empty()) san += ",";
      san += std::string(kind) + ":" + name;
    }
    return true;
  };
  if (!append("DNS", request.dns_names) || !append("IP", request.ip_addresses) ||
      !append("URI", request.uris))
    return bad_request(
        "subjectAltName entries must be non-empty and contain no commas or control bytes");
  if (!san.empty()) {
    if (auto r = add_ext(cert.get(), &ctx, NID_subject_alt_name, san); !r) return r.error();
  }
  if (auto r = add_ext(cert.get(), &ctx, NID_subject_key_identifier, "hash"); !r) return r.error();
  if (issuer) {
    if (auto r = add_ext(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"); !r)
      return r.error();
  }

  // Ed25519 signs the message itself: no separate digest.
  const EVP_MD* md = issuer_key.type() == KeyType::kEd25519 ? nullptr : EVP_sha256();
  if (X509_sign(cert.get(), issuer_key.native(), md) <= 0)
    return bad_request("signing the certificate failed");

  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert.get()) != 1)
    return bad_request("cannot write PEM");
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return Certificate{std::string(data, static_cast<size_t>(len)), subject_key};
}

Result<CertInfo> inspect_certificate(std::string_view pem) {
  X509Ptr cert = read_cert(pem);
  if (!cert) return make_error("bad_cert", "not a readable PEM certificate");
  CertInfo info;
  info.subject = name_to_string(X509_get_subject_name(cert.get()));
  info.issuer = name_to_string(X509_get_issuer_name(cert.get()));
  info.not_before_s = asn1_time_to_unix(X509_get0_notBefore(cert.get()));
  info.not_after_s = asn1_time_to_unix(X509_get0_notAfter(cert.get()));
  BnPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  if (serial) {
    char* hex = BN_bn2hex(serial.get());
    if (hex) {
      info.serial_hex = hex;
      OPENSSL_free(hex);
    }
  }
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
      if (name->type != GEN_URI) continue;
      const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
      info.uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                             static_cast<size_t>(ASN1_STRING_length(uri)));
    }
  }
  return info;
}

}  // namespace gatedrill
