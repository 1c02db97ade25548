package audit_test

import (
	"crypto/rand"
	"encoding/json"
	"math/big"
	"reflect"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/tenantward/tenantward/internal/audit"
)

// request builds an admission request as the API server sends it.
func request(op admissionv1.Operation, group, kind, resource, ns, name string, user authenticationv1.UserInfo, oldObj, newObj any, dryRun bool) admission.Request {
	raw := func(o any) runtime.RawExtension {
		if o == nil {
			return runtime.RawExtension{}
		}
		b, err := json.Marshal(o)
		if err != nil {
			panic(err)
		}
		return runtime.RawExtension{Raw: b}
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       types.UID("uid-" + name),
		Kind:      metav1.GroupVersionKind{Group: group, Version: "v1alpha1", Kind: kind},
		Resource:  metav1.GroupVersionResource{Group: group, Version: "v1alpha1", Resource: resource},
		Namespace: ns,
		Name:      name,
		Operation: op,
		UserInfo:  user,
		OldObject: raw(oldObj),
		Object:    raw(newObj),
		DryRun:    &dryRun,
	}}
}

func membership(role string, labels map[string]string) map[string]any {
	return map[string]any{
		"apiVersion": "access.tenantward.io/v1alpha1", "kind": "Membership",
		"metadata": map[string]any{"name": "bob", "namespace": "org-acme", "labels": labels},
		"spec":     map[string]any{"subject": map[string]any{"kind": "User", "name": "bob@acme.example"}, "role": role},
	}
}

// canaryKey returns a realistic-looking API key (prefix, base62 body, checksum-like tail).
func canaryKey(t *testing.T) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b strings.Builder
	b.WriteString("twk_")
	for range 36 {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			t.Fatal(err)
		}
		b.WriteByte(alphabet[n.Int64()])
	}
	return b.String()
}

