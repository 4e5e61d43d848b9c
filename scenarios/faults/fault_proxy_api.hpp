#pragma once
// The fault proxy's HTTP API, shaped like Toxiproxy's so its users feel at home:
//   GET    /proxies                         {"NAME": {proxy}, ...}
//   POST   /proxies                         {"name","listen","upstream","enabled"} -> 201 {proxy}
//   GET    /proxies/NAME                    {proxy}
//   DELETE /proxies/NAME                    204
//   GET    /proxies/NAME/toxics             [{toxic}, ...]
//   POST   /proxies/NAME/toxics             {"name","type","stream","toxicity","attributes"} ->
//   {toxic} GET    /proxies/NAME/toxics/TOXIC       {toxic} DELETE /proxies/NAME/toxics/TOXIC 204
// Bad bodies and parameters: 400 with a specific message; unknown names 404; duplicates 409.
#include "core/http/http_message.hpp"
#include "core/http/http_server.hpp"
#include "scenarios/faults/fault_proxy.hpp"

namespace gatedrill {

class FaultProxyApi {
 public:
  explicit FaultProxyApi(FaultProxy& proxy) : proxy_(proxy) {}

  // Registers "/proxies*" (and GET /healthz) on the server; call before server.start().
  void install(HttpServer& server);
  // One request of the API (public for tests).
  HttpResponse handle(const HttpRequest& request);

 private:
  FaultProxy& proxy_;
};

}  // namespace gatedrill
