#include "loadgen/client_identity.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <mutex>

namespace gatedrill {

namespace {

// Which version of a file was read: a rewrite by rename is a new inode and a new mtime.
struct FileStamp {
  ino_t inode = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
FileStamp stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {st.st_ino, static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

struct ClientIdentity {
  std::string cert_file, key_file;
  std::mutex mutex;  // the loop threads of one generator share the context
  FileStamp cert_stamp, key_stamp;
  X509* leaf = nullptr;
  STACK_OF(X509) * chain = nullptr;  // what follows the leaf in the file
  EVP_PKEY* key = nullptr;

  ~ClientIdentity() { reset(nullptr, nullptr, nullptr); }
  void reset(X509* l, STACK_OF(X509) * c, EVP_PKEY* k) {
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    leaf = l;
    chain = c;
    key = k;
  }

  // Reads both files when either changed; true when a matching pair is held.
  bool refresh() {
    FileStamp cert_now = stamp_of(cert_file), key_now = stamp_of(key_file);
    if (leaf && cert_now == cert_stamp && key_now == key_stamp) return true;
    X509* l = nullptr;
    STACK_OF(X509)* c = sk_X509_new_null();
    EVP_PKEY* k = nullptr;
    if (FILE* f = std::fopen(cert_file.c_str(), "r")) {
      l = PEM_read_X509(f, nullptr, nullptr, nullptr);
      while (X509* next = PEM_read_X509(f, nullptr, nullptr, nullptr)) sk_X509_push(c, next);
      std::fclose(f);
    }
    if (FILE* f = std::fopen(key_file.c_str(), "r")) {
      k = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
      std::fclose(f);
    }
    ERR_clear_error();  // the chain loop ends on a "no start line" error
    if (!l || !k || X509_check_private_key(l, k) != 1) {
      // Half-rewritten (the key is new, the certificate not yet): keep what we had and look
      // again at the next handshake.
      ERR_clear_error();
      X509_free(l);
      sk_X509_pop_free(c, X509_free);
      EVP_PKEY_free(k);
      return leaf != nullptr;
    }
    reset(l, c, k);
    cert_stamp = cert_now;
    key_stamp = key_now;
    return true;
  }
};

int ex_index() {
  static const int index = SSL_CTX_get_ex_new_index(
      0, nullptr, nullptr, nullptr, [](void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
        delete static_cast<ClientIdentity*>(ptr);
      });
  return index;
}

// Called when the server asks for a certificate: present the current pair.
int present(SSL* ssl, void* arg) {
  auto* identity = static_cast<ClientIdentity*>(arg);
  std::lock_guard lock(identity->mutex);
  if (!identity->refresh()) return 1;  // the context's certificate stays
  if (SSL_use_certificate(ssl, identity->leaf) != 1 ||
      SSL_use_PrivateKey(ssl, identity->key) != 1 || SSL_set1_chain(ssl, identity->chain) != 1) {
    ERR_clear_error();
    return 0;
  }
  return 1;
}

}  // namespace

Result<void> follow_client_identity(SSL_CTX* ctx, const std::string& cert_file,
                                    const std::string& key_file) {
  auto identity = std::make_unique<ClientIdentity>();
  identity->cert_file = cert_file;
  identity->key_file = key_file;
  if (!identity->refresh())
    return make_error("bad_options", "cannot load a matching client certificate and key from '" +
                                         cert_file + "' and '" + key_file + "'");
  if (SSL_CTX_set_ex_data(ctx, ex_index(), identity.get()) != 1)
    return make_error("bad_options", "cannot attach the client certificate to the TLS context");
  SSL_CTX_set_cert_cb(ctx, present, identity.release());
  return {};
}

}  // namespace gatedrill
