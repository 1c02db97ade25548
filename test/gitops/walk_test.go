package gitops

import (
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/tenancy"
	"github.com/tenantward/tenantward/internal/testenv"
)

// The states GitOps tools tell apart.
var (
	inProgress = state{status.InProgressStatus, progressing}
	current    = state{status.CurrentStatus, healthy}
	failed     = state{status.FailedStatus, degraded}
	// A deletion refused by policy: kstatus reports any object being deleted
	// as Terminating before it looks at conditions; Argo CD sees Stalled.
	blocked = state{status.TerminatingStatus, degraded}
)

const group = "access.tenantward.io/v1alpha1"

func organization(t testing.TB, name string, extraSpec string) *unstructured.Unstructured {
	return object(t, `
apiVersion: %s
kind: Organization
metadata: {name: %s}
spec: {%s}`, group, name, extraSpec)
}

func workspace(t testing.TB, ns, name, org string) *unstructured.Unstructured {
	return object(t, `
apiVersion: %s
kind: Workspace
metadata: {name: %s, namespace: %s}
spec: {organization: %s}`, group, name, ns, org)
}

func membership(t testing.TB, ns, user, role string) *unstructured.Unstructured {
	return object(t, `
apiVersion: %s
kind: Membership
metadata: {name: %s, namespace: %s}
spec:
  subject: {kind: User, name: %s}
  role: %s`, group, uniqueName("m"), ns, user, role)
}

func apiKey(t testing.TB, ns, name, extraSpec string) *unstructured.Unstructured {
	return object(t, `
apiVersion: %s
kind: APIKey
metadata: {name: %s, namespace: %s}
spec: {%s}`, group, name, ns, extraSpec)
}

func policy(t testing.TB, ns, spec string) *unstructured.Unstructured {
	return object(t, `
apiVersion: %s
kind: IntegrationPolicy
metadata: {name: default, namespace: %s}
spec: %s`, group, ns, spec)
}

// readyOrg creates an Organization and waits until it is Current; it returns
// its namespace.
func readyOrg(t testing.TB, name string) string {
	t.Helper()
	org := eventually(t, create(t, organization(t, name, "")), current, "Reconciled")
	ns, _, _ := unstructured.NestedString(org.Object, "status", "namespace")
	return ns
}

// readyWorkspace creates a Workspace in an org namespace, waits until it is
// Current and returns its namespace.
func readyWorkspace(t testing.TB, orgNS, name, org string) string {
	t.Helper()
	ws := eventually(t, create(t, workspace(t, orgNS, name, org)), current, "Reconciled")
	ns, _, _ := unstructured.NestedString(ws.Object, "status", "namespace")
	return ns
}

// setSpec sets spec.<field> of u as the platform admin, on the latest version.
func setSpec(t testing.TB, u *unstructured.Unstructured, value string, field string) {
	t.Helper()
	testenv.Eventually(t, ctx, "setting spec."+field+" of "+u.GetName(), func() error {
		cur, err := get(u)
		if err != nil {
			return err
		}
		if err := unstructured.SetNestedField(cur.Object, value, "spec", field); err != nil {
			return err
		}
		return admin.Update(ctx, cur)
	})
}

func remove(t testing.TB, u *unstructured.Unstructured) {
	t.Helper()
	if err := admin.Delete(ctx, u); client.IgnoreNotFound(err) != nil {
		t.Fatalf("deleting %s %s: %v", u.GetKind(), u.GetName(), err)
	}
}

func gone(t testing.TB, obj client.Object) {
	t.Helper()
	testenv.Eventually(t, ctx, obj.GetName()+" deleted", func() error {
		err := admin.Get(ctx, client.ObjectKeyFromObject(obj), obj.DeepCopyObject().(client.Object))
		if err == nil {
			return errStillThere
		}
		return client.IgnoreNotFound(err)
	})
}

