// Command webhook-latency measures what the tenantward webhooks add to a real
// `kubectl apply` of a Membership: it starts the local control plane and the
// operator with its webhooks, then applies a changed Membership as an org owner
// (kubectl --as) in alternating rounds with the webhook configuration installed
// and removed, and prints the medians. The same is measured in-process with a
// client-go update (no kubectl start-up noise).
//
//	go run ./hack/webhook-latency [-n 20] [-rounds 3]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	v1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/manager"
	"github.com/tenantward/tenantward/internal/tenancy"
	"github.com/tenantward/tenantward/internal/webhook"
)

const owner = "latency-owner"

func main() {
	n := flag.Int("n", 20, "applies per round and mode")
	rounds := flag.Int("rounds", 3, "rounds of webhooks on, then off")
	flag.Parse()
	if err := run(*n, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "webhook-latency:", err)
		os.Exit(1)
	}
}

func run(n, rounds int) (err error) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		return err
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(f)))
	root, err := controlplane.RepoRoot()
	if err != nil {
		return err
	}
	env, err := controlplane.Start(controlplane.Options{Webhooks: &envtest.WebhookInstallOptions{
		Paths: []string{filepath.Join(root, "config", "webhook", "manifests.yaml")},
	}})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, env.Stop()) }()
	wio := &env.WebhookInstallOptions
	// Audit records go to a file sink (as in production, a real sink), not to stdout.
	dir, err := os.MkdirTemp("", "webhook-latency-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	conf := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "audit:\n  stdout: false\n  file: %s\n", filepath.Join(dir, "audit.log")), 0o600); err != nil {
		return err
	}
	mgr, err := manager.New(env.Config, manager.Options{ConfigFile: conf,
		MetricsAddr: "0", ProbeAddr: "0", QPS: 500, Burst: 1000, OperatorNamespace: "tenantward-system",
		EnableWebhooks: true, WebhookHost: wio.LocalServingHost, WebhookPort: wio.LocalServingPort,
		WebhookCertDir: wio.LocalServingCertDir, WebhookCerts: webhook.CertOptions{Mode: webhook.CertsExternal},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = mgr.Start(ctx) }()

	admin, err := client.New(env.Config, client.Options{Scheme: manager.Scheme})
	if err != nil {
		return err
	}
	ns, err := setUp(ctx, admin, env)
	if err != nil {
		return err
	}
	kubeconfig, err := env.WriteKubeconfig(dir, "latency-admin")
	if err != nil {
		return err
	}
	kubectl := filepath.Join(env.BinaryAssetsDirectory, "kubectl")
	asOwner, err := client.New(controlplane.Impersonate(env.Config, owner), client.Options{Scheme: manager.Scheme})
	if err != nil {
		return err
	}

	configs := &admissionregistrationv1.ValidatingWebhookConfigurationList{}
	if err := admin.List(ctx, configs); err != nil || len(configs.Items) == 0 {
		return fmt.Errorf("no webhook configuration installed: %w", err)
	}
	installed := configs.Items[0].DeepCopy()
	timings := map[bool]map[string][]time.Duration{true: {}, false: {}}
	seq := 0
	for round := range rounds {
		for _, on := range []bool{true, false} {
			if err := setWebhooks(ctx, admin, asOwner, ns, installed, on); err != nil {
				return err
			}
			for range n {
				seq++
				d, err := kubectlApply(kubectl, kubeconfig, ns, seq)
				if err != nil {
					return err
				}
				timings[on]["kubectl apply"] = append(timings[on]["kubectl apply"], d)
				// client-go writes are cheap and less noisy: take more of them.
				for range 4 {
					seq++
					if d, err = clientUpdate(ctx, asOwner, ns, seq); err != nil {
						return err
					}
					timings[on]["client-go update"] = append(timings[on]["client-go update"], d)
				}
			}
			fmt.Fprintf(os.Stderr, "round %d, webhooks on=%v: done\n", round+1, on)
		}
	}
	fmt.Printf("%-18s %14s %14s %12s\n", "Membership write", "webhooks on", "webhooks off", "added")
	for _, what := range []string{"kubectl apply", "client-go update"} {
		on, off := median(timings[true][what]), median(timings[false][what])
		fmt.Printf("%-18s %14s %14s %12s\n", what, on.Round(10*time.Microsecond), off.Round(10*time.Microsecond), (on - off).Round(10*time.Microsecond))
	}
	fmt.Printf("(medians of %d kubectl applies and %d client-go updates per mode, %d interleaved rounds)\n", n*rounds, 4*n*rounds, rounds)
	return nil
}

