#pragma once

namespace gatedrill {

// `gatedrill ca serve ...`: the CA peer (bundles, CRLs, SVIDs, faults) on its admin port.
// `gatedrill ca issue --spiffe-id spiffe://td/ns/x/sa/y --out DIR`: a fresh CA and one SVID
// written to DIR (svid.pem, svid.key, chain.pem, bundle.pem, crl.pem).
// Exit codes: 0 ok, 1 failure (message on stderr), 2 bad usage.
int ca_command(int argc, char** argv);

}  // namespace gatedrill
