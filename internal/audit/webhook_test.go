package audit_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/audit"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/manager"
)

// trail reads the audit file the manager writes, as `tenantward audit` would.
func trail(t *testing.T) []audit.Record {
	t.Helper()
	raw, err := os.ReadFile(auditFile)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []audit.Record
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("audit file line %q: %v", sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

// recordsFor waits until the trail holds want records of action ("" for any)
// on kind/name, and returns them (failing if more show up than expected by then).
func recordsFor(t *testing.T, action, kind, namespace, name string, want int) []audit.Record {
	t.Helper()
	var got []audit.Record
	eventually(t, fmt.Sprintf("%d audit record(s) of %s %s %s/%s", want, action, kind, namespace, name), func() bool {
		got = got[:0]
		for _, r := range trail(t) {
			if (action == "" || r.Action == action) && r.Resource.Kind == kind && r.Resource.Namespace == namespace && r.Resource.Name == name {
				got = append(got, r)
			}
		}
		return len(got) >= want
	})
	if len(got) != want {
		t.Fatalf("%d records of %s %s/%s, want %d: %+v", len(got), kind, namespace, name, want, got)
	}
	return got
}

// TestAuditTrail: on the real manager, creating an Organization yields one
// admission record and one record of the namespace the operator made; a tenant
// creating, dry-running and deleting a Prompt (audit-only webhook) yields exactly
// one record per request, with the tenant as actor, the Prompt as resource and
// the organization of its namespace; her denied attempt to make herself owner is
// recorded as denied; the key pasted into the Prompt appears in no record.
func TestAuditTrail(t *testing.T) {
	const user = "erin@auditco.example"
	org, ns, erin := tenant(t, "auditco", user)

	// The Organization's admission (decided by the tenancy webhook) and the
	// namespace the operator made for it are in the same trail, once each.
	if rec := recordsFor(t, "create", "Organization", "", org.Name, 1)[0]; rec.Organization != org.Name || rec.Decision != audit.DecisionAllowed || rec.Actor.Operator {
		t.Errorf("organization create record = %+v", rec)
	}
	if rec := recordsFor(t, audit.ActionNamespaceCreated, "Namespace", "", ns, 1)[0]; !rec.Actor.Operator || rec.Organization != org.Name {
		t.Errorf("namespace record = %+v", rec)
	}

	canary := canaryKey(t)
	prompt := func(name string) *unstructured.Unstructured { return newPrompt(ns, name, canary) }

	if err := erin.Create(testCtx, prompt("summarise")); err != nil {
		t.Fatalf("creating a Prompt as %s: %v", user, err)
	}
	created := recordsFor(t, "", "Prompt", ns, "summarise", 1)[0]
	if created.Actor.Username != user || !slices.Contains(created.Actor.Groups, org.Name+":engineers") || created.Action != "create" ||
		created.Resource.Group != "gateway.tenantward.io" || created.Resource.Resource != "prompts" ||
		created.Organization != org.Name || created.Decision != audit.DecisionAllowed || created.DryRun || created.AuditID == "" {
		t.Errorf("create record = %+v", created)
	}
	if created.Changes == nil || strings.Join(created.Changes.Fields, ",") != "metadata.annotations[note],spec.model,spec.template" {
		t.Errorf("create changes = %+v, want the annotation and spec paths", created.Changes)
	}

	if err := erin.Create(testCtx, prompt("draft"), client.DryRunAll); err != nil {
		t.Fatalf("dry-run create: %v", err)
	}
	if dry := recordsFor(t, "", "Prompt", ns, "draft", 1)[0]; !dry.DryRun || dry.Actor.Username != user {
		t.Errorf("dry-run record = %+v, want dryRun by %s", dry, user)
	}

	if err := erin.Delete(testCtx, prompt("summarise")); err != nil {
		t.Fatalf("deleting the Prompt: %v", err)
	}
	deleted := recordsFor(t, "", "Prompt", ns, "summarise", 2)[1]
	if deleted.Action != "delete" || deleted.Actor.Username != user || deleted.AuditID == created.AuditID {
		t.Errorf("delete record = %+v", deleted)
	}

	// Erin may write Memberships as far as RBAC goes, but holds no role in the
	// organization: the webhook denies her, and the denial is recorded.
	m := &accessv1alpha1.Membership{ObjectMeta: metav1.ObjectMeta{Name: "erin-owner", Namespace: ns}, Spec: accessv1alpha1.MembershipSpec{
		Subject: accessv1alpha1.Subject{Kind: accessv1alpha1.SubjectUser, Name: user}, Role: accessv1alpha1.RoleOwner}}
	if err := erin.Create(testCtx, m); err == nil {
		t.Fatalf("%s made herself owner", user)
	}
	if denied := recordsFor(t, "create", "Membership", ns, m.Name, 1)[0]; denied.Decision != audit.DecisionDenied || denied.Actor.Username != user ||
		denied.Reason == "" || denied.Changes == nil || denied.Changes.RoleAfter != "owner" {
		t.Errorf("denied membership record = %+v", denied)
	}

	raw, err := os.ReadFile(auditFile)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(canary)) {
		t.Errorf("the canary key is in the audit trail")
	}
}

var tenants atomic.Int64

// tenant creates an Organization and lets user write prompts and create
// memberships in its namespace; it returns the Organization, its namespace and
// a client acting as the user (in group <org>:engineers).
func tenant(t *testing.T, name, user string) (*accessv1alpha1.Organization, string, client.Client) {
	t.Helper()
	// Unique per run, so that -count=N reuses the control plane.
	name = fmt.Sprintf("%s-%d", name, tenants.Add(1))
	org := &accessv1alpha1.Organization{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := admin.Create(testCtx, org); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the organization's namespace", func() bool {
		return admin.Get(testCtx, client.ObjectKeyFromObject(org), org) == nil && org.Status.Namespace != ""
	})
	grant(t, org.Status.Namespace, user)
	c, err := client.New(controlplane.Impersonate(testEnv.Config, user, name+":engineers"), client.Options{Scheme: manager.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return org, org.Status.Namespace, c
}

// newPrompt is a Prompt whose annotation and template hold secret.
func newPrompt(namespace, name, secret string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.tenantward.io/v1alpha1", "kind": "Prompt",
		"metadata": map[string]any{"name": name, "namespace": namespace, "annotations": map[string]any{"note": secret}},
		"spec":     map[string]any{"template": "Summarise: {{text}} with " + secret, "model": "gpt-4o"},
	}}
}

