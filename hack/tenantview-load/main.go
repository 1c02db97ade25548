// Command tenantview-load measures the tenant view at scale through the
// kube-apiserver: it starts a real kube-apiserver and etcd with aggregation,
// writes organizations (each with one workspace) and their Memberships
// straight to the API server as the admin, with one user in three of the
// organizations, serves the tenant view from this process as local mode does
// (local.ServeTenantView: delegated authentication and authorization as the
// operator's service account, the view's caches fed by informers), and times,
// interleaved in the same run, that user's list of their organizations
// (`kubectl get organizations.tenancy.tenantward.io`) beside a plain get of one
// Organization by the admin.
//
// The Memberships are not reconciled (no controllers run): the view reads
// them from its Membership index, which is what is measured.
//
//	go run ./hack/tenantview-load -orgs 1000 -members 100 -n 1000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	tenancyv1alpha1 "github.com/tenantward/tenantward/api/tenancy/v1alpha1"
	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/local"
	"github.com/tenantward/tenantward/internal/tenancy"
	"github.com/tenantward/tenantward/internal/tenantview"
	"github.com/tenantward/tenantward/internal/webhook"
)

type options struct {
	orgs, members, requests, workers int
}

// user is the one user in three organizations whose list is timed.
const user = "bench@load.test"

var scheme = runtime.NewScheme()

func init() {
	_ = clientgoscheme.AddToScheme(scheme)
	_ = accessv1alpha1.AddToScheme(scheme)
	_ = tenancyv1alpha1.AddToScheme(scheme)
}

func main() {
	var o options
	flag.IntVar(&o.orgs, "orgs", 1000, "organizations, each with one workspace")
	flag.IntVar(&o.members, "members", 100, "Memberships per organization (one user each)")
	flag.IntVar(&o.requests, "n", 1000, "timed requests of each kind")
	flag.IntVar(&o.workers, "workers", 32, "concurrent writers while loading")
	flag.Parse()
	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	klog.SetLogger(ctrllog.Log)
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "tenantview-load:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.orgs < 3 || o.members < 1 || o.requests < 1 {
		return errors.New("want -orgs ≥ 3, -members ≥ 1, -n ≥ 1")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	env, err := controlplane.Start(controlplane.Options{Aggregation: true})
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = -1, 0 // no client-side throttling while loading
	admin, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}

	start := time.Now()
	if err := load(ctx, admin, o); err != nil {
		return err
	}
	loaded := time.Since(start)
	fmt.Printf("loaded %d organizations, %d workspaces, %d Memberships in %s (%.0f objects/s)\n",
		o.orgs, o.orgs, o.orgs*o.members, loaded.Round(time.Second), float64(o.orgs*(4+o.members))/loaded.Seconds())

	dir, err := os.MkdirTemp("", "tenantview-load-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	synced, err := serveView(ctx, env, admin, dir)
	if err != nil {
		return err
	}
	fmt.Printf("the view's caches synced in %s\n", synced.Round(time.Millisecond))

	bench, err := env.AddUser(envtest.User{Name: user, Groups: []string{"system:authenticated", "load-testers"}}, nil)
	if err != nil {
		return err
	}
	benchCfg := bench.Config()
	benchCfg.QPS, benchCfg.Burst = -1, 0
	mine, err := client.New(benchCfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}
	if err := waitServed(ctx, mine); err != nil {
		return err
	}
	return measure(ctx, o.requests, mine, admin)
}

