#pragma once
// Owning pointers for OpenSSL objects, one alias per type, so no file defines its own deleter.
// Only the free function named by a pointer a file actually uses is linked: SslCtxPtr needs
// libssl, the others libcrypto.
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace gatedrill {

// Calls the OpenSSL free function F on destruction (a null pointer is never passed).
template <auto F>
struct OpensslFree {
  template <class T>
  void operator()(T* p) const {
    F(p);
  }
};

template <class T, auto F>
using OpensslPtr = std::unique_ptr<T, OpensslFree<F>>;

using Asn1IntegerPtr = OpensslPtr<ASN1_INTEGER, ASN1_INTEGER_free>;
using Asn1TimePtr = OpensslPtr<ASN1_TIME, ASN1_TIME_free>;
using BioPtr = OpensslPtr<BIO, BIO_free>;
using BnCtxPtr = OpensslPtr<BN_CTX, BN_CTX_free>;
using BnMontCtxPtr = OpensslPtr<BN_MONT_CTX, BN_MONT_CTX_free>;
using BnPtr = OpensslPtr<BIGNUM, BN_free>;
using EcdsaSigPtr = OpensslPtr<ECDSA_SIG, ECDSA_SIG_free>;
using EvpMdCtxPtr = OpensslPtr<EVP_MD_CTX, EVP_MD_CTX_free>;
using EvpMdPtr = OpensslPtr<EVP_MD, EVP_MD_free>;
using EvpPkeyCtxPtr = OpensslPtr<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using EvpPkeyPtr = OpensslPtr<EVP_PKEY, EVP_PKEY_free>;
using GeneralNamesPtr = OpensslPtr<GENERAL_NAMES, GENERAL_NAMES_free>;
using OsslParamBldPtr = OpensslPtr<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using OsslParamPtr = OpensslPtr<OSSL_PARAM, OSSL_PARAM_free>;
using SslCtxPtr = OpensslPtr<SSL_CTX, SSL_CTX_free>;
using X509CrlPtr = OpensslPtr<X509_CRL, X509_CRL_free>;
using X509ExtensionPtr = OpensslPtr<X509_EXTENSION, X509_EXTENSION_free>;
using X509Ptr = OpensslPtr<X509, X509_free>;
using X509RevokedPtr = OpensslPtr<X509_REVOKED, X509_REVOKED_free>;
using X509StoreCtxPtr = OpensslPtr<X509_STORE_CTX, X509_STORE_CTX_free>;
using X509StorePtr = OpensslPtr<X509_STORE, X509_STORE_free>;

}  // namespace gatedrill
