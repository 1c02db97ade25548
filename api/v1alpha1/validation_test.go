package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/controlplane"
)

// These tests run the CRD schemas in a real kube-apiserver: what the API server
// rejects even when the operator and its webhooks are down.

var (
	c   client.Client
	env *controlplane.Env
)

func TestMain(m *testing.M) {
	var err error
	env, err = controlplane.Start(controlplane.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scheme := runtime.NewScheme()
	_ = v1.AddToScheme(scheme)
	_ = corev1.AddToScheme(scheme)
	c, err = client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

func ns(t *testing.T, name string) string {
	t.Helper()
	err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	return name
}

func wantInvalid(t *testing.T, err error, msg string) {
	t.Helper()
	if !apierrors.IsInvalid(err) {
		t.Fatalf("want an Invalid error mentioning %q, got %v", msg, err)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Fatalf("want the error to say %q, got %v", msg, err)
	}
}

func TestAPIKeyDefaultsFollowTheProduct(t *testing.T) {
	ctx := context.Background()
	k := &v1.APIKey{ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: ns(t, "keys")}}
	if err := c.Create(ctx, k); err != nil {
		t.Fatal(err)
	}
	// The product's defaults: Metrics Disabled, Completions Enabled, Prompts Read, the rest Disabled.
	want := v1.APIKeyPermissions{
		Metrics: "Disabled", Completions: "Enabled", Prompts: "Read", Configs: "Disabled",
		Guardrails: "Disabled", Integrations: "Disabled", Providers: "Disabled", Models: "Disabled", Users: "Disabled",
	}
	if k.Spec.Permissions != want {
		t.Fatalf("defaults = %+v, want %+v", k.Spec.Permissions, want)
	}
	if k.Spec.State != "Enabled" {
		t.Fatalf("state = %q, want Enabled", k.Spec.State)
	}
}

func TestAPIKeyRejectsUnknownLevelAndSecretNameChange(t *testing.T) {
	ctx := context.Background()
	k := &v1.APIKey{ObjectMeta: metav1.ObjectMeta{Name: "bad-level", Namespace: ns(t, "keys")}}
	k.Spec.Permissions.Prompts = "Admin"
	wantInvalid(t, c.Create(ctx, k), `supported values: "Disabled", "Read", "Write", "Delete"`)

	k = &v1.APIKey{ObjectMeta: metav1.ObjectMeta{Name: "named", Namespace: ns(t, "keys")}, Spec: v1.APIKeySpec{SecretName: "first"}}
	if err := c.Create(ctx, k); err != nil {
		t.Fatal(err)
	}
	k.Spec.SecretName = "second"
	wantInvalid(t, c.Update(ctx, k), "secretName is immutable")
}

func TestWorkspacePlacementIsImmutable(t *testing.T) {
	ctx := context.Background()
	w := &v1.Workspace{
		ObjectMeta: metav1.ObjectMeta{Name: "research", Namespace: ns(t, "org-acme")},
		Spec:       v1.WorkspaceSpec{Organization: "acme"},
	}
	if err := c.Create(ctx, w); err != nil {
		t.Fatal(err)
	}
	w.Spec.Organization = "other"
	wantInvalid(t, c.Update(ctx, w), "organization is immutable")
	w.Spec.Organization = "acme"
	w.Spec.Namespace = "elsewhere"
	wantInvalid(t, c.Update(ctx, w), "namespace is immutable")
}

func TestMembershipSubjectRules(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		spec    v1.MembershipSpec
		wantErr string
	}{
		{"sa-without-namespace", v1.MembershipSpec{Role: "member", Subject: v1.Subject{Kind: "ServiceAccount", Name: "bot"}}, "namespace is required for a ServiceAccount"},
		{"user-with-namespace", v1.MembershipSpec{Role: "member", Subject: v1.Subject{Kind: "User", Name: "a", Namespace: "x"}}, "not allowed for User or Group"},
		{"unknown-role", v1.MembershipSpec{Role: "superuser", Subject: v1.Subject{Kind: "User", Name: "a"}}, `supported values: "owner", "admin", "manager", "member"`},
		{"unknown-kind", v1.MembershipSpec{Role: "member", Subject: v1.Subject{Kind: "Robot", Name: "a"}}, `supported values: "User", "Group", "ServiceAccount"`},
		{"oversized-name", v1.MembershipSpec{Role: "member", Subject: v1.Subject{Kind: "User", Name: strings.Repeat("x", 300)}}, "Too long"},
		{"valid-sa", v1.MembershipSpec{Role: "member", Subject: v1.Subject{Kind: "ServiceAccount", Name: "bot", Namespace: "ci"}}, ""},
		// Cluster-wide and platform identities are never tenants.
		{"group-system-authenticated", v1.MembershipSpec{Role: "admin", Subject: v1.Subject{Kind: "Group", Name: "system:authenticated"}}, "never names a system: identity"},
		{"user-system-admin", v1.MembershipSpec{Role: "admin", Subject: v1.Subject{Kind: "User", Name: "system:admin"}}, "never names a system: identity"},
		{"user-service-account", v1.MembershipSpec{Role: "admin", Subject: v1.Subject{Kind: "User", Name: "system:serviceaccount:ci:bot"}}, "a service account is a subject of kind ServiceAccount"},
		// Names are printable ASCII: a Cyrillic а (U+0430) cannot pass for a Latin a.
		{"look-alike", v1.MembershipSpec{Role: "member", Subject: v1.Subject{Kind: "User", Name: "c\u0430rol@acme.example"}}, "printable ASCII without spaces or control characters"},
		{"control-character", v1.MembershipSpec{Role: "member", Subject: v1.Subject{Kind: "User", Name: "carol@acme.example\n"}}, "printable ASCII"},
		{"escape-sequence", v1.MembershipSpec{Role: "member", Subject: v1.Subject{Kind: "Group", Name: "\x1b[2Kleads"}}, "printable ASCII"},
		{"space", v1.MembershipSpec{Role: "member", Subject: v1.Subject{Kind: "User", Name: "carol @acme.example"}}, "printable ASCII"},
		{"ascii-twin", v1.MembershipSpec{Role: "member", Subject: v1.Subject{Kind: "User", Name: "carol@acme.example"}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := &v1.Membership{ObjectMeta: metav1.ObjectMeta{Name: tc.name, Namespace: ns(t, "org-acme")}, Spec: tc.spec}
			err := c.Create(ctx, m)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantInvalid(t, err, tc.wantErr)
		})
	}
}

