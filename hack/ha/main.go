// Command ha checks that tenantward runs highly available: it starts a real
// kube-apiserver and etcd, runs two manager processes with --leader-elect
// against them, creates organizations and API keys, kills the leader with
// SIGKILL (a crash, no lease release) while more work arrives, and checks that
// only one replica ever leads at a time, the standby takes over and finishes
// the work, no key is issued twice, every APIKey has exactly one delivery
// Secret whose key matches its hash, and no Secret is orphaned.
//
//	go run ./hack/ha [-orgs 4] [-keys 3] [-timeout 3m]
//
// It prints a table and exits non-zero when a check fails.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/apikey"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/manager"
)

const (
	operatorNamespace = "tenantward-system"
	leaseName         = "tenantward.access.tenantward.io"
)

func main() {
	orgs := flag.Int("orgs", 4, "organizations created before and again after the leader is killed")
	keys := flag.Int("keys", 3, "admin APIKeys per organization, besides its master key")
	timeout := flag.Duration("timeout", 3*time.Minute, "deadline for each wait")
	flag.Parse()
	ctrl.SetLogger(logr.Discard()) // the replicas' logs go to files; this program prints a table
	if err := run(*orgs, *keys, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "ha:", err)
		os.Exit(1)
	}
}

func run(orgs, keys int, timeout time.Duration) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "tenantward-ha-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()

	step("building tenantward")
	bin, err := controlplane.BuildOperator(dir)
	if err != nil {
		return err
	}

	step("starting kube-apiserver and etcd")
	env, err := controlplane.Start(controlplane.Options{})
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	kubeconfig, err := env.WriteKubeconfig(dir, "ha-admin")
	if err != nil {
		return err
	}
	c, err := client.New(env.Config, client.Options{Scheme: manager.Scheme})
	if err != nil {
		return err
	}
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}); err != nil {
		return err
	}

	step("starting replicas a and b with --leader-elect")
	replicas := []*replica{{name: "a"}, {name: "b"}}
	for i, r := range replicas {
		if err := r.start(bin, kubeconfig, dir, 18181+i); err != nil {
			return err
		}
		defer r.kill()
	}
	var leader *replica
	if err := poll(ctx, timeout, func() bool { leader = leading(replicas); return leader != nil || exited(replicas) }); err != nil {
		return fmt.Errorf("no replica became leader: %w\n%s", err, logTails(dir, replicas))
	}
	if exited(replicas) {
		return fmt.Errorf("a replica exited\n%s", logTails(dir, replicas))
	}
	standby := other(replicas, leader)
	step(fmt.Sprintf("replica %s leads, replica %s stands by", leader.name, standby.name))

	step(fmt.Sprintf("phase 1: %d organizations with %d admin keys each", orgs, keys))
	namespaces, err := createOrgs(ctx, c, "before", orgs)
	if err != nil {
		return err
	}
	if err := createKeys(ctx, c, namespaces, keys, timeout); err != nil {
		return err
	}
	before, err := converged(ctx, c, orgs*(keys+1), timeout)
	if err != nil {
		return fmt.Errorf("phase 1: %w", err)
	}

	step(fmt.Sprintf("killing the leader (replica %s) with SIGKILL; phase 2 arrives at once", leader.name))
	killedAt := time.Now()
	leader.kill()
	namespaces, err = createOrgs(ctx, c, "after", orgs)
	if err != nil {
		return err
	}
	if err := poll(ctx, timeout, func() bool { return !standby.ledAt().IsZero() || standby.exited() }); err != nil {
		return fmt.Errorf("the standby never took over: %w\n%s", err, logTails(dir, replicas))
	}
	if standby.exited() {
		return fmt.Errorf("the standby exited\n%s", logTails(dir, replicas))
	}
	handover := standby.ledAt().Sub(killedAt)
	if err := createKeys(ctx, c, namespaces, keys, timeout); err != nil {
		return err
	}
	after, err := converged(ctx, c, 2*orgs*(keys+1), timeout)
	if err != nil {
		return fmt.Errorf("phase 2: %w", err)
	}
	resumed := time.Since(killedAt)

	step("stopping the new leader with SIGTERM (graceful: it releases the lease)")
	stopStart := time.Now()
	if err := standby.stop(timeout); err != nil {
		return err
	}
	stopped := time.Since(stopStart)
	var lease coordinationv1.Lease
	if err := c.Get(ctx, client.ObjectKey{Namespace: operatorNamespace, Name: leaseName}, &lease); err != nil {
		return err
	}
	released := lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == ""

	step("starting replica c: with the lease released it should lead at once")
	third := &replica{name: "c"}
	startedAt := time.Now()
	if err := third.start(bin, kubeconfig, dir, 18183); err != nil {
		return err
	}
	defer third.kill()
	if err := poll(ctx, timeout, func() bool { return !third.ledAt().IsZero() || third.exited() }); err != nil {
		return fmt.Errorf("replica c did not lead: %w\n%s", err, logTails(dir, []*replica{third}))
	}
	if third.exited() {
		return fmt.Errorf("replica c exited\n%s", logTails(dir, []*replica{third}))
	}
	restartLead := third.ledAt().Sub(startedAt)
	if err := third.stop(timeout); err != nil {
		return err
	}

	// Checks.
	var failures []string
	check := func(ok bool, format string, args ...any) {
		if !ok {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	check(standby.exitCode() == 0, "replica %s exited with %d after SIGTERM, want 0", standby.name, standby.exitCode())
	check(released, "the lease still names %v after a graceful stop", lease.Spec.HolderIdentity)
	check(!standby.ledBefore(killedAt), "replica %s acquired the lease while replica %s still led", standby.name, leader.name)
	check(leader.acquisitions() == 1 && standby.acquisitions() == 1, "lease acquisitions: %s=%d %s=%d, want 1 each",
		leader.name, leader.acquisitions(), standby.name, standby.acquisitions())
	reissued := 0
	for name, hash := range before {
		if after[name] != hash {
			reissued++
		}
	}
	check(reissued == 0, "%d keys issued before the handover were re-issued after it", reissued)
	report, err := audit(ctx, c)
	if err != nil {
		return err
	}
	failures = append(failures, report.problems...)

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "\nwhat\tresult")
	fmt.Fprintf(w, "replicas\t2 processes, --leader-elect, lease %s/%s\n", operatorNamespace, leaseName)
	fmt.Fprintf(w, "first leader\treplica %s; replica %s standby until the kill\n", leader.name, standby.name)
	fmt.Fprintf(w, "APIKeys before / after kill\t%d / %d (incl. one master key per organization)\n", len(before), len(after))
	fmt.Fprintf(w, "handover after SIGKILL\t%s (lease expiry; default lease 15s)\n", handover.Round(100*time.Millisecond))
	fmt.Fprintf(w, "all phase-2 keys issued\t%s after the kill\n", resumed.Round(100*time.Millisecond))
	fmt.Fprintf(w, "keys re-issued across handover\t%d\n", reissued)
	fmt.Fprintf(w, "delivery Secrets\t%d for %d APIKeys; %d duplicates, %d orphans, %d not matching the hash\n",
		report.secrets, report.keys, report.duplicates, report.orphans, report.mismatched)
	fmt.Fprintf(w, "graceful stop (SIGTERM)\t%s, exit code %d, lease released: %t\n", stopped.Round(10*time.Millisecond), standby.exitCode(), released)
	fmt.Fprintf(w, "a new replica leads after\t%s (no wait for lease expiry)\n", restartLead.Round(100*time.Millisecond))
	_ = w.Flush()
	if len(failures) > 0 {
		fmt.Println("\nFAIL")
		for _, f := range failures {
			fmt.Println("  -", f)
		}
		return errors.New("high-availability checks failed")
	}
	fmt.Println("\nPASS: one leader at a time, handover after a crash, no duplicate keys, no orphaned Secrets")
	return nil
}

