package webhook_test

import (
	"fmt"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/manager"
)

// These tests act as tenant users through the real API server, which calls the
// webhooks over HTTPS, as `kubectl --as` does.

func TestMembershipEscalationIsRefused(t *testing.T) {
	tn := newTenant(t)
	err := as(t, tn.member).Create(testCtx, membership(tn.orgNS, "x", v1.RoleAdmin))
	denied(t, "member grants admin", err, fmt.Sprintf("user %q (organization member in %s)", tn.member, tn.org.Name),
		"Team right", "needs the organization admin role")
	if !apierrors.IsForbidden(err) {
		t.Errorf("want 403 Forbidden, got %v", err)
	}
	// Dry-run gets the same answer.
	dry := as(t, tn.member).Create(testCtx, membership(tn.orgNS, "x", v1.RoleAdmin), client.DryRunAll)
	denied(t, "member grants admin (dry run)", dry, fmt.Sprintf("user %q (organization member in %s)", tn.member, tn.org.Name))

	denied(t, "admin grants owner", as(t, tn.admin).Create(testCtx, membership(tn.orgNS, "x", v1.RoleOwner)),
		fmt.Sprintf("user %q (organization admin in %s)", tn.admin, tn.org.Name), "nobody grants a role above their own", "needs the organization owner role")
	denied(t, "manager grants workspace admin", as(t, tn.manager).Create(testCtx, membership(tn.wsNS, "x", v1.RoleAdmin)),
		fmt.Sprintf("user %q (workspace manager in %s/team)", tn.manager, tn.org.Name), "needs the workspace admin role")
	denied(t, "owner grants an owner in a workspace", as(t, tn.owner).Create(testCtx, membership(tn.wsNS, "x", v1.RoleOwner)),
		"not a workspace role")

	allowed(t, "manager adds a manager", as(t, tn.manager).Create(testCtx, membership(tn.wsNS, "x", v1.RoleManager)))
	allowed(t, "admin adds an admin", as(t, tn.admin).Create(testCtx, membership(tn.orgNS, "x", v1.RoleAdmin)))
	allowed(t, "owner adds an owner", as(t, tn.owner).Create(testCtx, membership(tn.orgNS, "y", v1.RoleOwner)))
}

func TestLastOwnerCannotLeave(t *testing.T) {
	tn := newTenant(t)
	owner := as(t, tn.owner)
	demoted := tn.ownerMembship.DeepCopy()
	denied(t, "last owner demoted", updateAs(owner, demoted, func() { demoted.Spec.Role = v1.RoleAdmin }),
		"the role of an owner Membership is immutable: to demote an owner, create the new Membership and delete this one")
	denied(t, "last owner leaves", owner.Delete(testCtx, tn.ownerMembship), "last owner of organization "+tn.org.Name)
	denied(t, "platform removes the last owner", admin.Delete(testCtx, tn.ownerMembship), "last owner")

	grant(t, tn.orgNS, "second-owner", v1.RoleOwner)
	eventually(t, "the first owner may leave once another owner exists", func() error {
		return owner.Delete(testCtx, tn.ownerMembship, client.DryRunAll)
	})
	allowed(t, "first owner leaves", owner.Delete(testCtx, tn.ownerMembship))
}

func TestOrganizationBillingByOwnersOnly(t *testing.T) {
	tn := newTenant(t)
	setBudget := func(user string, budget int64) error {
		org := tn.org.DeepCopy()
		return updateAs(as(t, user), org, func() { org.Spec.Billing = &v1.Billing{MonthlyBudgetUSD: budget} })
	}
	denied(t, "admin changes billing", setBudget(tn.admin, 100), fmt.Sprintf("user %q (organization admin in %s)", tn.admin, tn.org.Name),
		"billing is managed by owners only", "needs the organization owner role")
	allowed(t, "owner changes billing", setBudget(tn.owner, 100))

	rename := tn.org.DeepCopy()
	allowed(t, "admin renames", updateAs(as(t, tn.admin), rename, func() { rename.Spec.DisplayName = "Renamed" }))
	denied(t, "tenant creates an organization", as(t, tn.owner).Create(testCtx, &v1.Organization{ObjectMeta: metav1.ObjectMeta{Name: unique("rogue")}}),
		"reserved to platform identities")
	denied(t, "admin deletes the organization", as(t, tn.admin).Delete(testCtx, rename, client.DryRunAll), "only owners delete an organization")
}

