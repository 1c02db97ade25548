// Package gitops walks an object of each tenantward kind through its states
// on a real control plane, with the operator running as its service account
// under the RBAC the installs grant, and checks at each state what GitOps
// tools read: the kstatus result (sigs.k8s.io/cli-utils, what Flux's
// `wait: true` uses) and the Argo CD health check shipped in
// config/argocd/health.lua (run with gopher-lua, the interpreter Argo CD uses).
// The same run's API-server audit log then shows which of the operator's
// rights it used: none may be refused, and none may go unused.
package gitops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/testenv"
	"github.com/tenantward/tenantward/internal/verifier"
)

var (
	// embeddedVerifier is the base URL of the manager's own verifier.
	embeddedVerifier string
	op               *testenv.Operator
	admin            client.Client
	ctx              context.Context
	nameCount        atomic.Int64
)

// auditPolicy records every request of the operator's two service accounts
// and nothing else: as metadata, and with the request body for the bindings
// it writes (their roleRef shows which roles it binds).
var auditPolicy = fmt.Sprintf(`apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Request
    users: [%[1]q, %[2]q]
    verbs: [create, update, patch]
    resources: [{group: rbac.authorization.k8s.io, resources: [rolebindings, clusterrolebindings]}]
  - level: Metadata
    users: [%[1]q, %[2]q]
  - level: None
`, controlplane.ServiceAccountUser(controlplane.OperatorNamespace, controlplane.ManagerServiceAccount).Name,
	controlplane.ServiceAccountUser(controlplane.OperatorNamespace, controlplane.VerifierServiceAccount).Name)

func TestMain(m *testing.M) {
	o := testenv.Options{
		AuditPolicy: auditPolicy,
		// As many clusters run it: setting blockOwnerDeletion needs update on the owner's finalizers.
		APIServerFlags: map[string]string{"enable-admission-plugins": "OwnerReferencesPermissionEnforcement"},
		// The tenant view, served as installed, delegates as the operator.
		TenantView: true,
	}
	// Leader election on, as the installs run it, so its rights are used too.
	o.Manager.LeaderElection = true
	o.Manager.LeaderElectionNamespace = controlplane.OperatorNamespace
	// The embedded verifier, writing lastUsedAt every 2 seconds, so that the
	// manager's apikeys/status rights for it are used too (rights_test.go).
	addr, err := freeAddr()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	o.Manager.VerifierAddr, embeddedVerifier = addr, "http://"+addr
	o.Manager.VerifierUsage = usageOptions
	testenv.Main(m, o, func(started *testenv.Operator) error {
		op, admin, ctx = started, started.Admin, started.Ctx
		return nil
	})
}

// usageOptions write lastUsedAt every 2 seconds (below the flags' minimum,
// which only the command line enforces).
var usageOptions = verifier.UsageOptions{Period: 2 * time.Second, WriterQPS: 20, QueueSize: 100}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}

// uniqueName returns a DNS-label name unique within the test binary.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, nameCount.Add(1))
}

// object decodes one YAML manifest, filling %s placeholders first.
func object(t testing.TB, manifest string, args ...any) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(fmt.Sprintf(strings.TrimSpace(manifest), args...)), &u.Object); err != nil {
		t.Fatalf("decoding %s: %v", manifest, err)
	}
	return u
}

// create creates u as the platform admin and returns the object as the API
// server answered: a new object the operator has not looked at yet.
func create(t testing.TB, u *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	if err := admin.Create(ctx, u); err != nil {
		t.Fatalf("creating %s %s/%s: %v", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return u
}

// get reads the current state of u from the API server.
func get(u *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	out := &unstructured.Unstructured{}
	out.SetGroupVersionKind(u.GroupVersionKind())
	return out, admin.Get(ctx, client.ObjectKeyFromObject(u), out)
}

var errStillThere = errors.New("still there")

// runKubectlWait runs `kubectl wait --for=condition=Ready` on u as a user
// would, and returns what went wrong, or "".
func runKubectlWait(t testing.TB, u *unstructured.Unstructured) string {
	t.Helper()
	kubeconfig, err := op.Env.WriteKubeconfig(t.TempDir(), "kubectl-wait")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--kubeconfig", kubeconfig, "wait", "--for=condition=Ready", "--timeout=60s",
		strings.ToLower(u.GetKind()) + "." + u.GroupVersionKind().Group + "/" + u.GetName()}
	if ns := u.GetNamespace(); ns != "" {
		args = append(args, "-n", ns)
	}
	out, err := exec.Command(filepath.Join(op.Env.BinaryAssetsDirectory, "kubectl"), args...).CombinedOutput() //nolint:gosec // the control plane's own kubectl
	if err != nil {
		return fmt.Sprintf("kubectl %s: %v\n%s", strings.Join(args[2:], " "), err, out)
	}
	return ""
}
