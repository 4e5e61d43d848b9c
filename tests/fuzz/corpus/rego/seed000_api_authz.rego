# Seed 000 as printed (typographic quotes made plain): io.jwt.decode, unverified.
package api.authz

default allow = false

allow {
input.method == "GET"
input.path == ["v1", "public"]
}

allow {
token.payload.role == "admin"
}

token = {"payload": payload} {
[header, payload, signature] := io.jwt.decode(input.http_auth_header)
}