func TestWorkspaceRules(t *testing.T) {
	tn := newTenant(t)
	ws := func(org string) *v1.Workspace {
		return &v1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: unique("ws"), Namespace: tn.orgNS}, Spec: v1.WorkspaceSpec{Organization: org}}
	}
	denied(t, "member creates a workspace", as(t, tn.member).Create(testCtx, ws(tn.org.Name), client.DryRunAll),
		"organization member in", "needs the organization admin role")
	denied(t, "admin names another organization", as(t, tn.admin).Create(testCtx, ws("someone-else"), client.DryRunAll),
		"spec.organization", "must be "+tn.org.Name)
	allowed(t, "admin creates a workspace", as(t, tn.admin).Create(testCtx, ws(tn.org.Name), client.DryRunAll))
}

func apiKey(ns string, p v1.APIKeyPermissions) *v1.APIKey {
	return &v1.APIKey{ObjectMeta: metav1.ObjectMeta{Name: unique("key"), Namespace: ns}, Spec: v1.APIKeySpec{Permissions: p}}
}

func TestAPIKeyRules(t *testing.T) {
	tn := newTenant(t)
	read := v1.APIKeyPermissions{Prompts: v1.AccessRead, Completions: v1.ToggleEnabled}
	denied(t, "workspace admin creates an admin key", as(t, tn.wsAdmin).Create(testCtx, apiKey(tn.orgNS, read)),
		"admin keys (in the organization namespace) are managed by organization owners and admins only")
	allowed(t, "admin creates an admin key with every permission", as(t, tn.admin).Create(testCtx, apiKey(tn.orgNS, authz.MaxPermissions()), client.DryRunAll))

	over := read
	over.Providers = v1.AccessDelete
	denied(t, "manager's key above the manager's rights", as(t, tn.manager).Create(testCtx, apiKey(tn.wsNS, over)),
		fmt.Sprintf("user %q (workspace manager in %s/team)", tn.manager, tn.org.Name),
		"spec.permissions.providers", "never exceed what its creator holds", "requested Delete", "grants is Read")

	key := apiKey(tn.wsNS, read)
	allowed(t, "manager creates a key within the ceiling", as(t, tn.manager).Create(testCtx, key))

	k := key.DeepCopy()
	denied(t, "workspace member requests a rotation", updateAs(as(t, tn.wsMember), k, func() {
		k.Annotations = map[string]string{v1.AnnotationRotate: unique("now")}
	}), "needs the rotate verb")

	status := key.DeepCopy()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := admin.Get(testCtx, client.ObjectKeyFromObject(status), status); err != nil {
			return err
		}
		status.Status.DisplayPrefix = "tw_forged"
		return as(t, tn.owner).Status().Update(testCtx, status)
	})
	denied(t, "owner writes APIKey status", err, "status", "written only by the operator")
}

// TestRotateVerbComesFromRBAC: the webhook asks the API server (a
// SubjectAccessReview) whether the requester holds the rotate verb.
func TestRotateVerbComesFromRBAC(t *testing.T) {
	tn := newTenant(t)
	key := apiKey(tn.wsNS, v1.APIKeyPermissions{Completions: v1.ToggleEnabled})
	if err := admin.Create(testCtx, key); err != nil {
		t.Fatal(err)
	}
	attrs := authorizationv1.ResourceAttributes{Namespace: tn.wsNS, Verb: authz.VerbRotate, Group: v1.GroupVersion.Group, Resource: "apikeys", Name: key.Name}
	eventually(t, "the generated RBAC gives the manager the rotate verb", func() error {
		if !canIOnly(t, tn.manager, attrs) {
			return fmt.Errorf("%s may not rotate yet", tn.manager)
		}
		return nil
	})
	if canIOnly(t, tn.wsMember, attrs) {
		t.Fatalf("a workspace member holds the rotate verb")
	}
	k := key.DeepCopy()
	rotate := func() { k.Annotations = map[string]string{v1.AnnotationRotate: "1"} }
	denied(t, "member rotates", updateAs(as(t, tn.wsMember), k, rotate), "needs the rotate verb")
	allowed(t, "manager rotates", updateAs(as(t, tn.manager), k, rotate))
}

func TestIntegrationPolicyWriters(t *testing.T) {
	tn := newTenant(t)
	policy := func(ns string) *v1.IntegrationPolicy {
		return &v1.IntegrationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}
	}
	denied(t, "workspace admin changes the org policy", as(t, tn.wsAdmin).Create(testCtx, policy(tn.orgNS), client.DryRunAll),
		"the organization's integration access is set by its owners and admins")
	denied(t, "manager overrides the workspace policy", as(t, tn.manager).Create(testCtx, policy(tn.wsNS), client.DryRunAll),
		fmt.Sprintf("user %q (workspace manager in %s/team)", tn.manager, tn.org.Name), "needs the workspace admin role")
	allowed(t, "admin sets the org policy", as(t, tn.admin).Create(testCtx, policy(tn.orgNS), client.DryRunAll))
	allowed(t, "workspace admin overrides", as(t, tn.wsAdmin).Create(testCtx, policy(tn.wsNS), client.DryRunAll))
}

