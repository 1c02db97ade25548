// Command scale is the tenancy load program: it starts a real kube-apiserver and
// etcd, runs the tenantward manager as its own process, applies organizations ×
// workspaces × memberships the way a GitOps tool would, and prints how long the
// operator takes to converge, the API writes it issued against the minimum the
// design needs, the RBAC objects it made, its peak memory, and what a second
// pass (the same YAML applied again, then a manager restart that reconciles
// everything) writes.
//
//	go run ./hack/scale -orgs 100 -workspaces 10 -members 20
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/authz"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/tenancy"
)

type options struct {
	orgs, workspaces, members, workers int
	timeout                            time.Duration
}

func main() {
	var o options
	flag.IntVar(&o.orgs, "orgs", 100, "organizations")
	flag.IntVar(&o.workspaces, "workspaces", 10, "workspaces per organization")
	flag.IntVar(&o.members, "members", 20, "memberships per workspace (1 admin, 4 managers, the rest members); each organization also gets an owner and an admin")
	flag.IntVar(&o.workers, "workers", 64, "concurrent appliers (one organization each)")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "give up after this long")
	flag.Parse()
	// The control plane's own client logs nothing worth reading here.
	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

var scheme = runtime.NewScheme()

func init() {
	_ = clientgoscheme.AddToScheme(scheme)
	_ = accessv1alpha1.AddToScheme(scheme)
}

func run(o options) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	work, err := os.MkdirTemp("", "tenantward-scale-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(work) }()

	fmt.Println("building tenantward ...")
	bin, err := controlplane.BuildOperator(work)
	if err != nil {
		return err
	}

	fmt.Println("starting kube-apiserver and etcd ...")
	env, err := controlplane.Start(controlplane.Options{})
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	kubeconfig, err := env.WriteKubeconfig(work, "tenantward-scale")
	if err != nil {
		return err
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 5000, 10000
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return err
	}

	mgr, err := startManager(bin, kubeconfig, work, "first")
	if err != nil {
		return err
	}
	defer mgr.stop()

	want := expected(o)
	fmt.Printf("applying %d organizations × %d workspaces × %d memberships (%d objects) ...\n",
		o.orgs, o.workspaces, o.members, want.objects)
	start := time.Now()
	if err := applyAll(ctx, c, o); err != nil {
		return err
	}
	applied := time.Since(start)
	if err := waitConverged(ctx, c, mgr, want); err != nil {
		return err
	}
	converged := time.Since(start)
	if err := mgr.waitIdle(ctx); err != nil {
		return err
	}
	writes, err := mgr.writes()
	if err != nil {
		return err
	}
	rbac, err := countRBAC(ctx, c)
	if err != nil {
		return err
	}
	peak := mgr.peakRSS()

	// Second pass: the same YAML again, then a restarted manager that
	// reconciles every object from scratch.
	if err := applyAll(ctx, c, o); err != nil {
		return err
	}
	mgr.stop()
	mgr2, err := startManager(bin, kubeconfig, work, "second")
	if err != nil {
		return err
	}
	defer mgr2.stop()
	if err := mgr2.waitIdle(ctx); err != nil {
		return err
	}
	writes2, err := mgr2.writes()
	if err != nil {
		return err
	}
	reconciles2, err := mgr2.reconciles()
	if err != nil {
		return err
	}
	peak2 := mgr2.peakRSS()

	fmt.Printf(`
tenancy at scale: %d organizations × %d workspaces × %d memberships per workspace
  objects applied                    %d (%d memberships)
  applied in                         %.1f s
  converged in                       %.1f s   (every Organization, Workspace and Membership Ready, all RBAC in place)
  of which after the last apply      %.1f s   (the operator's lag behind the applier)
  operator API writes                %d
  minimum writes of the design       %d   (%s)
  RBAC objects                       %d RoleBindings, %d ClusterRoles, %d ClusterRoleBindings (expected %d, %d, %d)
  RoleBindings per namespace         %.1f  (independent of memberships per role)
  manager peak RSS                   %.0f MiB
second pass (same YAML re-applied, manager restarted, every object reconciled)
  reconciles                         %d
  operator API writes                %d
  manager peak RSS                   %.0f MiB
`,
		o.orgs, o.workspaces, o.members,
		want.objects, want.memberships,
		applied.Seconds(), converged.Seconds(), (converged - applied).Seconds(),
		writes, want.minWrites(), want.writesBreakdown(),
		rbac.roleBindings, rbac.clusterRoles, rbac.clusterRoleBindings, want.roleBindings, want.clusterRoles, want.clusterRoleBindings,
		float64(rbac.roleBindings)/float64(o.orgs*(1+o.workspaces)),
		peak, reconciles2, writes2, peak2)
	return nil
}

