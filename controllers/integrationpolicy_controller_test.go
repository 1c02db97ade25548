package controllers_test

import (
	"fmt"
	"slices"
	"testing"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/controllers"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// accessErr is nil when got holds exactly the want entries (type, managersWrite, source).
func accessErr(got []v1.EffectiveIntegrationAccess, want ...v1.EffectiveIntegrationAccess) error {
	for _, w := range want {
		i := slices.IndexFunc(got, func(e v1.EffectiveIntegrationAccess) bool { return e.Type == w.Type })
		if i < 0 || got[i].ManagersWrite != w.ManagersWrite || got[i].Source != w.Source {
			return fmt.Errorf("%s: got %+v, want %s from %s", w.Type, got, w.ManagersWrite, w.Source)
		}
	}
	return nil
}

func eff(t v1.IntegrationType, p v1.Permission, s v1.SettingSource) v1.EffectiveIntegrationAccess {
	return v1.EffectiveIntegrationAccess{Type: t, ManagersWrite: p, Source: s}
}

func TestIntegrationPolicyEffectiveAccess(t *testing.T) {
	org := createOrganization(t, uniqueName("intpol"))
	ws := createWorkspace(t, org, "team")
	wsNS := tenancy.WorkspaceNamespace(ws)

	workspaceShows := func(want ...v1.EffectiveIntegrationAccess) {
		t.Helper()
		eventually(t, "workspace integrationAccess", func() error {
			if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(ws), ws); err != nil {
				return err
			}
			return accessErr(ws.Status.IntegrationAccess, want...)
		})
	}
	// No policy at all: every type Allowed by default.
	workspaceShows(eff(v1.IntegrationAI, v1.Allowed, v1.SourceDefault), eff(v1.IntegrationMCP, v1.Allowed, v1.SourceDefault),
		eff(v1.IntegrationMCPServers, v1.Allowed, v1.SourceDefault))

	// The org denies MCP servers and opens AI integrations to overrides.
	orgPol := &v1.IntegrationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: org.Status.Namespace},
		Spec: v1.IntegrationPolicySpec{
			AIIntegrations: &v1.IntegrationAccess{WorkspaceOverride: v1.Allowed},
			MCPServers:     &v1.IntegrationAccess{ManagersWrite: v1.Denied},
		}}
	if err := adminClient.Create(testCtx, orgPol); err != nil {
		t.Fatal(err)
	}
	workspaceShows(eff(v1.IntegrationMCPServers, v1.Denied, v1.SourceOrganization), eff(v1.IntegrationAI, v1.Allowed, v1.SourceDefault))
	eventually(t, "org policy status", func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(orgPol), orgPol); err != nil {
			return err
		}
		if orgPol.Status.Scope != string(v1.SourceOrganization) {
			return fmt.Errorf("scope %q", orgPol.Status.Scope)
		}
		return accessErr(orgPol.Status.Effective, eff(v1.IntegrationMCPServers, v1.Denied, v1.SourceOrganization))
	})

	// The workspace denies AI integrations (open) and allows MCP servers (not open).
	wsPol := &v1.IntegrationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: wsNS},
		Spec: v1.IntegrationPolicySpec{
			AIIntegrations: &v1.IntegrationAccess{ManagersWrite: v1.Denied},
			MCPServers:     &v1.IntegrationAccess{ManagersWrite: v1.Allowed},
		}}
	if err := adminClient.Create(testCtx, wsPol); err != nil {
		t.Fatal(err)
	}
	workspaceShows(eff(v1.IntegrationAI, v1.Denied, v1.SourceWorkspace), eff(v1.IntegrationMCPServers, v1.Denied, v1.SourceOrganization))
	eventually(t, "workspace policy reports the rejected override", func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(wsPol), wsPol); err != nil {
			return err
		}
		if !slices.Equal(wsPol.Status.RejectedOverrides, []v1.IntegrationType{v1.IntegrationMCPServers}) {
			return fmt.Errorf("rejectedOverrides = %v", wsPol.Status.RejectedOverrides)
		}
		if !meta.IsStatusConditionTrue(wsPol.Status.Conditions, controllers.ConditionOverrideRejected) {
			return fmt.Errorf("no OverrideRejected=True: %+v", wsPol.Status.Conditions)
		}
		return nil
	})

	eventually(t, "a Warning event tells kubectl describe about the rejected override", func() error {
		list := &eventsv1.EventList{}
		if err := adminClient.List(testCtx, list, client.InNamespace(wsNS)); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Regarding.Name == wsPol.Name && e.Regarding.Kind == "IntegrationPolicy" && e.Type == "Warning" {
				return nil
			}
		}
		return fmt.Errorf("no Warning event about the IntegrationPolicy among %d events", len(list.Items))
	})

	// Opening MCP servers to overrides at org level updates the workspace and its policy.
	orgPol.Spec.MCPServers.WorkspaceOverride = v1.Allowed
	if err := adminClient.Update(testCtx, orgPol); err != nil {
		t.Fatal(err)
	}
	workspaceShows(eff(v1.IntegrationMCPServers, v1.Allowed, v1.SourceWorkspace))
	eventually(t, "override accepted", func() error {
		if err := adminClient.Get(testCtx, client.ObjectKeyFromObject(wsPol), wsPol); err != nil {
			return err
		}
		if len(wsPol.Status.RejectedOverrides) > 0 || meta.IsStatusConditionTrue(wsPol.Status.Conditions, controllers.ConditionOverrideRejected) {
			return fmt.Errorf("still rejected: %v %+v", wsPol.Status.RejectedOverrides, wsPol.Status.Conditions)
		}
		return nil
	})

	// The Workspace's status.integrationAccess belongs to this controller's field manager only.
	managers := map[string]bool{}
	for _, mf := range ws.ManagedFields {
		if mf.Subresource == "status" && mf.Operation == metav1.ManagedFieldsOperationApply {
			managers[mf.Manager] = true
		}
	}
	if !managers[controllers.IntegrationPolicyFieldManager] {
		t.Errorf("status.integrationAccess not applied by %s: %v", controllers.IntegrationPolicyFieldManager, managers)
	}
}
