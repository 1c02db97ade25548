package integrationpolicy

import (
	"testing"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
)

func access(write, override v1.Permission) *v1.IntegrationAccess {
	return &v1.IntegrationAccess{ManagersWrite: write, WorkspaceOverride: override}
}

func TestOrganizationDefaults(t *testing.T) {
	for _, e := range Organization(nil) {
		if e.ManagersWrite != v1.Allowed || e.Source != v1.SourceDefault || e.WorkspaceOverride != v1.Denied {
			t.Errorf("%s: got %+v, want Allowed from Default with override Denied", e.Type, e)
		}
	}
}

// TestWorkspaceCombinations walks every combination of integration access settings for MCP
// servers: org setting (unset/Allowed/Denied) × override switch × workspace value.
func TestWorkspaceCombinations(t *testing.T) {
	perms := []v1.Permission{"", v1.Allowed, v1.Denied}
	for _, orgWrite := range perms {
		for _, override := range perms {
			for _, wsWrite := range perms {
				org := &v1.IntegrationPolicySpec{MCPServers: access(orgWrite, override)}
				ws := &v1.IntegrationPolicySpec{MCPServers: access(wsWrite, "")}
				eff, rejected := Workspace(org, ws)
				allowed, source := ManagersMayWrite(eff, v1.IntegrationMCPServers)

				wantAllowed, wantSource := true, v1.SourceDefault
				if orgWrite != "" {
					wantAllowed, wantSource = orgWrite == v1.Allowed, v1.SourceOrganization
				}
				wantRejected := false
				if wsWrite != "" {
					if override == v1.Allowed {
						wantAllowed, wantSource = wsWrite == v1.Allowed, v1.SourceWorkspace
					} else {
						wantRejected = true
					}
				}
				if allowed != wantAllowed || source != wantSource {
					t.Errorf("org=%q override=%q ws=%q: got %v from %s, want %v from %s",
						orgWrite, override, wsWrite, allowed, source, wantAllowed, wantSource)
				}
				if got := len(rejected) == 1 && rejected[0] == v1.IntegrationMCPServers; got != wantRejected {
					t.Errorf("org=%q override=%q ws=%q: rejected %v, want rejected=%v", orgWrite, override, wsWrite, rejected, wantRejected)
				}
				for _, e := range eff {
					if e.WorkspaceOverride != "" {
						t.Errorf("workspace view carries workspaceOverride for %s", e.Type)
					}
				}
			}
		}
	}
}

func TestTypesAreIndependent(t *testing.T) {
	org := &v1.IntegrationPolicySpec{AIIntegrations: access(v1.Denied, v1.Allowed)}
	ws := &v1.IntegrationPolicySpec{AIIntegrations: access(v1.Allowed, ""), MCPIntegrations: access(v1.Denied, "")}
	eff, rejected := Workspace(org, ws)
	if ok, src := ManagersMayWrite(eff, v1.IntegrationAI); !ok || src != v1.SourceWorkspace {
		t.Errorf("AI: got %v from %s, want allowed by the workspace", ok, src)
	}
	if ok, src := ManagersMayWrite(eff, v1.IntegrationMCP); !ok || src != v1.SourceDefault {
		t.Errorf("MCP: got %v from %s, want the default (override not opened)", ok, src)
	}
	if len(rejected) != 1 || rejected[0] != v1.IntegrationMCP {
		t.Errorf("rejected = %v, want [MCPIntegrations]", rejected)
	}
}

func TestManagersMayWriteMissingType(t *testing.T) {
	if ok, src := ManagersMayWrite(nil, v1.IntegrationAI); !ok || src != v1.SourceDefault {
		t.Errorf("got %v from %s, want allowed by default", ok, src)
	}
}

func TestGate(t *testing.T) {
	org := &v1.IntegrationPolicySpec{MCPServers: access(v1.Denied, "")}
	eff, _ := Workspace(org, nil)
	gate := Gate(eff)
	if gate(authz.MCPServers) {
		t.Error("MCP servers gate open although the org denies managers")
	}
	if !gate(authz.Integrations) || !gate(authz.Prompts) {
		t.Error("gate closed for a type the policy allows or a feature it does not govern")
	}
	for _, typ := range Types {
		f := features[typ]
		if back, ok := TypeOf(f); !ok || back != typ || !authz.Gated(f) {
			t.Errorf("%s ↔ %s: not a gated round trip", typ, f)
		}
	}
}