// logTails returns the last lines each replica logged, for a failure message.
func logTails(dir string, rs []*replica) string {
	var b strings.Builder
	for _, r := range rs {
		raw, _ := os.ReadFile(filepath.Join(dir, "replica-"+r.name+".log"))
		lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
		fmt.Fprintf(&b, "--- replica %s (last lines)\n%s\n", r.name, strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
	return b.String()
}

func step(s string) { fmt.Fprintf(os.Stderr, "[ha %s] %s\n", time.Now().Format("15:04:05"), s) }

func poll(ctx context.Context, timeout time.Duration, cond func() bool) error {
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return cond(), nil
	})
}

// createOrgs creates organizations ha-<phase>-<i>, each with a master key.
func createOrgs(ctx context.Context, c client.Client, phase string, orgs int) ([]string, error) {
	var namespaces []string
	for i := range orgs {
		org := &accessv1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ha-%s-%d", phase, i)}}
		org.Spec.DisplayName = "HA " + org.Name
		org.Spec.MasterKey = accessv1alpha1.MasterKeyCreate
		if err := c.Create(ctx, org); err != nil {
			return nil, fmt.Errorf("creating organization %s: %w", org.Name, err)
		}
		namespaces = append(namespaces, "org-"+org.Name)
	}
	return namespaces, nil
}

