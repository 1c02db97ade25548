// Package gateway proves tenantward keys guarding the real Portkey AI gateway:
// a client calls nginx, whose auth_request asks the verifier, in front of
// @portkey-ai/gateway (Node, pinned, installed by hack/portkey-gateway.sh),
// which calls an OpenAI-compatible stub served by the test. The keys are
// issued by the real operator on a real kube-apiserver.
package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/controllers"
	"github.com/tenantward/tenantward/internal/frontdoor"
	"github.com/tenantward/tenantward/internal/testenv"
	"github.com/tenantward/tenantward/internal/verifier"
)

var op *testenv.Operator

func TestMain(m *testing.M) {
	testenv.Main(m, testenv.Options{}, func(o *testenv.Operator) error {
		op = o
		return nil
	})
}

// frontDoor starts a verifier (standalone, as the chart's verifier.mode:
// standalone runs it) and the front door before it; it returns them once the
// verifier has listed every APIKey.
func frontDoor(t *testing.T) (*frontdoor.FrontDoor, *verifier.Server) {
	t.Helper()
	nginx, portkeyDir, err := frontdoor.Prepare()
	testenv.RequireRealPart(t, "nginx and the Portkey gateway "+frontdoor.PortkeyVersion, err)

	v, err := verifier.New(op.Env.Config, verifier.Options{HTTPAddr: "127.0.0.1:0", GRPCAddr: "0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(op.Ctx)
	done := make(chan error, 1)
	go func() { done <- v.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("the verifier stopped with %v", err)
		}
	})
	select {
	case <-v.Ready():
	case err := <-done:
		t.Fatalf("the verifier stopped: %v", err)
	case <-time.After(testenv.PollTimeout):
		t.Fatal("the verifier did not list the APIKeys")
	}

	fd, err := frontdoor.Start(frontdoor.Options{
		Dir:         t.TempDir(),
		Listen:      "127.0.0.1:" + itoa(testenv.FreePort(t)),
		Verifier:    v.HTTPAddr(),
		GatewayPort: testenv.FreePort(t),
		StubAddr:    "127.0.0.1:0",
		Nginx:       nginx,
		PortkeyDir:  portkeyDir,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fd.Stop)
	return fd, v
}

// tenant creates an Organization with one Workspace as the platform team
// would and returns the workspace namespace once both are Ready.
func tenant(t *testing.T, name string) (org, orgNS, wsNS string) {
	t.Helper()
	o := &accessv1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: name}}
	create(t, o)
	eventually(t, "organization Ready", func() error {
		if err := op.Admin.Get(op.Ctx, client.ObjectKeyFromObject(o), o); err != nil {
			return err
		}
		return ready(o.Status.Conditions)
	})
	ws := &accessv1alpha1.Workspace{
		ObjectMeta: metav1.ObjectMeta{Name: "apps", Namespace: o.Status.Namespace},
		Spec:       accessv1alpha1.WorkspaceSpec{Organization: name},
	}
	create(t, ws)
	eventually(t, "workspace Ready", func() error {
		if err := op.Admin.Get(op.Ctx, client.ObjectKeyFromObject(ws), ws); err != nil {
			return err
		}
		return ready(ws.Status.Conditions)
	})
	return name, o.Status.Namespace, ws.Status.Namespace
}

// issue creates an APIKey in ns and returns it with its plaintext, read from
// the delivery Secret once the operator has issued it.
func issue(t *testing.T, ns, name string, perms accessv1alpha1.APIKeyPermissions, mutate ...func(*accessv1alpha1.APIKey)) (*accessv1alpha1.APIKey, string) {
	t.Helper()
	k := &accessv1alpha1.APIKey{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: accessv1alpha1.APIKeySpec{Permissions: perms}}
	for _, m := range mutate {
		m(k)
	}
	create(t, k)
	return delivered(t, k, "")
}

// delivered waits until the APIKey holds a hash other than notHash and its
// Secret holds the matching plaintext, and returns both.
func delivered(t *testing.T, key *accessv1alpha1.APIKey, notHash string) (*accessv1alpha1.APIKey, string) {
	t.Helper()
	k := &accessv1alpha1.APIKey{}
	var plain string
	eventually(t, "APIKey "+key.Name+" delivered", func() error {
		if err := op.Admin.Get(op.Ctx, client.ObjectKeyFromObject(key), k); err != nil {
			return err
		}
		if k.Status.Hash == "" || k.Status.Hash == notHash {
			return errors.New("not issued yet")
		}
		s := &corev1.Secret{}
		if err := op.Admin.Get(op.Ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Status.SecretName}, s); err != nil {
			return err
		}
		plain = string(s.Data[controllers.APIKeySecretKey])
		if sum := sha256.Sum256([]byte(plain)); hex.EncodeToString(sum[:]) != k.Status.Hash {
			return errors.New("the Secret does not hold the key of status.hash yet")
		}
		return nil
	})
	return k, plain
}

func create(t *testing.T, o client.Object) {
	t.Helper()
	if err := op.Admin.Create(op.Ctx, o); err != nil {
		t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
	}
}

func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	testenv.Eventually(t, op.Ctx, what, check)
}

func ready(conditions []metav1.Condition) error {
	for _, c := range conditions {
		if c.Type == accessv1alpha1.ConditionReady && c.Status == metav1.ConditionTrue {
			return nil
		}
	}
	return errors.New("not Ready yet")
}
