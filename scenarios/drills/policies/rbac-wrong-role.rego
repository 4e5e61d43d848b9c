# A policy update with a mistake (rbac-mismatch drill): bob's role is mistyped, so bob no longer
# matches the reader rule and is denied (403 policy_denied); everyone else is unaffected.
package gatedrill.authz

default allow = false

roles := {
	"gatedrill-loadgen": "reader",
	"bob": "raeder",
}

allow {
	roles[input.subject] == "reader"
	input.method == "GET"
	input.path[0] == "api"
	input.path[1] == "orders"
}