// Organization: new (InProgress) → Reconciled (Current); a namespace taken by
// someone else (Failed); a deletion refused while workspaces remain
// (Terminating / Degraded), which goes through once they are gone.
func walkOrganization(t *testing.T) {
	name := uniqueName("org")
	org := create(t, organization(t, name, ""))
	expect(t, org, inProgress, "")
	org = eventually(t, org, current, "Reconciled")
	if r := runKubectlWait(t, org); r != "" {
		t.Error(r)
	}

	taken := uniqueName("taken")
	create(t, object(t, `{apiVersion: v1, kind: Namespace, metadata: {name: %s}}`, taken))
	clash := create(t, organization(t, uniqueName("org"), "namespace: "+taken))
	eventually(t, clash, failed, "NamespaceConflict")

	orgNS, _, _ := unstructured.NestedString(org.Object, "status", "namespace")
	ws := create(t, workspace(t, orgNS, "team", name))
	eventually(t, ws, current, "Reconciled")
	remove(t, org)
	org = eventually(t, org, blocked, "DeletionBlocked")
	// Cascade: the operator deletes the workspaces, then the organization goes.
	setSpec(t, org, "Cascade", "deletionPolicy")
	gone(t, ws)
	gone(t, org)
}

// Workspace: waiting for its organization (InProgress); a good one
// (InProgress → Current); a namespace taken by someone else (Failed); its
// deletion refused while members remain (Terminating / Degraded).
func walkWorkspace(t *testing.T) {
	orgName := uniqueName("org")
	early := uniqueName("early")
	create(t, object(t, `{apiVersion: v1, kind: Namespace, metadata: {name: %s}}`, early))
	eventually(t, create(t, workspace(t, early, "waiting", uniqueName("later"))), inProgress, "OrganizationNotFound")

	orgNS := readyOrg(t, orgName)
	ws := create(t, workspace(t, orgNS, "research", orgName))
	expect(t, ws, inProgress, "")
	ws = eventually(t, ws, current, "Reconciled")
	if r := runKubectlWait(t, ws); r != "" {
		t.Error(r)
	}

	taken := uniqueName("taken")
	create(t, object(t, `{apiVersion: v1, kind: Namespace, metadata: {name: %s}}`, taken))
	clash := workspace(t, orgNS, "clash", orgName)
	if err := unstructured.SetNestedField(clash.Object, taken, "spec", "namespace"); err != nil {
		t.Fatal(err)
	}
	eventually(t, create(t, clash), failed, "NamespaceConflict")

	wsNS, _, _ := unstructured.NestedString(ws.Object, "status", "namespace")
	m := create(t, membership(t, wsNS, "dana@example.com", "member"))
	eventually(t, m, current, "Bound")
	remove(t, ws)
	eventually(t, ws, blocked, "DeletionBlocked")
	remove(t, m)
	gone(t, ws)
}

// Membership: new (InProgress) → Bound (Current); a role that does not exist
// at its scope (Failed).
func walkMembership(t *testing.T) {
	orgName := uniqueName("org")
	orgNS := readyOrg(t, orgName)
	wsNS := readyWorkspace(t, orgNS, "app", orgName)
	var orgAdmin *unstructured.Unstructured
	for _, m := range []struct{ ns, role string }{{orgNS, "owner"}, {orgNS, "admin"}, {orgNS, "member"}, {wsNS, "admin"}, {wsNS, "manager"}} {
		u := create(t, membership(t, m.ns, uniqueName("user")+"@example.com", m.role))
		if m.ns == orgNS && m.role == "admin" {
			orgAdmin = u
		}
		expect(t, u, inProgress, "")
		u = eventually(t, u, current, "Bound")
		if r := runKubectlWait(t, u); r != "" {
			t.Error(r)
		}
	}
	eventually(t, create(t, membership(t, orgNS, "erin@example.com", "manager")), failed, "InvalidRole")

	// The last org admin leaves: the operator removes the organization's
	// ClusterRoleBinding for admins.
	admins := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: tenancy.OrganizationClusterRoleName(orgName, accessv1alpha1.RoleAdmin)}}
	testenv.Eventually(t, ctx, "the admins' ClusterRoleBinding", func() error { return admin.Get(ctx, client.ObjectKeyFromObject(admins), admins) })
	remove(t, orgAdmin)
	gone(t, admins)
}