// createKeys waits for each org namespace (the controller's to create) and
// creates keys admin APIKeys in it.
func createKeys(ctx context.Context, c client.Client, namespaces []string, keys int, timeout time.Duration) error {
	for _, ns := range namespaces {
		if err := poll(ctx, timeout, func() bool {
			return c.Get(ctx, client.ObjectKey{Name: ns}, &corev1.Namespace{}) == nil
		}); err != nil {
			return fmt.Errorf("namespace %s never appeared: %w", ns, err)
		}
		for k := range keys {
			key := &accessv1alpha1.APIKey{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("key-%d", k), Namespace: ns}}
			key.Spec.Permissions.Completions = accessv1alpha1.ToggleEnabled
			if err := c.Create(ctx, key); err != nil {
				return fmt.Errorf("creating APIKey %s/%s: %w", ns, key.Name, err)
			}
		}
	}
	return nil
}

// converged waits until want APIKeys carry a hash and a delivery Secret, and
// returns each key's hash by namespace/name.
func converged(ctx context.Context, c client.Client, want int, timeout time.Duration) (map[string]string, error) {
	hashes := map[string]string{}
	err := poll(ctx, timeout, func() bool {
		var list accessv1alpha1.APIKeyList
		if err := c.List(ctx, &list); err != nil {
			return false
		}
		clear(hashes)
		for _, k := range list.Items {
			if k.Status.Hash != "" && k.Status.SecretName != "" {
				hashes[k.Namespace+"/"+k.Name] = k.Status.Hash
			}
		}
		return len(hashes) >= want
	})
	if err != nil {
		return nil, fmt.Errorf("%d of %d APIKeys issued: %w", len(hashes), want, err)
	}
	return hashes, nil
}

type auditReport struct {
	keys, secrets                   int
	duplicates, orphans, mismatched int
	problems                        []string
}

