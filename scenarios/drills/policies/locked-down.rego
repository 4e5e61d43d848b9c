# The normal policy of the break-glass drill: the orders API is closed (an incident froze it).
package gatedrill.authz

default allow = false

allow {
	input.method == "GET"
	input.path[0] == "health"
}
