// Package authz holds the permission matrix of tenantward as one table and
// everything derived from it: which actions a role may take on a feature, the
// Kubernetes verbs those actions need, the rank used for "no role above your
// own", the ceiling on API-key permissions and the RBAC rules of the generated
// ClusterRoles. It does no I/O.
package authz

import (
	"fmt"

	"github.com/tenantward/tenantward/api/v1alpha1"
)

// Scope is where a Membership's role applies.
type Scope string

// Scopes.
const (
	// ScopeOrganization is an org role: bound in the org namespace and in every
	// workspace namespace of the organization.
	ScopeOrganization Scope = "organization"
	// ScopeWorkspace is a workspace role: bound in one workspace namespace.
	ScopeWorkspace Scope = "workspace"
)

// Key is a role in a scope: one column of the permission table.
type Key struct {
	Scope Scope
	Role  v1alpha1.Role
}

// The six columns of the permission table.
var (
	OrgOwner  = Key{ScopeOrganization, v1alpha1.RoleOwner}
	OrgAdmin  = Key{ScopeOrganization, v1alpha1.RoleAdmin}
	OrgMember = Key{ScopeOrganization, v1alpha1.RoleMember}
	WSAdmin   = Key{ScopeWorkspace, v1alpha1.RoleAdmin}
	WSManager = Key{ScopeWorkspace, v1alpha1.RoleManager}
	WSMember  = Key{ScopeWorkspace, v1alpha1.RoleMember}
)

// Keys lists every valid role in every scope, highest rank first.
var Keys = []Key{OrgOwner, OrgAdmin, WSAdmin, WSManager, OrgMember, WSMember}

// KeyFor returns the column for a role in a scope, or an error naming the roles
// the scope allows (a manager in an org namespace, an owner in a workspace).
func KeyFor(scope Scope, role v1alpha1.Role) (Key, error) {
	k := Key{scope, role}
	if k.Valid() {
		return k, nil
	}
	switch scope {
	case ScopeOrganization:
		return k, fmt.Errorf("role %q is not an organization role: use owner, admin or member", role)
	case ScopeWorkspace:
		return k, fmt.Errorf("role %q is not a workspace role: use admin, manager or member", role)
	}
	return k, fmt.Errorf("unknown scope %q", scope)
}

// Valid reports whether k is one of the six columns.
func (k Key) Valid() bool {
	return k.Rank() > 0
}

// String renders a key as "organization owner" or "workspace manager".
func (k Key) String() string {
	return string(k.Scope) + " " + string(k.Role)
}

// Rank orders roles for "nobody can grant a role above their own":
//
//	organization owner (6) > organization admin (5) > workspace admin (4) >
//	workspace manager (3) > organization member (2) = workspace member (2)
//
// Org owners and admins outrank every workspace role because their rights
// cover every workspace. An organization member ranks with a workspace member:
// both get the Member column, and neither outranks a workspace manager or admin.
// Invalid keys rank 0.
func (k Key) Rank() int {
	switch k {
	case OrgOwner:
		return 6
	case OrgAdmin:
		return 5
	case WSAdmin:
		return 4
	case WSManager:
		return 3
	case OrgMember, WSMember:
		return 2
	}
	return 0
}

// AtLeast reports whether k ranks at least as high as other: whether a holder of
// k may grant other.
func (k Key) AtLeast(other Key) bool {
	return k.Valid() && k.Rank() >= other.Rank()
}