// audit checks every delivery Secret against the APIKeys.
func audit(ctx context.Context, c client.Client) (auditReport, error) {
	var r auditReport
	var keys accessv1alpha1.APIKeyList
	if err := c.List(ctx, &keys); err != nil {
		return r, err
	}
	var secrets corev1.SecretList
	if err := c.List(ctx, &secrets, client.HasLabels{accessv1alpha1.LabelAPIKey}); err != nil {
		return r, err
	}
	r.keys, r.secrets = len(keys.Items), len(secrets.Items)
	byKey := map[string][]corev1.Secret{}
	for _, s := range secrets.Items {
		id := s.Namespace + "/" + s.Labels[accessv1alpha1.LabelAPIKey]
		byKey[id] = append(byKey[id], s)
	}
	masters := map[string]int{}
	for _, k := range keys.Items {
		id := k.Namespace + "/" + k.Name
		if k.Labels[accessv1alpha1.LabelMasterKey] != "" {
			masters[k.Namespace]++
		}
		got := byKey[id]
		delete(byKey, id)
		switch {
		case len(got) == 0:
			r.problems = append(r.problems, fmt.Sprintf("APIKey %s has no delivery Secret", id))
		case len(got) > 1:
			r.duplicates += len(got) - 1
			r.problems = append(r.problems, fmt.Sprintf("APIKey %s has %d delivery Secrets", id, len(got)))
		case !holdsKey(got[0], k.Status.Hash):
			r.mismatched++
			r.problems = append(r.problems, fmt.Sprintf("the Secret of APIKey %s holds no key matching status.hash", id))
		}
	}
	for id, s := range byKey {
		r.orphans += len(s)
		r.problems = append(r.problems, fmt.Sprintf("%d Secret(s) labelled for APIKey %s, which does not exist", len(s), id))
	}
	for ns, n := range masters {
		if n != 1 {
			r.problems = append(r.problems, fmt.Sprintf("namespace %s has %d master keys", ns, n))
		}
	}
	return r, nil
}

// holdsKey reports whether a Secret holds a well-formed key whose SHA-256 is hash.
func holdsKey(s corev1.Secret, hash string) bool {
	for _, v := range s.Data {
		if _, err := apikey.Parse(string(v)); err == nil && apikey.Matches(string(v), hash) {
			return true
		}
	}
	return false
}

// replica is one manager process.
type replica struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}

	mu  sync.Mutex
	led []time.Time // when it logged acquiring the lease
}

func (r *replica) start(bin, kubeconfig, dir string, probePort int) error {
	log, err := os.Create(filepath.Join(dir, "replica-"+r.name+".log"))
	if err != nil {
		return err
	}
	r.cmd = exec.Command(bin, "manager", //nolint:gosec // bin is the binary this program just built
		"--leader-elect", "--leader-election-namespace="+operatorNamespace,
		"--operator-namespace="+operatorNamespace, "--enable-webhooks=false",
		"--metrics-bind-address=0", fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", probePort),
		"--verifier-bind-address=0", "--verifier-grpc-bind-address=0")
	r.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	pr, pw := io.Pipe()
	r.cmd.Stdout, r.cmd.Stderr = pw, pw
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("starting replica %s: %w", r.name, err)
	}
	r.done = make(chan struct{})
	go func() {
		_ = r.cmd.Wait()
		_ = pw.Close()
		close(r.done)
	}()
	go func() {
		defer func() { _ = log.Close() }()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(log, line)
			if strings.Contains(line, "Successfully acquired lease") {
				r.mu.Lock()
				r.led = append(r.led, time.Now())
				r.mu.Unlock()
			}
		}
	}()
	return nil
}

// exitCode is the process's exit code once it has exited (-1 when killed by a signal).
func (r *replica) exitCode() int {
	if !r.exited() {
		return -1
	}
	return r.cmd.ProcessState.ExitCode()
}

func (r *replica) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// exited reports whether any replica has stopped.
func exited(rs []*replica) bool {
	return slices.ContainsFunc(rs, (*replica).exited)
}

func (r *replica) acquisitions() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.led)
}

func (r *replica) ledAt() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.led) == 0 {
		return time.Time{}
	}
	return r.led[0]
}

func (r *replica) ledBefore(t time.Time) bool {
	at := r.ledAt()
	return !at.IsZero() && at.Before(t)
}

// kill ends the process at once, as a crashed node would.
func (r *replica) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// stop asks the process to shut down gracefully and waits for it.
func (r *replica) stop(timeout time.Duration) error {
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-r.done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("replica %s did not stop within %s of SIGTERM", r.name, timeout)
	}
}

func leading(rs []*replica) *replica {
	for _, r := range rs {
		if r.acquisitions() > 0 {
			return r
		}
	}
	return nil
}

func other(rs []*replica, r *replica) *replica {
	if rs[0] == r {
		return rs[1]
	}
	return rs[0]
}