// setPolicy applies the IntegrationPolicy of a namespace as the platform admin
// (nil deletes it).
func setPolicy(t *testing.T, ns string, spec *v1.IntegrationPolicySpec) {
	t.Helper()
	pol := &v1.IntegrationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns}}
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		err := admin.Get(testCtx, client.ObjectKeyFromObject(pol), pol)
		switch {
		case spec == nil && err == nil:
			return admin.Delete(testCtx, pol)
		case spec == nil:
			return client.IgnoreNotFound(err)
		case apierrors.IsNotFound(err):
			pol.Spec = *spec
			return admin.Create(testCtx, pol)
		case err == nil:
			pol.Spec = *spec
			return admin.Update(testCtx, pol)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mcpServer(ns string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"url": "https://mcp.example"}}}
	u.SetAPIVersion("gateway.tenantward.io/v1alpha1")
	u.SetKind("MCPServer")
	u.SetNamespace(ns)
	u.SetName(unique("mcp"))
	return u
}

// TestManagerWritesFollowIntegrationPolicy walks the integration access combinations for
// MCP servers: org setting, the org's override switch and the workspace's
// override. The webhook and `kubectl auth can-i` must agree in each.
func TestManagerWritesFollowIntegrationPolicy(t *testing.T) {
	tn := newTenant(t)
	allow, deny := v1.Allowed, v1.Denied
	cases := []struct {
		name              string
		orgWrite, opened  v1.Permission
		wsWrite           v1.Permission
		want              bool
		wantMessageSource v1.SettingSource
	}{
		{"default", "", "", "", true, ""},
		{"org denies", deny, "", "", false, v1.SourceOrganization},
		{"org denies, workspace allows, override closed", deny, deny, allow, false, v1.SourceOrganization},
		{"org denies, workspace allows, override open", deny, allow, allow, true, ""},
		{"org allows, workspace denies, override open", allow, allow, deny, false, v1.SourceWorkspace},
		{"org allows, workspace denies, override closed", allow, deny, deny, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			setPolicy(t, tn.orgNS, &v1.IntegrationPolicySpec{MCPServers: &v1.IntegrationAccess{ManagersWrite: c.orgWrite, WorkspaceOverride: c.opened}})
			var ws *v1.IntegrationPolicySpec
			if c.wsWrite != "" {
				ws = &v1.IntegrationPolicySpec{MCPServers: &v1.IntegrationAccess{ManagersWrite: c.wsWrite}}
			}
			setPolicy(t, tn.wsNS, ws)
			attrs := authorizationv1.ResourceAttributes{Namespace: tn.wsNS, Verb: "create", Group: "gateway.tenantward.io", Resource: "mcpservers"}
			eventually(t, "webhook and RBAC agree", func() error {
				err := as(t, tn.manager).Create(testCtx, mcpServer(tn.wsNS), client.DryRunAll)
				if (err == nil) != c.want {
					return fmt.Errorf("webhook: allowed=%v, want %v (%w)", err == nil, c.want, err)
				}
				if !c.want && !contains(err, "only where the IntegrationPolicy allows it", "set by "+string(c.wantMessageSource)) {
					return fmt.Errorf("message: %w", err)
				}
				if got := canIOnly(t, tn.manager, attrs); got != c.want {
					return fmt.Errorf("kubectl auth can-i create mcpservers --as=%s says %v, want %v", tn.manager, got, c.want)
				}
				return nil
			})
			allowed(t, "org admin writes MCP servers whatever the policy", as(t, tn.admin).Create(testCtx, mcpServer(tn.wsNS), client.DryRunAll))
		})
	}
}

