#pragma once
// A small multi-threaded HTTP/1.1 server (Boost.Beast inside the .cpp) for admin APIs, the IdP,
// the CA, the upstream simulator and the registry. The gateway's data plane has its own server.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/http/http_message.hpp"
#include "core/util/result.hpp"

namespace gatedrill {

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct TlsServerConfig {
  std::string cert_chain_file;  // PEM
  std::string key_file;         // PEM
};

struct HttpServerOptions {
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;  // 0: the kernel picks; read it back with HttpServer::port()
  int threads = 1;
  size_t max_body_bytes = 1 << 20;
  std::chrono::seconds idle_timeout{30};
  bool reuse_port = false;
  std::optional<TlsServerConfig> tls;  // HTTPS when set
  // With tls: ask each client for a certificate and verify it against this bundle. A client
  // without one still connects (the handler decides: HttpRequest::peer_certificate_pem is
  // empty); one that fails verification does not.
  std::string tls_client_ca_file;
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();  // stops
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes are matched in registration order: exact path first when `path` has no trailing
  // '*', else prefix ("/admin/faults*" matches "/admin/faults" and "/admin/faults/f1").
  // method "*" matches any method. Unmatched: 404 JSON; path matched but not method: 405.
  // Register before start(). A handler that throws answers 500 and the server stays up.
  void route(std::string method, std::string path, HttpHandler handler);

  // Binds and starts the worker threads. Errors: "bind_failed" (port in use ...), "tls_config".
  Result<void> start();
  void stop();  // idempotent; waits for the threads
  uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gatedrill
