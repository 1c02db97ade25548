package webhook

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/validation/field"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
	"github.com/tenantward/tenantward/internal/keypolicy"
)

// The key-policy rules keep rate limits and models within their ceilings
// (internal/keypolicy): a key's own within its workspace's and organization's
// maxRateLimits and allowedModels, a workspace's policy within its own and
// the organization's ceilings, an organization's defaults within its own.
// They hold for everyone, platform identities included: no role may exceed
// a ceiling, only raise it (spec.apiKeys of a Workspace or Organization,
// which the permission table's Workspaces and Organisation rows give to
// organization owners and admins). They are checked when the object is
// created or its limits or models change, so that a ceiling lowered later
// (which clamps the keys' effective values, controllers/apikey_policy.go)
// does not block unrelated changes such as disabling a key.

// keyCeilings returns the ceilings over a key or a workspace in t: the
// workspace's (none for an org namespace) and the organization's, read from
// the cache.
func (r *Resolver) keyCeilings(t Tenancy) (ws, org keypolicy.Ceiling, err error) {
	o, err := get[accessv1alpha1.Organization](r.Organizations, t.Organization)
	if err != nil || o == nil {
		return ws, org, err
	}
	org = organizationCeiling(o)
	if t.Workspace == "" {
		return ws, org, nil
	}
	w, err := get[accessv1alpha1.Workspace](r.Workspaces, t.OrgNamespace+"/"+t.Workspace)
	if err != nil || w == nil {
		return ws, org, err
	}
	return workspaceCeiling(w), org, nil
}

func organizationCeiling(o *accessv1alpha1.Organization) keypolicy.Ceiling {
	return keypolicy.Ceiling{Name: fmt.Sprintf("the organization %s's", o.Name), Policy: o.Spec.APIKeys}
}

func workspaceCeiling(w *accessv1alpha1.Workspace) keypolicy.Ceiling {
	c := keypolicy.Ceiling{Name: fmt.Sprintf("the workspace %s's", w.Name)}
	if w.Spec.APIKeys != nil {
		c.Policy = &w.Spec.APIKeys.KeyPolicy
	}
	return c
}

// APIKeyPolicyRule refuses a key whose own rateLimits or models go beyond its
// workspace's or organization's ceilings, on creation and when they change.
func APIKeyPolicyRule(a Attempt, old, updated *accessv1alpha1.APIKey, ws, org keypolicy.Ceiling) field.ErrorList {
	if updated == nil || (old != nil && equality.Semantic.DeepEqual(old.Spec.RateLimits, updated.Spec.RateLimits) &&
		equality.Semantic.DeepEqual(old.Spec.Models, updated.Spec.Models)) {
		return nil
	}
	return a.problems(keypolicy.CheckKey(field.NewPath("spec"), &updated.Spec, ws, org))
}

// WorkspacePolicyRule refuses a Workspace whose spec.apiKeys goes beyond
// itself or the organization's ceilings, on creation and when it changes.
func WorkspacePolicyRule(a Attempt, old, updated *accessv1alpha1.Workspace, org keypolicy.Ceiling) field.ErrorList {
	if updated == nil || updated.Spec.APIKeys == nil || (old != nil && equality.Semantic.DeepEqual(old.Spec.APIKeys, updated.Spec.APIKeys)) {
		return nil
	}
	return a.problems(keypolicy.CheckPolicy(field.NewPath("spec", "apiKeys"), workspaceCeiling(updated), org))
}

// OrganizationPolicyRule refuses an Organization whose spec.apiKeys defaults
// go beyond its own ceilings, on creation and when it changes. Lowering a
// ceiling below what workspaces or keys set is allowed: it clamps them.
func OrganizationPolicyRule(a Attempt, old, updated *accessv1alpha1.Organization) field.ErrorList {
	if updated == nil || updated.Spec.APIKeys == nil || (old != nil && equality.Semantic.DeepEqual(old.Spec.APIKeys, updated.Spec.APIKeys)) {
		return nil
	}
	return a.problems(keypolicy.CheckPolicy(field.NewPath("spec", "apiKeys"), organizationCeiling(updated)))
}

// problems turns ceiling problems into denials that name the requester.
func (a Attempt) problems(ps []keypolicy.Problem) field.ErrorList {
	var errs field.ErrorList
	for _, p := range ps {
		errs = append(errs, a.forbid(p.Path, p.Rule+"; an organization owner or admin raises ceilings (spec.apiKeys of the Workspace or Organization)", authz.Key{}))
	}
	return errs
}
