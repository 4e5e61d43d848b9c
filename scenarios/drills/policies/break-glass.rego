# The emergency policy of the break-glass drill: the load's identity may GET the orders API
# again. Switched on through the registry's audited break-glass call (actor and reason).
package gatedrill.authz

default allow = false

allow {
	input.subject == "gatedrill-loadgen"
	input.method == "GET"
	input.path[0] == "api"
	input.path[1] == "orders"
}