// TestOwnerRoleIsImmutable: every removal of an owner is a deletion, which the
// last-owner finalizer covers; promotion stays an update.
func TestOwnerRoleIsImmutable(t *testing.T) {
	ctx := context.Background()
	m := &v1.Membership{ObjectMeta: metav1.ObjectMeta{Name: "owner-role", Namespace: ns(t, "org-acme")},
		Spec: v1.MembershipSpec{Role: "owner", Subject: v1.Subject{Kind: "User", Name: "olga"}}}
	if err := c.Create(ctx, m); err != nil {
		t.Fatal(err)
	}
	m.Spec.Role = "admin"
	wantInvalid(t, c.Update(ctx, m), "the role of an owner Membership is immutable: to demote an owner, create the new Membership and delete this one")

	p := &v1.Membership{ObjectMeta: metav1.ObjectMeta{Name: "promoted", Namespace: ns(t, "org-acme")},
		Spec: v1.MembershipSpec{Role: "admin", Subject: v1.Subject{Kind: "User", Name: "pat"}}}
	if err := c.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.Spec.Role = "owner"
	if err := c.Update(ctx, p); err != nil {
		t.Fatalf("promoting an admin to owner: %v", err)
	}
}

// TestRotationBounds: rotation.period is at least 1h, gracePeriod not negative.
func TestRotationBounds(t *testing.T) {
	ctx := context.Background()
	key := func(period, grace string) *v1.APIKey {
		r := &v1.Rotation{}
		if period != "" {
			d, err := time.ParseDuration(period)
			if err != nil {
				t.Fatal(err)
			}
			r.Period = &metav1.Duration{Duration: d}
		}
		if grace != "" {
			d, err := time.ParseDuration(grace)
			if err != nil {
				t.Fatal(err)
			}
			r.GracePeriod = &metav1.Duration{Duration: d}
		}
		return &v1.APIKey{ObjectMeta: metav1.ObjectMeta{GenerateName: "rot-", Namespace: ns(t, "keys")}, Spec: v1.APIKeySpec{Rotation: r}}
	}
	wantInvalid(t, c.Create(ctx, key("1s", "")), "rotation.period is at least 1h")
	wantInvalid(t, c.Create(ctx, key("59m59s", "")), "rotation.period is at least 1h")
	wantInvalid(t, c.Create(ctx, key("", "-1s")), "rotation.gracePeriod is 0s or longer")
	for _, ok := range [][2]string{{"1h", "0s"}, {"720h", "24h"}} {
		if err := c.Create(ctx, key(ok[0], ok[1])); err != nil {
			t.Errorf("period %s, grace %s: %v", ok[0], ok[1], err)
		}
	}
}