// TestCanIAgreesWithTheWebhooks: for each role and each matrix action a tenant
// tries through the webhooks, `kubectl auth can-i` (the generated RBAC alone)
// and the webhook's decision (RBAC opened wide by the test group) agree.
func TestCanIAgreesWithTheWebhooks(t *testing.T) {
	tn := newTenant(t)
	type try struct {
		name  string
		attrs authorizationv1.ResourceAttributes
		write func(c client.Client) error
	}
	group := v1.GroupVersion.Group
	tries := []try{
		{"add a workspace member", authorizationv1.ResourceAttributes{Namespace: tn.wsNS, Verb: "create", Group: group, Resource: "memberships"},
			func(c client.Client) error {
				return c.Create(testCtx, membership(tn.wsNS, "someone", v1.RoleMember), client.DryRunAll)
			}},
		{"add an org member", authorizationv1.ResourceAttributes{Namespace: tn.orgNS, Verb: "create", Group: group, Resource: "memberships"},
			func(c client.Client) error {
				return c.Create(testCtx, membership(tn.orgNS, "someone", v1.RoleMember), client.DryRunAll)
			}},
		{"create a workspace", authorizationv1.ResourceAttributes{Namespace: tn.orgNS, Verb: "create", Group: group, Resource: "workspaces"},
			func(c client.Client) error {
				ws := &v1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: unique("ws"), Namespace: tn.orgNS}, Spec: v1.WorkspaceSpec{Organization: tn.org.Name}}
				return c.Create(testCtx, ws, client.DryRunAll)
			}},
		{"create a workspace key", authorizationv1.ResourceAttributes{Namespace: tn.wsNS, Verb: "create", Group: group, Resource: "apikeys"},
			func(c client.Client) error {
				return c.Create(testCtx, apiKey(tn.wsNS, v1.APIKeyPermissions{Completions: v1.ToggleEnabled}), client.DryRunAll)
			}},
		{"create an admin key", authorizationv1.ResourceAttributes{Namespace: tn.orgNS, Verb: "create", Group: group, Resource: "apikeys"},
			func(c client.Client) error {
				return c.Create(testCtx, apiKey(tn.orgNS, v1.APIKeyPermissions{Completions: v1.ToggleEnabled}), client.DryRunAll)
			}},
		{"override integration access", authorizationv1.ResourceAttributes{Namespace: tn.wsNS, Verb: "create", Group: group, Resource: "integrationpolicies"},
			func(c client.Client) error {
				return c.Create(testCtx, &v1.IntegrationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: tn.wsNS}}, client.DryRunAll)
			}},
		{"create an MCP server", authorizationv1.ResourceAttributes{Namespace: tn.wsNS, Verb: "create", Group: "gateway.tenantward.io", Resource: "mcpservers"},
			func(c client.Client) error { return c.Create(testCtx, mcpServer(tn.wsNS), client.DryRunAll) }},
	}
	for _, user := range []string{tn.owner, tn.admin, tn.member, tn.wsAdmin, tn.manager, tn.wsMember} {
		for _, tr := range tries {
			eventually(t, fmt.Sprintf("%s: %s", user, tr.name), func() error {
				rbac := canIOnly(t, user, tr.attrs)
				err := tr.write(as(t, user))
				if rbac != (err == nil) {
					return fmt.Errorf("kubectl auth can-i says %v, the webhook says %w", rbac, err)
				}
				return nil
			})
		}
	}
}

// TestServiceAccountsAndGroupsHoldRoles: a GitOps applier's service account and
// a group hold roles through Memberships like users do.
func TestServiceAccountsAndGroupsHoldRoles(t *testing.T) {
	tn := newTenant(t)
	sa := &v1.Membership{ObjectMeta: metav1.ObjectMeta{Name: unique("m"), Namespace: tn.orgNS},
		Spec: v1.MembershipSpec{Subject: v1.Subject{Kind: v1.SubjectServiceAccount, Namespace: "ci", Name: "deployer"}, Role: v1.RoleAdmin}}
	group := &v1.Membership{ObjectMeta: metav1.ObjectMeta{Name: unique("m"), Namespace: tn.wsNS},
		Spec: v1.MembershipSpec{Subject: v1.Subject{Kind: v1.SubjectGroup, Name: tn.org.Name + ":leads"}, Role: v1.RoleManager}}
	for _, m := range []*v1.Membership{sa, group} {
		if err := admin.Create(testCtx, m); err != nil {
			t.Fatal(err)
		}
	}
	deployer := "system:serviceaccount:ci:deployer"
	eventually(t, "the service account acts as an organization admin", func() error {
		return as(t, deployer).Create(testCtx, membership(tn.orgNS, "x", v1.RoleMember), client.DryRunAll)
	})
	denied(t, "the service account grants owner", as(t, deployer).Create(testCtx, membership(tn.orgNS, "x", v1.RoleOwner), client.DryRunAll),
		fmt.Sprintf("user %q (organization admin in %s)", deployer, tn.org.Name))

	lead, err := client.New(controlplane.Impersonate(testEnv.Config, "lee", tenantsGroup, tn.org.Name+":leads"), client.Options{Scheme: manager.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "a group member acts as a workspace manager", func() error {
		return lead.Create(testCtx, membership(tn.wsNS, "x", v1.RoleManager), client.DryRunAll)
	})
	denied(t, "a group member grants workspace admin", lead.Create(testCtx, membership(tn.wsNS, "x", v1.RoleAdmin), client.DryRunAll),
		"(workspace manager in "+tn.org.Name+"/team)")
}