// counts is what a run should end with.
type counts struct {
	objects, memberships, orgs, workspaces          int
	roleBindings, clusterRoles, clusterRoleBindings int
}

// expected follows the design: per org namespace one RoleBinding per org role
// held (owner, admin); per workspace namespace those two plus admin, manager,
// member and the manager's three policy-gated roles; per org a ClusterRole and
// ClusterRoleBinding per org role held; the generated ClusterRoles.
func expected(o options) counts {
	members := o.orgs * (2 + o.workspaces*o.members)
	wsRoles := 0
	for _, n := range []int{1, 4, o.members - 5} {
		if n > 0 {
			wsRoles++
		}
	}
	gated := 0
	if o.members >= 2 {
		gated = 3
	}
	return counts{
		objects:             o.orgs + o.orgs*o.workspaces + members,
		memberships:         members,
		orgs:                o.orgs,
		workspaces:          o.orgs * o.workspaces,
		roleBindings:        o.orgs * (2 + o.workspaces*(2+wsRoles+gated)),
		clusterRoles:        len(authz.ClusterRoles(authz.DefaultFeatureMap())) + 2*o.orgs,
		clusterRoleBindings: 2 * o.orgs,
	}
}

// minWrites: per Organization and Workspace a namespace, a finalizer and a
// status; per Organization its master APIKey object; every RBAC object once;
// every Membership's status once.
func (c counts) minWrites() int {
	return 3*(c.orgs+c.workspaces) + c.orgs + c.roleBindings + c.clusterRoles + c.clusterRoleBindings + c.memberships
}

func (c counts) writesBreakdown() string {
	return fmt.Sprintf("namespaces+finalizers+statuses %d, master keys %d, RBAC %d, membership statuses %d",
		3*(c.orgs+c.workspaces), c.orgs, c.roleBindings+c.clusterRoles+c.clusterRoleBindings, c.memberships)
}

