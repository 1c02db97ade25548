package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/manager"
	"github.com/tenantward/tenantward/internal/tenancy"
	"github.com/tenantward/tenantward/internal/testenv"
)

// The control plane of this package: a real kube-apiserver and etcd with the
// generated webhook configuration installed (envtest points it at the local
// server and makes its certificates), and the operator's manager — every
// controller plus the webhooks — serving it.
var (
	testEnv *controlplane.Env
	admin   client.Client
	// mgrCache is the manager's cache: tests wait on it before asserting a
	// decision that depends on what the webhooks read.
	mgrCache cache.Cache
	testCtx  context.Context
)

// testConfig names a platform service account (a GitOps applier) besides the
// default system:masters, and excludes argocd from the webhooks, as the
// chart's webhook.excludeNamespaces would; the key verifier runs as its own
// service account, as the chart's standalone mode configures it.
const testConfig = `
excludedNamespaces: [argocd]
verifierIdentity: system:serviceaccount:tenantward-system:tenantward-verifier
platformIdentities:
  groups: [system:masters]
  serviceAccounts: [argocd/applier]
`

const (
	// tenantsGroup holds every test user. A ClusterRole gives it every standard
	// verb on the tenantward groups, so that the webhooks, not RBAC, decide.
	// It has no custom verbs: rotate comes only from the generated roles.
	tenantsGroup = "webhook-test:tenants"
)

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{Webhooks: true, Config: testConfig}, func(op *testenv.Operator) error {
		testEnv, admin, testCtx, mgrCache = op.Env, op.Admin, op.Ctx, op.Manager.GetCache()
		return grantTenants(op.Ctx)
	})
}

func grantTenants(ctx context.Context) error {
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "webhook-test-tenants"}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{v1.GroupVersion.Group, "gateway.tenantward.io"},
		Resources: []string{"*"},
		Verbs:     []string{"get", "list", "watch", "create", "update", "patch", "delete"},
	}}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "webhook-test-tenants"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "Group", Name: tenantsGroup}}}
	return errors.Join(admin.Create(ctx, role), admin.Create(ctx, binding))
}

// eventually polls check until it returns nil, failing the test with the last error.
func eventually(t testing.TB, what string, check func() error) {
	t.Helper()
	testenv.Eventually(t, testCtx, what, check)
}