func TestOrganizationRules(t *testing.T) {
	ctx := context.Background()
	o := &v1.Organization{ObjectMeta: metav1.ObjectMeta{Name: "globex"}}
	if err := c.Create(ctx, o); err != nil {
		t.Fatal(err)
	}
	if o.Spec.MasterKey != v1.MasterKeyCreate || o.Spec.DeletionPolicy != v1.DeletionRefuse {
		t.Fatalf("defaults: masterKey=%q deletionPolicy=%q, want Create and Refuse", o.Spec.MasterKey, o.Spec.DeletionPolicy)
	}
	o.Spec.Namespace = "globex-moved"
	wantInvalid(t, c.Update(ctx, o), "namespace is immutable")

	long := &v1.Organization{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("a", 60)}}
	wantInvalid(t, c.Create(ctx, long), "at most 59 characters")

	bad := &v1.Organization{ObjectMeta: metav1.ObjectMeta{Name: "badmail"}, Spec: v1.OrganizationSpec{Billing: &v1.Billing{ContactEmail: "not-an-email"}}}
	wantInvalid(t, c.Create(ctx, bad), "spec.billing.contactEmail")
}

// TestNamespaceNamesStayUnambiguous: "--" marks workspace namespaces
// (<organization>--<workspace>) and "org-" organization namespaces, so the API
// server itself keeps every name one organization's.
func TestNamespaceNamesStayUnambiguous(t *testing.T) {
	ctx := context.Background()
	wantInvalid(t, c.Create(ctx, &v1.Organization{ObjectMeta: metav1.ObjectMeta{Name: "a--b"}}), `organization names may not contain "--"`)
	wantInvalid(t, c.Create(ctx, &v1.Organization{ObjectMeta: metav1.ObjectMeta{Name: "dash"}, Spec: v1.OrganizationSpec{Namespace: "acme--x"}}),
		`an organization's namespace may not contain "--"`)
	wantInvalid(t, c.Create(ctx, &v1.Organization{ObjectMeta: metav1.ObjectMeta{Name: "squat"}, Spec: v1.OrganizationSpec{Namespace: "org-acme"}}),
		`may start with "org-" only as org-<this organization's name>`)
	for _, name := range []string{"a-b", "own-ns"} {
		o := &v1.Organization{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if name == "own-ns" {
			o.Spec.Namespace = "org-own-ns"
		}
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("organization %s: %v", name, err)
		}
	}

	ws := func(name, namespace string) *v1.Workspace {
		return &v1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns(t, "org-acme")},
			Spec: v1.WorkspaceSpec{Organization: "acme", Namespace: namespace}}
	}
	const rule = `namespace must be <organization>--<suffix> when it contains "--" or starts with "org-"`
	wantInvalid(t, c.Create(ctx, ws("other-org", "org-globex")), rule)
	wantInvalid(t, c.Create(ctx, ws("other-ws", "globex--x")), rule)
	wantInvalid(t, c.Create(ctx, ws("inner", "acmex--x")), rule)
	for name, namespace := range map[string]string{"custom": "acme--custom", "platform": "shared-tools"} {
		if err := c.Create(ctx, ws(name, namespace)); err != nil {
			t.Errorf("workspace at %s: %v", namespace, err)
		}
	}
}

func TestIntegrationPolicyIsASingleton(t *testing.T) {
	ctx := context.Background()
	p := &v1.IntegrationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "custom", Namespace: ns(t, "org-acme")}}
	wantInvalid(t, c.Create(ctx, p), "must be named default")
	p = &v1.IntegrationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns(t, "org-acme")},
		Spec: v1.IntegrationPolicySpec{MCPServers: &v1.IntegrationAccess{ManagersWrite: "Maybe"}}}
	wantInvalid(t, c.Create(ctx, p), `supported values: "Allowed", "Denied"`)
}

