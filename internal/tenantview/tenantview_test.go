package tenantview_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	tenancyv1alpha1 "github.com/tenantward/tenantward/api/tenancy/v1alpha1"
	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/testenv"
)

var (
	op     *testenv.Operator
	ctx    context.Context
	scheme = runtime.NewScheme()
)

func TestMain(m *testing.M) {
	utilruntime.Must(tenancyv1alpha1.AddToScheme(scheme))
	testenv.Main(m, testenv.Options{TenantView: true}, func(o *testenv.Operator) error {
		op, ctx = o, o.Ctx
		return nil
	})
}

// asUser is a client that impersonates a tenant, the way kubectl --as does:
// every request goes through the kube-apiserver's aggregation layer.
func asUser(t testing.TB, user string, groups ...string) client.Client {
	t.Helper()
	c, err := client.New(controlplane.Impersonate(op.Env.Config, user, groups...), client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	testenv.Eventually(t, ctx, what, check)
}

// newOrg creates an organization with workspaces and waits for their namespaces.
func newOrg(t *testing.T, name string, workspaces ...string) (orgNS string, wsNS map[string]string) {
	t.Helper()
	org := &accessv1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: accessv1alpha1.OrganizationSpec{DisplayName: strings.ToUpper(name)}}
	if err := op.Admin.Create(ctx, org); err != nil {
		t.Fatal(err)
	}
	eventually(t, "organization "+name+" has a namespace", func() error {
		if err := op.Admin.Get(ctx, client.ObjectKeyFromObject(org), org); err != nil {
			return err
		}
		if org.Status.Namespace == "" {
			return fmt.Errorf("no status.namespace")
		}
		return nil
	})
	wsNS = map[string]string{}
	for _, w := range workspaces {
		ws := &accessv1alpha1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: w, Namespace: org.Status.Namespace}, Spec: accessv1alpha1.WorkspaceSpec{Organization: name}}
		if err := op.Admin.Create(ctx, ws); err != nil {
			t.Fatal(err)
		}
		eventually(t, "workspace "+w+" has a namespace", func() error {
			if err := op.Admin.Get(ctx, client.ObjectKeyFromObject(ws), ws); err != nil {
				return err
			}
			if ws.Status.Namespace == "" {
				return fmt.Errorf("no status.namespace")
			}
			return nil
		})
		wsNS[w] = ws.Status.Namespace
	}
	return org.Status.Namespace, wsNS
}

func member(t *testing.T, ns string, s accessv1alpha1.Subject, role accessv1alpha1.Role) *accessv1alpha1.Membership {
	t.Helper()
	m := &accessv1alpha1.Membership{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "m-", Namespace: ns},
		Spec:       accessv1alpha1.MembershipSpec{Subject: s, Role: role},
	}
	if err := op.Admin.Create(ctx, m); err != nil {
		t.Fatal(err)
	}
	return m
}

func user(name string) accessv1alpha1.Subject {
	return accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectUser, Name: name}
}

// orgsOf renders what a caller's `kubectl get organizations.tenancy.tenantward.io` lists.
func orgsOf(c client.Client) (string, error) {
	var l tenancyv1alpha1.OrganizationList
	if err := c.List(ctx, &l); err != nil {
		return "", err
	}
	var out []string
	for _, o := range l.Items {
		out = append(out, fmt.Sprintf("%s:%s:%s:%s:%s", o.Name, o.Role, o.Namespace, o.DisplayName, strings.Join(o.Workspaces, ",")))
	}
	return strings.Join(out, " "), nil
}

// workspacesOf renders what a caller's `kubectl get workspaces.tenancy.tenantward.io` lists.
func workspacesOf(c client.Client, opts ...client.ListOption) (string, error) {
	var l tenancyv1alpha1.WorkspaceList
	if err := c.List(ctx, &l, opts...); err != nil {
		return "", err
	}
	var out []string
	for _, w := range l.Items {
		out = append(out, fmt.Sprintf("%s/%s:%s:%s", w.Organization, w.Workspace, w.Role, w.Namespace))
	}
	return strings.Join(out, " "), nil
}

func expect(t *testing.T, what string, got func() (string, error), want string) {
	t.Helper()
	eventually(t, what, func() error {
		g, err := got()
		if err != nil {
			return err
		}
		if g != want {
			return fmt.Errorf("got %q, want %q", g, want)
		}
		return nil
	})
}

