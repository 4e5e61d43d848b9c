# The drills' baseline RBAC policy: each token subject has a role, readers may GET the orders
# API. The gateway asks data.gatedrill.authz.allow with input.subject (the token's sub),
# input.method and input.path (segments).
package gatedrill.authz

default allow = false

roles := {
	"gatedrill-loadgen": "reader",
	"bob": "reader",
}

allow {
	roles[input.subject] == "reader"
	input.method == "GET"
	input.path[0] == "api"
	input.path[1] == "orders"
}
