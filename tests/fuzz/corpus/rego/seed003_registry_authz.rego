# Seed 003 as printed (typographic quotes made plain): decode result destructured wrongly.
package api.security.authz

default allow = false

allow {
input.protocol == "https"
input.headers["X-Internal-Dept"] == "Engineering"
valid_token
}

valid_token {
[valid, header, payload] := io.jwt.decode(input.token)
valid
payload.exp > time.now_ns()
}