// TestEnumsAndBoundsNameTheField creates objects that break one enum, bound or
// pattern each; the API server must reject each with a message naming the field.
func TestEnumsAndBoundsNameTheField(t *testing.T) {
	ctx := context.Background()
	long := func(n int) string { return strings.Repeat("a", n) }
	key := func(mut func(*v1.APIKey)) client.Object {
		k := &v1.APIKey{ObjectMeta: metav1.ObjectMeta{GenerateName: "k-", Namespace: ns(t, "keys")}}
		mut(k)
		return k
	}
	org := func(mut func(*v1.Organization)) client.Object {
		o := &v1.Organization{ObjectMeta: metav1.ObjectMeta{GenerateName: "o-"}}
		mut(o)
		return o
	}
	ws := func(mut func(*v1.Workspace)) client.Object {
		w := &v1.Workspace{ObjectMeta: metav1.ObjectMeta{GenerateName: "w-", Namespace: ns(t, "org-acme")}, Spec: v1.WorkspaceSpec{Organization: "acme"}}
		mut(w)
		return w
	}
	cases := []struct {
		name  string
		obj   client.Object
		field string
	}{
		{"metrics toggle", key(func(k *v1.APIKey) { k.Spec.Permissions.Metrics = "Read" }), "spec.permissions.metrics"},
		{"completions toggle", key(func(k *v1.APIKey) { k.Spec.Permissions.Completions = "On" }), "spec.permissions.completions"},
		{"users level", key(func(k *v1.APIKey) { k.Spec.Permissions.Users = "Admin" }), "spec.permissions.users"},
		{"key state", key(func(k *v1.APIKey) { k.Spec.State = "Paused" }), "spec.state"},
		{"key description bound", key(func(k *v1.APIKey) { k.Spec.Description = long(1025) }), "spec.description"},
		{"secret name pattern", key(func(k *v1.APIKey) { k.Spec.SecretName = "Not_A_Name" }), "spec.secretName"},
		{"billing plan", org(func(o *v1.Organization) { o.Spec.Billing = &v1.Billing{Plan: "Gold"} }), "spec.billing.plan"},
		{"budget bound", org(func(o *v1.Organization) { o.Spec.Billing = &v1.Billing{MonthlyBudgetUSD: -1} }), "spec.billing.monthlyBudgetUSD"},
		{"master key policy", org(func(o *v1.Organization) { o.Spec.MasterKey = "Maybe" }), "spec.masterKey"},
		{"org deletion policy", org(func(o *v1.Organization) { o.Spec.DeletionPolicy = "Orphan" }), "spec.deletionPolicy"},
		{"org display name bound", org(func(o *v1.Organization) { o.Spec.DisplayName = long(257) }), "spec.displayName"},
		{"org namespace pattern", org(func(o *v1.Organization) { o.Spec.Namespace = "Org_Acme" }), "spec.namespace"},
		{"workspace namespace bound", ws(func(w *v1.Workspace) { w.Spec.Namespace = long(64) }), "spec.namespace"},
		{"workspace organization pattern", ws(func(w *v1.Workspace) { w.Spec.Organization = "ACME" }), "spec.organization"},
		{"workspace deletion policy", ws(func(w *v1.Workspace) { w.Spec.DeletionPolicy = "Orphan" }), "spec.deletionPolicy"},
		{"workspace name bound", ws(func(w *v1.Workspace) { w.GenerateName = ""; w.Name = long(64) }), "at most 63 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantInvalid(t, c.Create(ctx, tc.obj), tc.field)
		})
	}
}

var nextField = regexp.MustCompile(`\n  [a-zA-Z]+\t`)

// TestExplainDocumentsEveryKeyFeature runs `kubectl explain` as a user would:
// every API-key feature is documented with its default.
func TestExplainDocumentsEveryKeyFeature(t *testing.T) {
	kubeconfig, err := env.WriteKubeconfig(t.TempDir(), "explainer")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(env.BinaryAssetsDirectory, "kubectl"), "--kubeconfig", kubeconfig,
		"explain", "apikey.spec.permissions").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl explain: %v\n%s", err, out)
	}
	// The API-key permissions table (docs/apikeys.md): feature, and its default.
	for feature, def := range map[string]string{
		"metrics": "Default Disabled", "completions": "Default Enabled", "prompts": "Default Read",
		"configs": "Default Disabled", "guardrails": "Default Disabled", "integrations": "Default Disabled",
		"providers": "Default Disabled", "models": "Default Disabled", "users": "Default Disabled",
	} {
		i := strings.Index(string(out), "\n  "+feature+"\t")
		if i < 0 {
			t.Errorf("kubectl explain does not document %s:\n%s", feature, out)
			continue
		}
		// The feature's entry runs to the next field at the same indentation;
		// explain wraps descriptions, so compare with whitespace collapsed.
		entry := string(out[i+1:])
		if end := nextField.FindStringIndex(entry); end != nil {
			entry = entry[:end[0]]
		}
		if !strings.Contains(strings.Join(strings.Fields(entry), " "), def) {
			t.Errorf("kubectl explain does not give %s's %q", feature, def)
		}
	}
}