// applyAll applies every object with server-side apply, as a GitOps tool
// does: each organization by one worker, its workspaces once their namespace
// exists, memberships once theirs does.
func applyAll(ctx context.Context, c client.Client, o options) error {
	jobs := make(chan int)
	errs := make(chan error, o.workers)
	var wg sync.WaitGroup
	for range o.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := applyOrg(ctx, c, o, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		for i := range o.orgs {
			select {
			case jobs <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	return <-errs
}

func applyOrg(ctx context.Context, c client.Client, o options, i int) error {
	org := fmt.Sprintf("scale-%03d", i)
	orgNS := "org-" + org
	if err := apply(ctx, c, &accessv1alpha1.Organization{
		TypeMeta:   metav1.TypeMeta{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "Organization"},
		ObjectMeta: metav1.ObjectMeta{Name: org},
		Spec:       accessv1alpha1.OrganizationSpec{DisplayName: "Scale " + org},
	}); err != nil {
		return err
	}
	for _, role := range []accessv1alpha1.Role{accessv1alpha1.RoleOwner, accessv1alpha1.RoleAdmin} {
		if err := apply(ctx, c, membership(orgNS, string(role), fmt.Sprintf("%s-%s@example.com", org, role), role)); err != nil {
			return err
		}
	}
	for w := range o.workspaces {
		ws := fmt.Sprintf("ws%02d", w)
		if err := apply(ctx, c, &accessv1alpha1.Workspace{
			TypeMeta:   metav1.TypeMeta{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "Workspace"},
			ObjectMeta: metav1.ObjectMeta{Name: ws, Namespace: orgNS},
			Spec:       accessv1alpha1.WorkspaceSpec{Organization: org},
		}); err != nil {
			return err
		}
	}
	for w := range o.workspaces {
		ns := tenancy.WorkspaceNamespacePrefix(org) + fmt.Sprintf("ws%02d", w)
		for m := range o.members {
			role := accessv1alpha1.RoleMember
			switch {
			case m == 0:
				role = accessv1alpha1.RoleAdmin
			case m < 5:
				role = accessv1alpha1.RoleManager
			}
			name := fmt.Sprintf("m%02d", m)
			if err := apply(ctx, c, membership(ns, name, fmt.Sprintf("%s-ws%02d-%s@example.com", org, w, name), role)); err != nil {
				return err
			}
		}
	}
	return nil
}

func membership(ns, name, user string, role accessv1alpha1.Role) *accessv1alpha1.Membership {
	return &accessv1alpha1.Membership{
		TypeMeta:   metav1.TypeMeta{APIVersion: accessv1alpha1.GroupVersion.String(), Kind: "Membership"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: accessv1alpha1.MembershipSpec{
			Subject: accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectUser, Name: user},
			Role:    role,
		},
	}
}

// apply server-side applies obj, waiting for its namespace to be made.
func apply(ctx context.Context, c client.Client, obj client.Object) error {
	for {
		err := c.Patch(ctx, obj, client.Apply, client.FieldOwner("scale-gitops"), client.ForceOwnership) //nolint:staticcheck // applying whole typed objects, as GitOps tools do
		if err == nil || !apierrors.IsNotFound(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace of %s never appeared: %w", obj.GetName(), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitConverged polls until every object is Ready and the RBAC is complete.
func waitConverged(ctx context.Context, c client.Client, m *managerProc, want counts) error {
	for {
		if err := m.alive(); err != nil {
			return err
		}
		ready, err := readyCounts(ctx, c)
		if err != nil {
			return err
		}
		rbac, err := countRBAC(ctx, c)
		if err != nil {
			return err
		}
		if ready.orgs == want.orgs && ready.workspaces == want.workspaces && ready.memberships == want.memberships &&
			rbac.roleBindings == want.roleBindings && rbac.clusterRoleBindings == want.clusterRoleBindings {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not converged: ready %+v, rbac %+v, want %+v: %w", ready, rbac, want, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

func isReady(conds []metav1.Condition, generation int64) bool {
	c := meta.FindStatusCondition(conds, accessv1alpha1.ConditionReady)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == generation
}

func readyCounts(ctx context.Context, c client.Client) (counts, error) {
	var out counts
	orgs := &accessv1alpha1.OrganizationList{}
	wss := &accessv1alpha1.WorkspaceList{}
	ms := &accessv1alpha1.MembershipList{}
	if err := errors.Join(c.List(ctx, orgs), c.List(ctx, wss), c.List(ctx, ms)); err != nil {
		return out, err
	}
	for _, o := range orgs.Items {
		if isReady(o.Status.Conditions, o.Generation) {
			out.orgs++
		}
	}
	for _, w := range wss.Items {
		if isReady(w.Status.Conditions, w.Generation) {
			out.workspaces++
		}
	}
	for _, m := range ms.Items {
		if isReady(m.Status.Conditions, m.Generation) && len(m.Status.BoundNamespaces) > 0 {
			out.memberships++
		}
	}
	return out, nil
}

func countRBAC(ctx context.Context, c client.Client) (counts, error) {
	sel := client.MatchingLabelsSelector{Selector: labels.SelectorFromSet(labels.Set{accessv1alpha1.LabelManagedBy: accessv1alpha1.ManagedByValue})}
	rbs := &rbacv1.RoleBindingList{}
	crs := &rbacv1.ClusterRoleList{}
	crbs := &rbacv1.ClusterRoleBindingList{}
	if err := errors.Join(c.List(ctx, rbs, sel), c.List(ctx, crs, sel), c.List(ctx, crbs, sel)); err != nil {
		return counts{}, err
	}
	return counts{roleBindings: len(rbs.Items), clusterRoles: len(crs.Items), clusterRoleBindings: len(crbs.Items)}, nil
}

// managerProc is the tenantward manager running as its own process.
type managerProc struct {
	cmd         *exec.Cmd
	metricsAddr string
	peakKiB     atomic.Int64
	done        chan struct{}
	exited      chan struct{}
	exitErr     error
}

func startManager(bin, kubeconfig, dir, name string) (*managerProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, name+"-manager.log"))
	if err != nil {
		return nil, err
	}
	m := &managerProc{metricsAddr: fmt.Sprintf("127.0.0.1:%d", port), done: make(chan struct{}), exited: make(chan struct{})}
	// The binary this program just built.
	m.cmd = exec.Command(bin, "manager", "--enable-webhooks=false", "--leader-elect=false", //nolint:gosec // see above
		"--metrics-bind-address="+m.metricsAddr, "--health-probe-bind-address=0",
		"--kube-api-qps=1000", "--kube-api-burst=2000", "--verifier-bind-address=0", "--verifier-grpc-bind-address=0")
	m.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	if err := m.cmd.Start(); err != nil {
		return nil, err
	}
	go m.sampleRSS()
	go func() {
		m.exitErr = m.cmd.Wait()
		close(m.exited)
	}()
	return m, nil
}

// alive fails once the manager process has exited.
func (m *managerProc) alive() error {
	select {
	case <-m.exited:
		return fmt.Errorf("the manager exited (%w); see its log", m.exitErr)
	default:
		return nil
	}
}

// sampleRSS keeps the kernel's peak resident set (VmHWM) of the manager.
func (m *managerProc) sampleRSS() {
	status := fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid)
	for {
		select {
		case <-m.done:
			return
		case <-time.After(200 * time.Millisecond):
		}
		f, err := os.Open(status)
		if err != nil {
			return
		}
		s := bufio.NewScanner(f)
		for s.Scan() {
			if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
				kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				m.peakKiB.Store(kib)
			}
		}
		_ = f.Close()
	}
}

func (m *managerProc) peakRSS() float64 { return float64(m.peakKiB.Load()) / 1024 }

func (m *managerProc) stop() {
	select {
	case <-m.done:
		return
	default:
	}
	close(m.done)
	_ = m.cmd.Process.Signal(os.Interrupt)
	<-m.exited
}

// metrics reads the manager's Prometheus metrics and sums the samples of a
// metric whose labels contain every given label pair (any of the values after |).
func (m *managerProc) metrics(name string, match map[string]string) (float64, error) {
	resp, err := http.Get("http://" + m.metricsAddr + "/metrics") //nolint:gosec,noctx // loopback metrics of our own child process
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	var sum float64
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		line := s.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for k, vals := range match {
			found := false
			for _, v := range strings.Split(vals, "|") {
				if strings.Contains(line, k+`="`+v+`"`) {
					found = true
				}
			}
			ok = ok && found
		}
		if !ok {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		sum += v
	}
	return sum, s.Err()
}

func (m *managerProc) writes() (int, error) {
	v, err := m.metrics("rest_client_requests_total", map[string]string{"method": "POST|PUT|PATCH|DELETE"})
	return int(v), err
}

func (m *managerProc) reconciles() (int, error) {
	v, err := m.metrics("controller_runtime_reconcile_total", nil)
	return int(v), err
}

// waitIdle waits until the manager's work queues are empty and no reconcile
// ran for two seconds.
func (m *managerProc) waitIdle(ctx context.Context) error {
	last, stable := -1.0, 0
	for {
		if err := m.alive(); err != nil {
			return err
		}
		depth, err1 := m.metrics("workqueue_depth", nil)
		total, err2 := m.metrics("controller_runtime_reconcile_total", nil)
		if err1 == nil && err2 == nil && depth == 0 && total > 0 && total == last {
			stable++
			if stable >= 4 {
				return nil
			}
		} else {
			stable = 0
		}
		last = total
		select {
		case <-ctx.Done():
			return fmt.Errorf("manager never went idle: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