// load writes every organization with its namespace, one workspace with its
// namespace (labelled and annotated as the operator makes them), and the
// Memberships, o.workers at a time.
func load(ctx context.Context, c client.Client, o options) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, o.workers)
	for range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < o.orgs; i = int(next.Add(1)) - 1 {
				if err := loadOrg(ctx, c, i, o); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// inThree reports whether organization i is one of the timed user's three.
func inThree(i, orgs int) bool { return i == 0 || i == orgs/3 || i == 2*orgs/3 }

func loadOrg(ctx context.Context, c client.Client, i int, o options) error {
	name := fmt.Sprintf("load-%04d", i)
	org := &accessv1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: accessv1alpha1.OrganizationSpec{DisplayName: "Load " + name}}
	if err := c.Create(ctx, org); err != nil {
		return err
	}
	orgNS := tenancy.OrgNamespace(org)
	if err := c.Create(ctx, ownedNamespace(orgNS, name, "", org.UID)); err != nil {
		return err
	}
	ws := &accessv1alpha1.Workspace{ObjectMeta: metav1.ObjectMeta{Name: "research", Namespace: orgNS}, Spec: accessv1alpha1.WorkspaceSpec{Organization: name}}
	if err := c.Create(ctx, ws); err != nil {
		return err
	}
	if err := c.Create(ctx, ownedNamespace(tenancy.WorkspaceNamespace(ws), name, ws.Name, ws.UID)); err != nil {
		return err
	}
	for j := range o.members {
		subject := fmt.Sprintf("user-%d-%d@load.test", i, j)
		if j == 0 && inThree(i, o.orgs) {
			subject = user
		}
		m := &accessv1alpha1.Membership{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("m-%d", j), Namespace: orgNS},
			Spec:       accessv1alpha1.MembershipSpec{Subject: accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectUser, Name: subject}, Role: accessv1alpha1.RoleMember},
		}
		if err := c.Create(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// ownedNamespace is a namespace as the operator makes it for an organization
// (workspace empty) or a workspace: its labels and owner UID.
func ownedNamespace(name, org, workspace string, owner types.UID) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: tenancy.Labels(org, workspace),
		Annotations: map[string]string{accessv1alpha1.AnnotationOwnerUID: string(owner)}}}
}

// serveView serves the tenant view from this process as local mode does, with
// its caches read as the operator's service account, and returns how long
// they took to sync.
func serveView(ctx context.Context, env *controlplane.Env, admin client.Client, dir string) (time.Duration, error) {
	ids, err := env.InstallRBAC(ctx)
	if err != nil {
		return 0, err
	}
	opts, err := local.ServeTenantView(ctx, env, admin, ids.Manager, dir)
	if err != nil {
		return 0, err
	}
	c, err := cache.New(ids.Manager.Config(), cache.Options{Scheme: scheme})
	if err != nil {
		return 0, err
	}
	informers, err := webhook.NewInformers(ctx, c)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return 0, errors.New("the view's caches did not sync")
	}
	synced := time.Since(start)
	view, err := tenantview.New(opts, tenantview.Source{Resolver: &webhook.Resolver{Informers: informers}, Cache: c, Features: authz.DefaultFeatureMap()})
	if err != nil {
		return 0, err
	}
	go func() { _ = view.Start(ctx) }()
	return synced, nil
}

// waitServed waits until the user's list answers their three organizations.
func waitServed(ctx context.Context, mine client.Client) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var l tenancyv1alpha1.OrganizationList
		err := mine.List(ctx, &l)
		if err == nil && len(l.Items) == 3 {
			return nil
		}
		if time.Now().After(deadline) && err != nil {
			return fmt.Errorf("the view did not list %s's organizations: %w", user, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the view listed %d organizations of %s, want 3", len(l.Items), user)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// measure times n of each request, interleaved, after a warm-up.
func measure(ctx context.Context, n int, mine, admin client.Client) error {
	kinds := []struct {
		name string
		do   func() error
	}{
		{"list my organizations (" + user + ", through the aggregator)", func() error {
			return mine.List(ctx, &tenancyv1alpha1.OrganizationList{})
		}},
		{"get one Organization (admin, plain)", func() error {
			return admin.Get(ctx, client.ObjectKey{Name: "load-0000"}, &accessv1alpha1.Organization{})
		}},
	}
	took := make([][]time.Duration, len(kinds))
	for i := range n + n/10 {
		for k, kind := range kinds {
			start := time.Now()
			if err := kind.do(); err != nil {
				return fmt.Errorf("%s: %w", kind.name, err)
			}
			if i >= n/10 { // the first tenth warms up
				took[k] = append(took[k], time.Since(start))
			}
		}
	}
	var medians []time.Duration
	for k, kind := range kinds {
		d := took[k]
		slices.Sort(d)
		var sum time.Duration
		for _, x := range d {
			sum += x
		}
		at := func(q float64) time.Duration { return d[int(q*float64(len(d)-1))] }
		medians = append(medians, at(0.5))
		fmt.Printf("%-70s n=%d median %s p90 %s p99 %s mean %s\n", kind.name, len(d),
			at(0.5).Round(time.Microsecond), at(0.9).Round(time.Microsecond), at(0.99).Round(time.Microsecond), (sum / time.Duration(len(d))).Round(time.Microsecond))
	}
	fmt.Printf("ratio of medians (list my organizations / get one Organization): %.2f\n", float64(medians[0])/float64(medians[1]))
	return nil
}