func TestTenantsSeeTheirOwnTenancy(t *testing.T) {
	acmeNS, acmeWS := newOrg(t, "view-acme", "research", "sales")
	globexNS, globexWS := newOrg(t, "view-globex", "labs")

	member(t, acmeNS, user("alice@view.test"), accessv1alpha1.RoleOwner)
	erinAcme := member(t, acmeNS, user("erin@view.test"), accessv1alpha1.RoleMember)
	member(t, acmeWS["research"], user("erin@view.test"), accessv1alpha1.RoleAdmin)
	member(t, globexWS["labs"], user("erin@view.test"), accessv1alpha1.RoleManager)
	member(t, globexNS, accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectGroup, Name: "globex-devs"}, accessv1alpha1.RoleAdmin)
	member(t, acmeWS["sales"], accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectServiceAccount, Namespace: "ci", Name: "deployer"}, accessv1alpha1.RoleMember)
	member(t, globexNS, accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectServiceAccount, Namespace: "ci", Name: "deployer"}, accessv1alpha1.RoleMember)
	member(t, acmeNS, accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectGroup, Name: "contractors"}, accessv1alpha1.RoleMember)
	member(t, globexWS["labs"], accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectGroup, Name: "contractors"}, accessv1alpha1.RoleAdmin)

	alice := asUser(t, "alice@view.test")
	erin := asUser(t, "erin@view.test")
	dave := asUser(t, "dave@view.test", "globex-devs")
	bot := asUser(t, "system:serviceaccount:ci:deployer", "system:serviceaccounts", "system:serviceaccounts:ci")
	nobody := asUser(t, "nobody@view.test")
	carol := asUser(t, "carol@view.test", "contractors")

	t.Run("organizations", func(t *testing.T) {
		expect(t, "alice's organizations", func() (string, error) { return orgsOf(alice) },
			"view-acme:organization/owner:"+acmeNS+":VIEW-ACME:research,sales")
		expect(t, "erin's organizations", func() (string, error) { return orgsOf(erin) },
			"view-acme:organization/member:"+acmeNS+":VIEW-ACME:research,sales view-globex::"+globexNS+":VIEW-GLOBEX:labs")
		expect(t, "dave's organizations, through his group", func() (string, error) { return orgsOf(dave) },
			"view-globex:organization/admin:"+globexNS+":VIEW-GLOBEX:labs")
		expect(t, "the service account's organizations", func() (string, error) { return orgsOf(bot) },
			"view-acme::"+acmeNS+":VIEW-ACME:sales view-globex:organization/member:"+globexNS+":VIEW-GLOBEX:labs")
		expect(t, "carol's organizations, through a group in two of them", func() (string, error) { return orgsOf(carol) },
			"view-acme:organization/member:"+acmeNS+":VIEW-ACME:research,sales view-globex::"+globexNS+":VIEW-GLOBEX:labs")
		expect(t, "a user in no organization sees an empty list", func() (string, error) { return orgsOf(nobody) }, "")
	})

	t.Run("workspaces", func(t *testing.T) {
		expect(t, "erin's workspaces: the higher role acts", func() (string, error) { return workspacesOf(erin) },
			"view-acme/research:workspace/admin:"+acmeWS["research"]+
				" view-acme/sales:organization/member:"+acmeWS["sales"]+
				" view-globex/labs:workspace/manager:"+globexWS["labs"])
		expect(t, "erin's workspaces in one organization", func() (string, error) {
			return workspacesOf(erin, client.MatchingLabels{accessv1alpha1.LabelOrganization: "view-globex"})
		}, "view-globex/labs:workspace/manager:"+globexWS["labs"])
		expect(t, "the service account's workspaces", func() (string, error) { return workspacesOf(bot) },
			"view-acme/sales:workspace/member:"+acmeWS["sales"]+" view-globex/labs:organization/member:"+globexWS["labs"])
		expect(t, "carol's workspaces, through her group", func() (string, error) { return workspacesOf(carol) },
			"view-acme/research:organization/member:"+acmeWS["research"]+
				" view-acme/sales:organization/member:"+acmeWS["sales"]+
				" view-globex/labs:workspace/admin:"+globexWS["labs"])
		expect(t, "a user in no organization sees no workspaces", func() (string, error) { return workspacesOf(nobody) }, "")
	})

	t.Run("cross-org names are not found", func(t *testing.T) {
		err := dave.Get(ctx, client.ObjectKey{Name: "view-acme"}, &tenancyv1alpha1.Organization{})
		if !apierrors.IsNotFound(err) {
			t.Fatalf("dave getting organization view-acme: got %v, want NotFound", err)
		}
		var o tenancyv1alpha1.Organization
		if err := dave.Get(ctx, client.ObjectKey{Name: "view-globex"}, &o); err != nil || o.Role != "organization/admin" {
			t.Fatalf("dave getting his organization view-globex: %v, role %q", err, o.Role)
		}
		got, err := workspacesOf(dave)
		if err != nil || strings.Contains(got, "view-acme") {
			t.Fatalf("dave's workspaces name another organization: %q, %v", got, err)
		}
	})

	t.Run("access", func(t *testing.T) {
		var got tenancyv1alpha1.AccessList
		eventually(t, "erin's access in acme's research workspace", func() error {
			if err := erin.List(ctx, &got, client.InNamespace(acmeWS["research"])); err != nil {
				return err
			}
			if len(got.Items) != 1 {
				return fmt.Errorf("got %d items, want 1", len(got.Items))
			}
			return nil
		})
		a := got.Items[0]
		if a.Name != "mine" || a.Organization != "view-acme" || a.Workspace != "research" || a.Role != "workspace/admin" {
			t.Errorf("erin's access: %s %s/%s role %s, want mine view-acme/research workspace/admin", a.Name, a.Organization, a.Workspace, a.Role)
		}
		var roles []string
		for _, m := range a.Memberships {
			roles = append(roles, m.Namespace+":"+m.Subject+":"+m.Role)
		}
		if want := []string{acmeNS + ":User:erin@view.test:organization/member", acmeWS["research"] + ":User:erin@view.test:workspace/admin"}; !slices.Equal(roles, want) {
			t.Errorf("erin's memberships: %v, want %v", roles, want)
		}
		var logs []string
		for _, p := range a.Permissions {
			if p.Feature == "logs-and-analytics" {
				logs = p.Verbs
			}
		}
		if !slices.Equal(logs, []string{"filter", "get", "group"}) {
			t.Errorf("erin's logs-and-analytics verbs: %v", logs)
		}
		if len(a.KeyCeiling) == 0 || len(a.IntegrationAccess) == 0 {
			t.Errorf("erin's access has no key ceiling or integration access: %+v", a)
		}
		if err := erin.Get(ctx, client.ObjectKey{Namespace: acmeWS["research"], Name: "mine"}, &tenancyv1alpha1.Access{}); err != nil {
			t.Errorf("erin getting access/mine: %v", err)
		}
		// dave holds nothing in acme: his view there is empty, exactly like a
		// namespace that does not exist.
		for _, ns := range []string{acmeNS, acmeWS["research"], "no-such-namespace"} {
			var none tenancyv1alpha1.AccessList
			if err := dave.List(ctx, &none, client.InNamespace(ns)); err != nil || len(none.Items) != 0 {
				t.Errorf("dave's access in %s: %d items, %v; want an empty list", ns, len(none.Items), err)
			}
		}
	})

	t.Run("kubectl get prints the view", func(t *testing.T) {
		out := kubectl(t, "--as", "erin@view.test", "get", "organizations.tenancy.tenantward.io")
		lines := strings.Split(out, "\n")
		if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "NAME ROLE NAMESPACE DISPLAY-NAME WORKSPACES" ||
			!strings.HasPrefix(lines[1], "view-acme ") || !strings.HasPrefix(lines[2], "view-globex ") {
			t.Errorf("kubectl get organizations as erin printed:\n%s", out)
		}
	})

	t.Run("kubectl auth can-i answers logs and analytics", func(t *testing.T) {
		// kubectl resolves logs.gateway.tenantward.io through discovery (the
		// gateway CRDs serve logs and analytics), then asks a
		// SelfSubjectAccessReview: the answer is the table's RBAC.
		for _, tc := range []struct {
			who  []string
			ns   string
			want string
		}{
			{[]string{"--as", "alice@view.test"}, acmeNS, "yes"},                               // owner
			{[]string{"--as", "erin@view.test"}, acmeNS, "yes"},                                // member
			{[]string{"--as", "erin@view.test"}, acmeWS["research"], "yes"},                    // workspace admin
			{[]string{"--as", "dave@view.test", "--as-group", "globex-devs"}, globexNS, "yes"}, // admin through a group
			{[]string{"--as", "dave@view.test", "--as-group", "globex-devs"}, acmeNS, "no"},    // another org's user
			{[]string{"--as", "nobody@view.test"}, acmeWS["research"], "no"},                   // in no org
		} {
			for _, verb := range []string{"get", "filter", "group"} {
				for _, res := range []string{"logs.gateway.tenantward.io", "analytics.gateway.tenantward.io"} {
					args := append(append([]string{}, tc.who...), "auth", "can-i", verb, res, "-n", tc.ns)
					// The operator binds the roles shortly after the Memberships appear.
					eventually(t, "kubectl "+strings.Join(args, " "), func() error {
						if got := kubectl(t, args...); got != tc.want {
							return fmt.Errorf("%q, want %q", got, tc.want)
						}
						return nil
					})
				}
			}
		}
	})

	t.Run("logs and analytics store nothing", func(t *testing.T) {
		for _, kind := range []string{"Log", "Analytics"} {
			u := &unstructured.Unstructured{}
			u.SetAPIVersion("gateway.tenantward.io/v1alpha1")
			u.SetKind(kind)
			u.SetName("any")
			u.SetNamespace(acmeNS)
			err := op.Admin.Create(ctx, u)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "store no objects") {
				t.Errorf("the admin creating a %s: got %v, want it refused (store no objects)", kind, err)
			}
		}
	})

	t.Run("removing a Membership removes the entry", func(t *testing.T) {
		if err := op.Admin.Delete(ctx, erinAcme); err != nil {
			t.Fatal(err)
		}
		expect(t, "erin's organizations without her acme membership", func() (string, error) { return orgsOf(erin) },
			"view-acme::"+acmeNS+":VIEW-ACME:research view-globex::"+globexNS+":VIEW-GLOBEX:labs")
		got, err := workspacesOf(erin)
		if err != nil || slices.Contains(strings.Fields(got), "view-acme/sales:organization/member:"+acmeWS["sales"]) {
			t.Fatalf("erin still sees acme's sales workspace: %q, %v", got, err)
		}
	})
}

