package plugin_test

import (
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/plugin"
	"github.com/tenantward/tenantward/internal/testenv"
)

var op *testenv.Operator

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{TenantView: true}, func(o *testenv.Operator) error {
		op = o
		return nil
	})
}

// kubeconfigAs writes a real kubeconfig for the control plane whose user
// impersonates user (as `kubectl config set-credentials --as` does), with a
// second context that `use` must leave alone.
func kubeconfigAs(t *testing.T, user string) string {
	t.Helper()
	path, err := op.Env.WriteKubeconfig(t.TempDir(), "plugin-"+user)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.AuthInfos {
		a.Impersonate = user
	}
	other := cfg.Contexts[cfg.CurrentContext].DeepCopy()
	other.Namespace = "elsewhere"
	cfg.Contexts["other"] = other
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	var out strings.Builder
	if err := plugin.Run(op.Ctx, args, &out); err != nil {
		t.Fatalf("kubectl tenantward %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func TestOrgSwitcher(t *testing.T) {
	ctx := op.Ctx
	org := &accessv1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: "plug-acme"}}
	if err := op.Admin.Create(ctx, org); err != nil {
		t.Fatal(err)
	}
	if err := op.Admin.Create(ctx, &accessv1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: "plug-globex"}}); err != nil {
		t.Fatal(err)
	}
	var ws accessv1alpha1.Workspace
	testenv.Eventually(t, ctx, "plug-acme's namespace", func() error {
		if err := op.Admin.Get(ctx, client.ObjectKeyFromObject(org), org); err != nil || org.Status.Namespace == "" {
			return fmt.Errorf("not yet: %w", err)
		}
		return nil
	})
	ws = accessv1alpha1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "research", Namespace: org.Status.Namespace}, Spec: accessv1alpha1.WorkspaceSpec{Organization: org.Name}}
	if err := op.Admin.Create(ctx, &ws); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, ctx, "research's namespace", func() error {
		if err := op.Admin.Get(ctx, client.ObjectKeyFromObject(&ws), &ws); err != nil || ws.Status.Namespace == "" {
			return fmt.Errorf("not yet: %w", err)
		}
		return nil
	})
	m := &accessv1alpha1.Membership{
		ObjectMeta: metav1.ObjectMeta{Name: "erin", Namespace: ws.Status.Namespace},
		Spec:       accessv1alpha1.MembershipSpec{Subject: accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectUser, Name: "erin@plug.test"}, Role: accessv1alpha1.RoleManager},
	}
	if err := op.Admin.Create(ctx, m); err != nil {
		t.Fatal(err)
	}
	kubeconfig := kubeconfigAs(t, "erin@plug.test")

	testenv.Eventually(t, ctx, "erin's workspaces", func() error {
		var out strings.Builder
		if err := plugin.Run(ctx, []string{"workspaces", "--kubeconfig", kubeconfig}, &out); err != nil {
			return err
		}
		if !strings.Contains(out.String(), "plug-acme/research   workspace/manager   "+ws.Status.Namespace) {
			return fmt.Errorf("printed:\n%s", out.String())
		}
		return nil
	})
	if out := run(t, "whoami", "--kubeconfig", kubeconfig); !strings.Contains(out, "User:   erin@plug.test") || !strings.Contains(out, "plug-acme") {
		t.Errorf("whoami printed:\n%s", out)
	}
	if out := run(t, "orgs", "--kubeconfig", kubeconfig, "-o", "json"); !strings.Contains(out, `"name": "plug-acme"`) {
		t.Errorf("orgs -o json printed:\n%s", out)
	}

	t.Run("use changes the current context's namespace and nothing else", func(t *testing.T) {
		before, err := os.ReadFile(kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		run(t, "use", "plug-acme/research", "--kubeconfig", kubeconfig)
		was, err := clientcmd.Load(before)
		if err != nil {
			t.Fatal(err)
		}
		now, err := clientcmd.LoadFromFile(kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		if got := now.Contexts[now.CurrentContext].Namespace; got != ws.Status.Namespace {
			t.Fatalf("the current context's namespace is %q, want %q", got, ws.Status.Namespace)
		}
		now.Contexts[now.CurrentContext].Namespace = was.Contexts[was.CurrentContext].Namespace
		clearLocations(was)
		clearLocations(now)
		if !reflect.DeepEqual(was, now) {
			t.Errorf("use changed more than the namespace of the current context:\nbefore %+v\nafter  %+v", was, now)
		}
		// access then defaults to that namespace.
		if out := run(t, "access", "--kubeconfig", kubeconfig); !strings.Contains(out, "Role:      workspace/manager") ||
			!strings.Contains(out, "Membership "+ws.Status.Namespace+"/erin") {
			t.Errorf("access printed:\n%s", out)
		}
	})

	t.Run("use refuses what is not yours", func(t *testing.T) {
		var out strings.Builder
		// Another organization's name is not found, as if it did not exist.
		err := plugin.Run(ctx, []string{"use", "plug-globex", "--kubeconfig", kubeconfig}, &out)
		if err == nil || !strings.Contains(err.Error(), `organizations.tenancy.tenantward.io "plug-globex" not found`) {
			t.Errorf("use plug-globex: %v, want organization not found", err)
		}
		err = plugin.Run(ctx, []string{"use", "plug-acme/nope", "--kubeconfig", kubeconfig}, &out)
		if err == nil || !strings.Contains(err.Error(), "you have no workspace nope in organization plug-acme") {
			t.Errorf("use plug-acme/nope: %v", err)
		}
	})
}

// clearLocations drops what loading records about where each entry came from.
func clearLocations(c *clientcmdapi.Config) {
	for _, x := range c.Contexts {
		x.LocationOfOrigin = ""
	}
	for _, x := range c.Clusters {
		x.LocationOfOrigin = ""
	}
	for _, x := range c.AuthInfos {
		x.LocationOfOrigin = ""
	}
}