// as returns a client acting as a tenant user, like `kubectl --as=<user> --as-group=webhook-test:tenants`.
func as(t testing.TB, user string) client.Client {
	t.Helper()
	c, err := client.New(controlplane.Impersonate(testEnv.Config, user, tenantsGroup), client.Options{Scheme: manager.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var counter atomic.Int64

func unique(prefix string) string { return fmt.Sprintf("%s-%d", prefix, counter.Add(1)) }

// tenant is an organization with one workspace and a user per role.
type tenant struct {
	org           *v1.Organization
	ws            *v1.Workspace
	orgNS, wsNS   string
	owner, admin  string
	member        string
	wsAdmin       string
	manager       string
	wsMember      string
	ownerMembship *v1.Membership
}

// newTenant creates an organization, a workspace and one Membership per role
// as the platform admin, and waits until the webhooks' cache sees them all.
func newTenant(t testing.TB) *tenant {
	t.Helper()
	name := unique("wh")
	tn := &tenant{owner: name + "-owner", admin: name + "-admin", member: name + "-member",
		wsAdmin: name + "-wsadmin", manager: name + "-manager", wsMember: name + "-wsmember"}
	tn.org = &v1.Organization{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := admin.Create(testCtx, tn.org); err != nil {
		t.Fatal(err)
	}
	tn.orgNS = tenancy.OrgNamespace(tn.org)
	waitNamespace(t, tn.orgNS)
	tn.ws = &v1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "team", Namespace: tn.orgNS}, Spec: v1.WorkspaceSpec{Organization: name}}
	if err := admin.Create(testCtx, tn.ws); err != nil {
		t.Fatal(err)
	}
	tn.wsNS = tenancy.WorkspaceNamespace(tn.ws)
	waitNamespace(t, tn.wsNS)
	tn.ownerMembship = grant(t, tn.orgNS, tn.owner, v1.RoleOwner)
	grant(t, tn.orgNS, tn.admin, v1.RoleAdmin)
	grant(t, tn.orgNS, tn.member, v1.RoleMember)
	grant(t, tn.wsNS, tn.wsAdmin, v1.RoleAdmin)
	grant(t, tn.wsNS, tn.manager, v1.RoleManager)
	grant(t, tn.wsNS, tn.wsMember, v1.RoleMember)
	return tn
}

// waitNamespace waits until the tenancy controllers made the namespace and
// the manager's cache holds it with its tenancy labels.
func waitNamespace(t testing.TB, name string) {
	t.Helper()
	eventually(t, "namespace "+name+" in the cache", func() error {
		ns := &corev1.Namespace{}
		if err := mgrCache.Get(testCtx, types.NamespacedName{Name: name}, ns); err != nil {
			return err
		}
		if ns.Labels[v1.LabelOrganization] == "" {
			return fmt.Errorf("namespace %s has no %s label yet", name, v1.LabelOrganization)
		}
		return nil
	})
}

// grant creates a Membership as the platform admin and waits until the
// webhooks' cache holds it.
func grant(t testing.TB, ns, user string, role v1.Role) *v1.Membership {
	t.Helper()
	m := &v1.Membership{ObjectMeta: metav1.ObjectMeta{Name: unique("m"), Namespace: ns},
		Spec: v1.MembershipSpec{Subject: v1.Subject{Kind: v1.SubjectUser, Name: user}, Role: role}}
	if err := admin.Create(testCtx, m); err != nil {
		t.Fatalf("granting %s to %s in %s: %v", role, user, ns, err)
	}
	eventually(t, "membership in the cache", func() error {
		return mgrCache.Get(testCtx, client.ObjectKeyFromObject(m), &v1.Membership{})
	})
	return m
}

// membership is a Membership object (not created).
func membership(ns, user string, role v1.Role) *v1.Membership {
	return &v1.Membership{ObjectMeta: metav1.ObjectMeta{Name: unique("m"), Namespace: ns},
		Spec: v1.MembershipSpec{Subject: v1.Subject{Kind: v1.SubjectUser, Name: user}, Role: role}}
}

// denied fails unless err is a webhook denial whose message holds every fragment.
func denied(t testing.TB, what string, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: allowed, want denied", what)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Fatalf("%s: error %q lacks %q", what, err, f)
		}
	}
}

func allowed(t testing.TB, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: denied, want allowed: %v", what, err)
	}
}

// canIOnly answers `kubectl auth can-i ... --as=<user>` from the RBAC the
// operator generated alone (without the test group's grant).
func canIOnly(t testing.TB, user string, attrs authorizationv1.ResourceAttributes) bool {
	t.Helper()
	c, err := client.New(controlplane.Impersonate(testEnv.Config, user), client.Options{Scheme: manager.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}
	if err := c.Create(testCtx, review); err != nil {
		t.Fatalf("SelfSubjectAccessReview as %s: %v", user, err)
	}
	return review.Status.Allowed
}

// contains reports whether err's message holds every fragment.
func contains(err error, fragments ...string) bool {
	if err == nil {
		return false
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			return false
		}
	}
	return true
}

// updateAs reads obj fresh, applies mutate and updates it as c, retrying on
// conflicts with the controllers' own writes. It returns the webhook's answer.
func updateAs(c client.Client, obj client.Object, mutate func()) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := admin.Get(testCtx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate()
		return c.Update(testCtx, obj)
	})
}

// updateStatusAs is updateAs for the status subresource.
func updateStatusAs(c client.Client, obj client.Object, mutate func()) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := admin.Get(testCtx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate()
		return c.Status().Update(testCtx, obj)
	})
}