// kubectl runs the control plane's kubectl as the admin and returns its
// trimmed standard output; `auth can-i` answering no (exit status 1) is an
// answer, not a failure. Anything on standard error fails the test but
// kubectl's note that a custom verb (filter, group) is not one it knows.
var customVerb = regexp.MustCompile(`(?m)^Warning: verb '(filter|group)' is not a known verb\s*`)

func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	kubeconfig, err := op.Env.WriteKubeconfig(t.TempDir(), "kubectl-admin")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := controlplane.BinaryDir()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, filepath.Join(dir, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...) //nolint:gosec // the control plane's own kubectl
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	warning := strings.TrimSpace(customVerb.ReplaceAllString(stderr.String(), ""))
	answeredNo := errors.As(err, &exit) && exit.ExitCode() == 1 && strings.TrimSpace(stdout.String()) == "no"
	if (err != nil && !answeredNo) || warning != "" {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return strings.TrimSpace(stdout.String())
}

// BenchmarkThroughAPIServer lists a user's organizations through the
// kube-apiserver's aggregation layer, beside a plain get of one Organization,
// in the same run. It needs the control plane: run it with a test, e.g.
// -run TestTenantsSeeTheirOwnTenancy -bench ThroughAPIServer.
func BenchmarkThroughAPIServer(b *testing.B) {
	if op == nil {
		b.Skip("needs the control plane: run with -run TestTenantsSeeTheirOwnTenancy")
	}
	erin := asUser(b, "erin@view.test")
	b.Run("list my organizations", func(b *testing.B) {
		for b.Loop() {
			if err := erin.List(ctx, &tenancyv1alpha1.OrganizationList{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get one Organization", func(b *testing.B) {
		for b.Loop() {
			if err := op.Admin.Get(ctx, client.ObjectKey{Name: "view-acme"}, &accessv1alpha1.Organization{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