// setUp creates an organization whose owner applies the Membership, and waits
// until the owner's RBAC and the webhooks' cache are in place.
func setUp(ctx context.Context, admin client.Client, env *controlplane.Env) (string, error) {
	org := &v1.Organization{ObjectMeta: metav1.ObjectMeta{Name: "latency"}}
	if err := admin.Create(ctx, org); err != nil {
		return "", err
	}
	ns := tenancy.OrgNamespace(org)
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		return admin.Get(ctx, types.NamespacedName{Name: ns}, &corev1.Namespace{}) == nil, nil
	})
	if err != nil {
		return "", fmt.Errorf("the org namespace %s never appeared: %w", ns, err)
	}
	for _, m := range []*v1.Membership{membership(ns, owner, v1.RoleOwner, "owner"), membership(ns, "bob", v1.RoleMember, "bob")} {
		if err := admin.Create(ctx, m); err != nil {
			return "", err
		}
	}
	c, err := client.New(controlplane.Impersonate(env.Config, owner), client.Options{Scheme: manager.Scheme})
	if err != nil {
		return "", err
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: ns, Verb: "patch", Group: v1.GroupVersion.Group, Resource: "memberships"}}}
		if err := c.Create(ctx, review); err != nil || !review.Status.Allowed {
			return false, nil //nolint:nilerr // not yet: keep polling
		}
		_, err := clientUpdate(ctx, c, ns, 0)
		return err == nil, nil
	})
	return ns, err
}

func membership(ns, user string, role v1.Role, name string) *v1.Membership {
	return &v1.Membership{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1.MembershipSpec{Subject: v1.Subject{Kind: v1.SubjectUser, Name: user}, Role: role}}
}

// setWebhooks installs or removes the webhook configuration and waits until
// the API server acts on it: the owner's dry-run removal of the last owner is
// refused exactly while the webhooks are on.
func setWebhooks(ctx context.Context, admin, asOwner client.Client, ns string, installed *admissionregistrationv1.ValidatingWebhookConfiguration, on bool) error {
	cfg := installed.DeepCopy()
	cfg.ResourceVersion = ""
	var err error
	if on {
		err = client.IgnoreAlreadyExists(admin.Create(ctx, cfg))
	} else {
		err = client.IgnoreNotFound(admin.Delete(ctx, cfg))
	}
	if err != nil {
		return err
	}
	last := membership(ns, owner, v1.RoleOwner, "owner")
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		refused := asOwner.Delete(ctx, last, client.DryRunAll) != nil
		return refused == on, nil
	})
}

func kubectlApply(kubectl, kubeconfig, ns string, seq int) (time.Duration, error) {
	manifest := fmt.Sprintf(`apiVersion: access.tenantward.io/v1alpha1
kind: Membership
metadata:
  name: bob
  namespace: %s
  annotations:
    latency.tenantward.io/seq: "%d"
spec:
  subject: {kind: User, name: bob}
  role: member
`, ns, seq)
	cmd := exec.Command(kubectl, "--kubeconfig", kubeconfig, "--as", owner, "--as-group", "system:authenticated", "apply", "-f", "-") //nolint:gosec // our own kubectl
	cmd.Stdin = strings.NewReader(manifest)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("kubectl apply: %w: %s", err, out)
	}
	return d, nil
}

func clientUpdate(ctx context.Context, c client.Client, ns string, seq int) (time.Duration, error) {
	patch := fmt.Appendf(nil, `{"metadata":{"annotations":{"latency.tenantward.io/client-seq":"%d"}}}`, seq)
	m := &v1.Membership{ObjectMeta: metav1.ObjectMeta{Name: "bob", Namespace: ns}}
	start := time.Now()
	err := c.Patch(ctx, m, client.RawPatch(types.MergePatchType, patch))
	return time.Since(start), err
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