// grant lets user write prompts and create memberships in namespace through
// plain RBAC, so that the webhooks, not RBAC, decide.
func grant(t *testing.T, namespace, user string) {
	t.Helper()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "audit-test-prompts", Namespace: namespace}, Rules: []rbacv1.PolicyRule{{
		APIGroups: []string{"gateway.tenantward.io"}, Resources: []string{"prompts"}, Verbs: []string{"get", "create", "delete"},
	}, {
		APIGroups: []string{accessv1alpha1.GroupVersion.Group}, Resources: []string{"memberships"}, Verbs: []string{"create"},
	}}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "audit-test-prompts", Namespace: namespace},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}}}
	for _, o := range []client.Object{role, binding} {
		if err := admin.Create(testCtx, o); err != nil {
			t.Fatal(err)
		}
	}
}

// TestAdmissionsDuringAuditSinkOutage: while the HTTP audit endpoint hangs,
// a tenant's writes still succeed and what the queue cannot hold is counted as
// dropped; once the endpoint is back, it receives the queued records in the
// trail's order, each once.
func TestAdmissionsDuringAuditSinkOutage(t *testing.T) {
	const user = "olga@outage.example"
	_, ns, olga := tenant(t, "outage", user)
	dropped := func() float64 {
		return counter(t, "tenantward_audit_records_dropped_total", map[string]string{"sink": "http", "reason": audit.DropQueueFull})
	}
	before := dropped()

	httpSink.set("hang")
	t.Cleanup(func() { httpSink.set("up") })
	const writes = 2 * suiteQueueSize
	for i := range writes {
		if err := olga.Create(testCtx, newPrompt(ns, fmt.Sprintf("during-%d", i), "-")); err != nil {
			t.Fatalf("write %d while the audit endpoint hangs: %v", i, err)
		}
	}
	if dropped() <= before {
		t.Errorf("%d admissions with the audit endpoint hanging and a queue of %d, but no record counted as dropped", writes, suiteQueueSize)
	}

	// Back up, the endpoint first gets the queued records; new ones are dropped
	// until the queue has room again. Delivery is in order, so once a record
	// written after the outage is in, so is every earlier one that was queued.
	httpSink.set("up")
	after := 0
	eventually(t, "a record written after the outage to reach the endpoint", func() bool {
		after++
		if err := olga.Create(testCtx, newPrompt(ns, fmt.Sprintf("after-%d", after), "-")); err != nil {
			t.Fatalf("write after the outage: %v", err)
		}
		got, _ := httpSink.snapshot()
		ids := map[string]bool{}
		for _, id := range got {
			ids[id] = true
		}
		for _, r := range trail(t) {
			if r.Resource.Namespace == ns && strings.HasPrefix(r.Resource.Name, "after-") && ids[r.AuditID] {
				return true
			}
		}
		return false
	})

	received, _ := httpSink.snapshot()
	seen := map[string]bool{}
	for _, id := range received {
		if seen[id] {
			t.Errorf("record %s arrived twice", id)
		}
		seen[id] = true
	}
	// The endpoint's records are the file's (which dropped nothing) minus the
	// dropped ones, in the same order.
	file := trail(t)
	next := 0
	for _, id := range received {
		for next < len(file) && file[next].AuditID != id {
			next++
		}
		if next == len(file) {
			t.Fatalf("record %s reached the endpoint out of the trail's order", id)
		}
		next++
	}
	for _, r := range file {
		if r.Resource.Namespace == ns && r.Resource.Name == "during-0" && !seen[r.AuditID] {
			t.Errorf("the first record of the outage, queued while the endpoint hung, never reached it")
		}
	}
}
