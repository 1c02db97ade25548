package tenancy

import (
	"github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
)

// SubjectKey is the index key of a Membership subject (and of a personal
// key's owner): Kind:name, with namespace/name for a service account.
func SubjectKey(s v1alpha1.Subject) string {
	if s.Kind == v1alpha1.SubjectServiceAccount {
		return string(s.Kind) + ":" + s.Namespace + "/" + s.Name
	}
	return string(s.Kind) + ":" + s.Name
}

// PersonalKeysEnabled reports whether a Workspace allows personal keys (its
// spec.apiKeys.personalKeys is Enabled; the default is Disabled).
func PersonalKeysEnabled(w *v1alpha1.Workspace) bool {
	return w.Spec.APIKeys != nil && w.Spec.APIKeys.PersonalKeys == v1alpha1.ToggleEnabled
}

// OwnerRole is the role the owner of a personal key holds where the key
// lives, from the Memberships that name the owner directly (memberships may
// hold others; they are skipped): an org role from orgNS, and, for a key in
// the workspace namespace wsNS (empty for the org namespace), a workspace
// role from wsNS, the higher of the two acting. A Membership being deleted
// grants nothing: the owner is leaving. Memberships naming a group the owner
// may belong to are not counted: who belongs to a group is known only from
// the authenticator, at a request, never afterwards. Invalid when the owner
// holds no role there.
func OwnerRole(owner v1alpha1.Subject, orgNS, wsNS string, memberships []*v1alpha1.Membership) authz.Key {
	var out authz.Key
	for _, m := range memberships {
		if m.Spec.Subject != owner || !m.DeletionTimestamp.IsZero() {
			continue
		}
		var k authz.Key
		switch m.Namespace {
		case orgNS:
			k = authz.Key{Scope: authz.ScopeOrganization, Role: m.Spec.Role}
		case wsNS:
			if wsNS == "" {
				continue
			}
			k = authz.Key{Scope: authz.ScopeWorkspace, Role: m.Spec.Role}
		}
		if k.Valid() && k.Rank() > out.Rank() {
			out = k
		}
	}
	return out
}