// APIKey: new (InProgress) → Active (Current); Disabled as asked (Current,
// Suspended in Argo CD); expired (Failed); its Secret's name taken (Failed);
// a personal key whose owner left (Failed).
func walkAPIKey(t *testing.T) {
	orgName := uniqueName("org")
	orgNS := readyOrg(t, orgName)
	wsNS := readyWorkspace(t, orgNS, "app", orgName)
	key := create(t, apiKey(t, wsNS, "app", ""))
	expect(t, key, inProgress, "")
	key = eventually(t, key, current, "Active")
	if r := runKubectlWait(t, key); r != "" {
		t.Error(r)
	}
	setSpec(t, key, "Disabled", "state")
	eventually(t, key, state{status.CurrentStatus, suspended}, "Disabled")

	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	eventually(t, create(t, apiKey(t, wsNS, "old", "expiresAt: "+past)), failed, "Expired")

	create(t, object(t, `{apiVersion: v1, kind: Secret, metadata: {name: taken-apikey, namespace: %s}}`, wsNS))
	eventually(t, create(t, apiKey(t, wsNS, "taken", "")), failed, "SecretConflict")

	// A personal key, in a workspace that allows them (so its member's
	// personal-keys role is bound): its owner leaves, the operator disables
	// it (Failed, OwnerLeft).
	pws := eventually(t, create(t, object(t, `{apiVersion: %s, kind: Workspace, metadata: {name: personal, namespace: %s}, spec: {organization: %s, apiKeys: {personalKeys: Enabled}}}`,
		group, orgNS, orgName)), current, "Reconciled")
	pwsNS, _, _ := unstructured.NestedString(pws.Object, "status", "namespace")
	owner := eventually(t, create(t, membership(t, pwsNS, "pat@example.com", "member")), current, "Bound")
	personal := eventually(t, create(t, apiKey(t, pwsNS, "pats", "owner: {kind: User, name: pat@example.com}")), current, "Active")
	remove(t, owner)
	eventually(t, personal, failed, "OwnerLeft")
}

// IntegrationPolicy: new (InProgress) → Applied (Current); a workspace
// override its organization does not allow (Failed); outside any tenant
// namespace (Failed).
func walkIntegrationPolicy(t *testing.T) {
	orgName := uniqueName("org")
	orgNS := readyOrg(t, orgName)
	wsNS := readyWorkspace(t, orgNS, "app", orgName)
	// Every gate open, so that each gated role is bound; overrides denied.
	orgPol := create(t, policy(t, orgNS, `{aiIntegrations: {managersWrite: Allowed}, mcpIntegrations: {managersWrite: Allowed}, mcpServers: {managersWrite: Allowed, workspaceOverride: Denied}}`))
	expect(t, orgPol, inProgress, "")
	if r := runKubectlWait(t, eventually(t, orgPol, current, "Applied")); r != "" {
		t.Error(r)
	}
	// A manager in the workspace, so the opened gates are bound.
	eventually(t, create(t, membership(t, wsNS, "mia@example.com", "manager")), current, "Bound")
	eventually(t, create(t, policy(t, wsNS, `{mcpServers: {managersWrite: Allowed}}`)), failed, "OverrideNotAllowed")

	outside := uniqueName("plain")
	create(t, object(t, `{apiVersion: v1, kind: Namespace, metadata: {name: %s}}`, outside))
	eventually(t, create(t, policy(t, outside, `{}`)), failed, "NotTenantNamespace")
}
