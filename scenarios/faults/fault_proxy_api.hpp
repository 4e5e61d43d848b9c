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
#include "core/admin/admin_server.hpp"
#include "core/admin/faults.hpp"
#include "core/admin/metrics.hpp"
#include "core/http/http_message.hpp"
#include "scenarios/faults/fault_proxy.hpp"

namespace gatedrill {

class FaultProxyApi {
 public:
  explicit FaultProxyApi(FaultProxy& proxy) : proxy_(proxy) {}

  // Registers "/proxies*" on the admin server (which brings /healthz, /metrics, /admin/faults
  // and /admin/clock); call before admin.start().
  void install(AdminServer& admin);
  // The same toxics through the admin API every component has, for the runner's fault
  // executor: POST /admin/faults {"type":"toxic","params":{"proxy":"redis","type":"latency",
  // "stream":"downstream","toxicity":1.0,"attributes":{...}}}; DELETE removes the toxic.
  void register_faults(FaultRegistry& faults);
  // gatedrill_fault_proxy_connections_total{proxy="..."} and _toxics{proxy="..."}.
  void add_metrics(MetricsRegistry& metrics);
  // One request of the API (public for tests).
  HttpResponse handle(const HttpRequest& request);

 private:
  FaultProxy& proxy_;
};

}  // namespace gatedrill
