# Revision N+1 in the registry-desync drill: the orders API is closed to everyone. A node that
# has it answers 403; a node the registry still serves revision N keeps allowing.
package gatedrill.authz

default allow = false
