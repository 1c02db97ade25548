// Package integrationpolicy computes the effective integration access of
// workspace managers from an organization's IntegrationPolicy and a workspace's
// override. It is pure: the controller and the webhooks feed it the specs they read.
package integrationpolicy

import (
	"slices"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
)

// Types are the integration types an IntegrationPolicy controls, in the order
// status lists them.
var Types = []accessv1alpha1.IntegrationType{
	accessv1alpha1.IntegrationAI,
	accessv1alpha1.IntegrationMCP,
	accessv1alpha1.IntegrationMCPServers,
}

// Setting returns the spec's setting for one type, or nil when the spec (or the
// type) is unset.
func Setting(spec *accessv1alpha1.IntegrationPolicySpec, t accessv1alpha1.IntegrationType) *accessv1alpha1.IntegrationAccess {
	if spec == nil {
		return nil
	}
	switch t {
	case accessv1alpha1.IntegrationAI:
		return spec.AIIntegrations
	case accessv1alpha1.IntegrationMCP:
		return spec.MCPIntegrations
	case accessv1alpha1.IntegrationMCPServers:
		return spec.MCPServers
	}
	return nil
}

// Organization is the effective access an org-level policy sets, per type:
// managersWrite defaults to Allowed and workspaceOverride to Denied. A nil spec
// (no org policy) gives the defaults.
func Organization(org *accessv1alpha1.IntegrationPolicySpec) []accessv1alpha1.EffectiveIntegrationAccess {
	out := make([]accessv1alpha1.EffectiveIntegrationAccess, 0, len(Types))
	for _, t := range Types {
		e := accessv1alpha1.EffectiveIntegrationAccess{
			Type:              t,
			ManagersWrite:     accessv1alpha1.Allowed,
			Source:            accessv1alpha1.SourceDefault,
			WorkspaceOverride: accessv1alpha1.Denied,
		}
		if s := Setting(org, t); s != nil {
			if s.ManagersWrite != "" {
				e.ManagersWrite, e.Source = s.ManagersWrite, accessv1alpha1.SourceOrganization
			}
			if s.WorkspaceOverride != "" {
				e.WorkspaceOverride = s.WorkspaceOverride
			}
		}
		out = append(out, e)
	}
	return out
}

// Workspace is the effective access in one workspace: the workspace policy's
// managersWrite wins for the types the organization opened to override; for
// the others the organization's value stands and the type is listed in
// rejected when the workspace policy tried to set it. Either spec may be nil.
func Workspace(org, ws *accessv1alpha1.IntegrationPolicySpec) (effective []accessv1alpha1.EffectiveIntegrationAccess, rejected []accessv1alpha1.IntegrationType) {
	effective = Organization(org)
	for i := range effective {
		e := &effective[i]
		s := Setting(ws, e.Type)
		switch {
		case s == nil || s.ManagersWrite == "":
		case e.WorkspaceOverride == accessv1alpha1.Allowed:
			e.ManagersWrite, e.Source = s.ManagersWrite, accessv1alpha1.SourceWorkspace
		default:
			rejected = append(rejected, e.Type)
		}
		// workspaceOverride is an org-level setting; a workspace's view omits it.
		e.WorkspaceOverride = ""
	}
	return effective, rejected
}

// ManagersMayWrite reports whether workspace managers may write the type under
// the given effective access. A type missing from the list has the default: Allowed.
func ManagersMayWrite(effective []accessv1alpha1.EffectiveIntegrationAccess, t accessv1alpha1.IntegrationType) (bool, accessv1alpha1.SettingSource) {
	i := slices.IndexFunc(effective, func(e accessv1alpha1.EffectiveIntegrationAccess) bool { return e.Type == t })
	if i < 0 {
		return true, accessv1alpha1.SourceDefault
	}
	return effective[i].ManagersWrite == accessv1alpha1.Allowed, effective[i].Source
}

// features maps each integration type to the permission-table feature it gates.
var features = map[accessv1alpha1.IntegrationType]authz.Feature{
	accessv1alpha1.IntegrationAI:         authz.Integrations,
	accessv1alpha1.IntegrationMCP:        authz.MCPIntegrations,
	accessv1alpha1.IntegrationMCPServers: authz.MCPServers,
}

// TypeOf returns the integration type that gates a feature, if any.
func TypeOf(f authz.Feature) (accessv1alpha1.IntegrationType, bool) {
	for t, feature := range features {
		if feature == f {
			return t, true
		}
	}
	return "", false
}

// Gate turns effective access into the permission table's gate: a gated
// feature is open to workspace managers where their type's managersWrite is Allowed.
func Gate(effective []accessv1alpha1.EffectiveIntegrationAccess) authz.Gate {
	return func(f authz.Feature) bool {
		t, ok := TypeOf(f)
		if !ok {
			return true
		}
		allowed, _ := ManagersMayWrite(effective, t)
		return allowed
	}
}
