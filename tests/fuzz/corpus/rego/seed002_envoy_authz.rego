# Seed 002 as printed (typographic quotes made plain): Envoy ext_authz input shape.
package api.authz

default allow = false

allow {
input.attributes.request.http.method == "GET"
input.attributes.request.http.path == "/v1/data"
token.payload.role == "analyst"
}

token = {"payload": payload} {
[_, payload, _] := io.jwt.decode(input.attributes.request.http.headers.authorization)
}
