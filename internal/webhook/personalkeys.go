package webhook

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// Personal keys (docs/apikeys.md): an APIKey whose spec.owner names a member
// of the organization. Its owner must hold a role where the key lives, through
// a Membership naming them directly; its permissions stay within the owner's
// role as well as the requester's; workspaces allow them only when their
// spec.apiKeys.personalKeys is Enabled; members create and change only their
// own. The operator disables the key when the owner leaves
// (controllers/personalkeys.go).

var ownerPath = field.NewPath("spec", "owner")

// OwnerChecks are what PersonalKeyRule needs beyond the objects.
type OwnerChecks struct {
	// Owner is the role the key's owner holds where the key lives
	// (tenancy.OwnerRole); invalid when none.
	Owner authz.Key
	// PersonalKeys is true when the key's workspace allows personal keys.
	PersonalKeys bool
	// Gate is the workspace's integration gate, for the owner's ceiling.
	Gate authz.Gate
}

// owns reports whether the requester is the owner of key; an absent key (no
// old object on create, no new one on delete) does not stand in the way.
func (a Attempt) owns(key *accessv1alpha1.APIKey) bool {
	if key == nil {
		return true
	}
	o := key.Spec.Owner
	if o == nil {
		return false
	}
	switch o.Kind {
	case accessv1alpha1.SubjectUser:
		return o.Name == a.Who.Name
	case accessv1alpha1.SubjectServiceAccount:
		ns, name, ok := serviceAccountOf(a.Who.Name)
		return ok && ns == o.Namespace && name == o.Name
	}
	return false
}

// keyTable is the table check of APIKeyRule: the API Keys row or, for a key
// the requester owns (before and after), the Personal API keys row. A member
// who may manage only their own keys is told so.
func (a Attempt) keyTable(old, updated *accessv1alpha1.APIKey, action authz.Action, rule string) field.ErrorList {
	errs := a.requireTable(field.NewPath("spec"), authz.APIKeys, action, nil, rule)
	if errs == nil || !authz.Allowed(a.actor(), authz.PersonalAPIKeys, action, nil) {
		return errs
	}
	if a.owns(old) && a.owns(updated) {
		return nil
	}
	return field.ErrorList{a.forbid(ownerPath, fmt.Sprintf(
		"a member creates, changes and deletes only their own personal keys (spec.owner naming them: kind User, name %s), "+
			"in workspaces whose spec.apiKeys.personalKeys is Enabled; %s", a.Who.Name, rule),
		neededRole(authz.APIKeys, action, a.Where.Scope(), nil))}
}

// PersonalKeyRule decides what a key's owner asks of a create or update.
// For everyone, platform identities included: a personal key is a workspace
// key (an admin key has no owner), and it
// is Enabled only while its owner holds a role where it lives, so that
// nothing (a GitOps tool re-applying state: Enabled, say) revives the key of
// someone who left. For tenants besides: the workspace allows personal keys,
// the owner is a member there even for a disabled key, and the key stays
// within the owner's ceiling. Changes that only reduce access
// (OnlyReducesAccess) and deletions are always let through.
func PersonalKeyRule(a Attempt, old, updated *accessv1alpha1.APIKey, c OwnerChecks) field.ErrorList {
	if updated == nil || updated.Spec.Owner == nil || a.Where.Scope() == "" || OnlyReducesAccess(old, updated) {
		return nil
	}
	owner := *updated.Spec.Owner
	if a.Where.Scope() == authz.ScopeOrganization {
		return field.ErrorList{field.Invalid(ownerPath, tenancy.SubjectKey(owner),
			"an admin key (in the organization namespace) has no owner: a personal key is a workspace key, in a workspace whose spec.apiKeys.personalKeys is Enabled")}
	}
	var errs field.ErrorList
	if !c.Owner.Valid() && (!a.Who.Platform || updated.Spec.State != accessv1alpha1.KeyDisabled) {
		errs = append(errs, a.forbid(ownerPath, fmt.Sprintf(
			"its owner %s holds no role in %s through a Membership naming them: a personal key's owner is a member where the key lives "+
				"(a Membership of kind %s in the organization namespace or in this workspace's), and the key verifies only while they are; "+
				"a role held through a group does not count, for who belongs to a group is known only at a request",
			tenancy.SubjectKey(owner), a.Where, owner.Kind), authz.Key{}))
	}
	if a.Who.Platform {
		return errs
	}
	if !c.PersonalKeys {
		errs = append(errs, a.forbid(ownerPath, fmt.Sprintf(
			"personal keys are off in workspace %s: its spec.apiKeys.personalKeys is Disabled (the default); organization owners and admins turn them on", a.Where.Workspace), authz.Key{}))
	}
	if c.Owner.Valid() {
		errs = append(errs, a.ceilingOf(c.Owner, owner.Name+"'s role ("+c.Owner.String()+")", field.NewPath("spec", "permissions"),
			updated.Spec.Permissions, c.Gate, ownerCeiling, "requested")...)
	}
	return errs
}

// ownerCeiling is the owner's ceiling rule, for messages.
const ownerCeiling = "a personal key's permissions never exceed its owner's role"

// ownerChecks gathers OwnerChecks for a key with an owner in t.
func (v *Validator) ownerChecks(owner accessv1alpha1.Subject, t Tenancy, gate authz.Gate) (OwnerChecks, error) {
	c := OwnerChecks{Gate: gate}
	if t.Scope() == "" {
		return c, nil
	}
	items, err := v.Resolver.Memberships.ByIndex(SubjectIndex, tenancy.SubjectKey(owner))
	if err != nil {
		return c, fmt.Errorf("reading the memberships of %s: %w", tenancy.SubjectKey(owner), err)
	}
	ms := make([]*accessv1alpha1.Membership, 0, len(items))
	for _, it := range items {
		if m, ok := it.(*accessv1alpha1.Membership); ok {
			ms = append(ms, m)
		}
	}
	c.Owner = tenancy.OwnerRole(owner, t.OrgNamespace, t.WorkspaceNamespace, ms)
	if t.Workspace != "" {
		ws, err := get[accessv1alpha1.Workspace](v.Resolver.Workspaces, t.OrgNamespace+"/"+t.Workspace)
		if err != nil {
			return c, fmt.Errorf("resolving workspace %s: %w", t.Workspace, err)
		}
		c.PersonalKeys = ws != nil && tenancy.PersonalKeysEnabled(ws)
	}
	return c, nil
}