func TestFromAdmission(t *testing.T) {
	alice := authenticationv1.UserInfo{Username: "alice@acme.example", UID: "u-1", Groups: []string{"acme:owners", "system:authenticated"}}
	argo := authenticationv1.UserInfo{Username: "system:serviceaccount:argocd:argocd-application-controller", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:argocd"}}

	tests := []struct {
		name     string
		req      admission.Request
		decision string
		reason   string
		want     audit.Record
	}{{
		name:     "allowed role change by a user",
		req:      request(admissionv1.Update, "access.tenantward.io", "Membership", "memberships", "org-acme", "bob", alice, membership("member", nil), membership("admin", map[string]string{"team": "ml"}), false),
		decision: audit.DecisionAllowed,
		want: audit.Record{
			AuditID:      "uid-bob",
			Actor:        audit.Actor{Username: "alice@acme.example", UID: "u-1", Groups: []string{"acme:owners", "system:authenticated"}},
			Action:       "update",
			Resource:     audit.Resource{Group: "access.tenantward.io", Version: "v1alpha1", Kind: "Membership", Resource: "memberships", Namespace: "org-acme", Name: "bob"},
			Organization: "acme",
			Decision:     audit.DecisionAllowed,
			Changes:      &audit.Changes{Fields: []string{"metadata.labels[team]", "spec.role"}, RoleBefore: "member", RoleAfter: "admin"},
		},
	}, {
		name:     "denied by a service account",
		req:      request(admissionv1.Create, "access.tenantward.io", "Membership", "memberships", "org-acme", "carol", argo, nil, membership("owner", nil), false),
		decision: audit.DecisionDenied,
		reason:   `user "system:serviceaccount:argocd:argocd-application-controller" (admin) may not grant role owner`,
		want: audit.Record{
			AuditID:      "uid-carol",
			Actor:        audit.Actor{Username: "system:serviceaccount:argocd:argocd-application-controller", Groups: []string{"system:serviceaccounts", "system:serviceaccounts:argocd"}, ServiceAccount: "argocd/argocd-application-controller"},
			Action:       "create",
			Resource:     audit.Resource{Group: "access.tenantward.io", Version: "v1alpha1", Kind: "Membership", Resource: "memberships", Namespace: "org-acme", Name: "carol"},
			Organization: "acme",
			Decision:     audit.DecisionDenied,
			Reason:       `user "system:serviceaccount:argocd:argocd-application-controller" (admin) may not grant role owner`,
			Changes:      &audit.Changes{Fields: []string{"spec.role", "spec.subject.kind", "spec.subject.name"}, RoleAfter: "owner"},
		},
	}, {
		name:     "dry-run delete of an organization",
		req:      request(admissionv1.Delete, "access.tenantward.io", "Organization", "organizations", "", "acme", alice, map[string]any{"spec": map[string]any{"displayName": "Acme"}}, nil, true),
		decision: audit.DecisionAllowed,
		want: audit.Record{
			AuditID:      "uid-acme",
			Actor:        audit.Actor{Username: "alice@acme.example", UID: "u-1", Groups: []string{"acme:owners", "system:authenticated"}},
			Action:       "delete",
			Resource:     audit.Resource{Group: "access.tenantward.io", Version: "v1alpha1", Kind: "Organization", Resource: "organizations", Name: "acme"},
			Organization: "acme",
			Decision:     audit.DecisionAllowed,
			DryRun:       true,
			Changes:      &audit.Changes{Fields: []string{"spec.displayName"}},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changes, err := audit.ChangesFromAdmission(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			got := audit.FromAdmission(tt.req, tt.decision, tt.reason, changes)
			if got.SchemaVersion != audit.SchemaVersion || got.Time.IsZero() {
				t.Errorf("schema %q, time %v: want %q and a time", got.SchemaVersion, got.Time, audit.SchemaVersion)
			}
			got.SchemaVersion, got.Time = "", tt.want.Time
			if !reflect.DeepEqual(got, tt.want) {
				gj, _ := json.MarshalIndent(got, "", " ")
				wj, _ := json.MarshalIndent(tt.want, "", " ")
				t.Errorf("record:\n%s\nwant:\n%s", gj, wj)
			}
		})
	}
}

func TestServiceAccountOf(t *testing.T) {
	for in, want := range map[string]string{
		"system:serviceaccount:argocd:applier": "argocd/applier",
		"system:serviceaccount:argocd":         "",
		"system:serviceaccount::x":             "",
		"system:serviceaccount:a:b:c":          "",
		"alice@acme.example":                   "",
		"":                                     "",
	} {
		if got := audit.ServiceAccountOf(in); got != want {
			t.Errorf("ServiceAccountOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestChangesFromAdmissionAPIKeyPermissions(t *testing.T) {
	key := func(prompts string) map[string]any {
		return map[string]any{"spec": map[string]any{
			"permissions": map[string]any{"prompts": prompts, "completions": "Enabled"},
			"rotation":    map[string]any{"gracePeriod": "24h"},
		}}
	}
	req := request(admissionv1.Update, "access.tenantward.io", "APIKey", "apikeys", "acme-research", "ci", authenticationv1.UserInfo{Username: "dave"}, key("Read"), key("Write"), false)
	got, err := audit.ChangesFromAdmission(req)
	if err != nil {
		t.Fatal(err)
	}
	want := &audit.Changes{
		Fields:            []string{"spec.permissions.prompts"},
		PermissionsBefore: map[string]string{"prompts": "Read", "completions": "Enabled"},
		PermissionsAfter:  map[string]string{"prompts": "Write", "completions": "Enabled"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changes = %+v, want %+v", got, want)
	}
}

func TestChangesFromAdmissionBounded(t *testing.T) {
	spec := map[string]any{}
	for i := range audit.MaxChangedFields + 10 {
		spec[strings.Repeat("f", i+1)] = i
	}
	req := request(admissionv1.Create, "gateway.tenantward.io", "Prompt", "prompts", "acme-research", "p", authenticationv1.UserInfo{Username: "erin"}, nil, map[string]any{"spec": spec}, false)
	got, err := audit.ChangesFromAdmission(req)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Fields) != audit.MaxChangedFields || got.FieldsOmitted != 10 {
		t.Errorf("%d fields, %d omitted; want %d and 10", len(got.Fields), got.FieldsOmitted, audit.MaxChangedFields)
	}
}

func TestChangesFromAdmissionMalformed(t *testing.T) {
	req := request(admissionv1.Create, "gateway.tenantward.io", "Prompt", "prompts", "acme-research", "p", authenticationv1.UserInfo{Username: "erin"}, nil, nil, false)
	req.Object.Raw = []byte(`["not", "an", "object"]`)
	if _, err := audit.ChangesFromAdmission(req); err == nil || !strings.Contains(err.Error(), "decoding the new Prompt") {
		t.Errorf("error = %v, want one about decoding the new Prompt", err)
	}
}

// TestNoSecretInRecords feeds a canary key through every place a key could sit in
// a request (a Secret's data, an annotation, a free-form spec, a status write)
// and checks that no record carries it.
func TestNoSecretInRecords(t *testing.T) {
	canary := canaryKey(t)
	user := authenticationv1.UserInfo{Username: "mallory@acme.example"}
	withCanary := func(extra map[string]any) map[string]any {
		obj := map[string]any{"metadata": map[string]any{"annotations": map[string]any{"note": canary}}}
		for k, v := range extra {
			obj[k] = v
		}
		return obj
	}
	reqs := []admission.Request{
		request(admissionv1.Create, "", "Secret", "secrets", "acme-research", "ci-apikey", user, nil, withCanary(map[string]any{"stringData": map[string]any{"key": canary}}), false),
		request(admissionv1.Update, "access.tenantward.io", "APIKey", "apikeys", "acme-research", "ci", user, map[string]any{"spec": map[string]any{"description": "old"}}, withCanary(map[string]any{"spec": map[string]any{"description": canary, "permissions": map[string]any{"prompts": canary}}}), false),
		request(admissionv1.Update, "gateway.tenantward.io", "Prompt", "prompts", "acme-research", "p", user, nil, withCanary(map[string]any{"spec": map[string]any{"template": canary}}), false),
		request(admissionv1.Update, "access.tenantward.io", "Membership", "memberships", "org-acme", "m", user, nil, withCanary(map[string]any{"spec": map[string]any{"role": canary}}), false),
	}
	status := request(admissionv1.Update, "access.tenantward.io", "APIKey", "apikeys", "acme-research", "ci", user, nil, withCanary(map[string]any{"status": map[string]any{"hash": canary}}), false)
	status.SubResource = "status"
	reqs = append(reqs, status)
	for _, req := range reqs {
		changes, err := audit.ChangesFromAdmission(req)
		if err != nil {
			t.Fatal(err)
		}
		out, err := json.Marshal(audit.FromAdmission(req, audit.DecisionDenied, "denied", changes))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), canary) {
			t.Errorf("the canary key is in the %s record: %s", req.Kind.Kind, out)
		}
	}
}

func TestOperatorAction(t *testing.T) {
	obj := &metav1.ObjectMeta{Name: "ci", Namespace: "acme-research", Labels: map[string]string{"tenantward.io/organization": "acme", "tenantward.io/workspace": "research"}}
	gvk := schema.GroupVersionKind{Group: "access.tenantward.io", Version: "v1alpha1", Kind: "APIKey"}
	a := audit.OperatorAction(audit.ActionKeyRotated, gvk, obj, "rotation requested")
	b := audit.OperatorAction(audit.ActionKeyRotated, gvk, obj, "rotation requested")
	if a.AuditID == "" || a.AuditID == b.AuditID {
		t.Errorf("audit IDs %q and %q: want fresh, distinct IDs", a.AuditID, b.AuditID)
	}
	if !a.Actor.Operator || a.Organization != "acme" || a.Workspace != "research" || a.Decision != audit.DecisionAllowed ||
		a.Resource != (audit.Resource{Group: gvk.Group, Version: gvk.Version, Kind: "APIKey", Namespace: "acme-research", Name: "ci"}) {
		t.Errorf("record = %+v", a)
	}
	r := audit.Record{Organization: "from-namespace-name"}
	r.SetTenancy(map[string]string{"tenantward.io/organization": "acme", "tenantward.io/workspace": "research", "team": "ml"})
	if r.Organization != "acme" || r.Workspace != "research" {
		t.Errorf("SetTenancy: organization %q, workspace %q; want acme, research", r.Organization, r.Workspace)
	}
	if got := audit.EventReason(audit.ActionKeyRotated); got != "KeyRotated" {
		t.Errorf("EventReason = %q, want KeyRotated", got)
	}
}
