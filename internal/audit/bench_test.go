package audit_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/tenantward/tenantward/internal/audit"
)

// discardSink accepts every batch at once.
type discardSink struct{}

func (discardSink) Name() string                        { return "bench" }
func (discardSink) Write(context.Context, []byte) error { return nil }
func (discardSink) Close() error                        { return nil }

// BenchmarkAdmissionAuditCost measures what auditing adds to one admission
// decision — ChangesFromAdmission, FromAdmission and Record into the sink's
// queue — for a Membership role change, next to a baseline every admission pays
// anyway: decoding its AdmissionReview. It reports both per operation and their
// ratio (audit-ns/op ÷ decode-ns/op).
func BenchmarkAdmissionAuditCost(b *testing.B) {
	user := authenticationv1.UserInfo{Username: "alice@acme.example", UID: "u-1", Groups: []string{"acme:owners", "system:authenticated"}}
	req := request(admissionv1.Update, "access.tenantward.io", "Membership", "memberships", "org-acme", "bob", user,
		asStored(membership("member", map[string]string{"team": "ml"})), asStored(membership("admin", map[string]string{"team": "ml"})), false)
	review, err := json.Marshal(admissionv1.AdmissionReview{Request: &req.AdmissionRequest})
	if err != nil {
		b.Fatal(err)
	}
	d := audit.NewDispatcher(logr.Discard(), audit.Target{Sink: discardSink{}, Delivery: audit.DeliveryOptions{QueueSize: 1 << 16}})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = d.Close(ctx)
	}()
	dropped := func() float64 {
		return counterValue(b, "tenantward_audit_records_dropped_total", map[string]string{"sink": "bench"})
	}
	droppedBefore := dropped()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()

	// The two loops alternate in short chunks, so that the load of a shared
	// machine weighs on both alike and their ratio stays meaningful.
	const chunk = 64
	var decode, record time.Duration
	for done := 0; done < b.N; done += chunk {
		n := min(chunk, b.N-done)
		start := time.Now()
		for range n {
			var ar admissionv1.AdmissionReview
			if err := json.Unmarshal(review, &ar); err != nil {
				b.Fatal(err)
			}
		}
		mid := time.Now()
		for range n {
			changes, err := audit.ChangesFromAdmission(req)
			if err != nil {
				b.Fatal(err)
			}
			d.Record(ctx, audit.FromAdmission(req, audit.DecisionAllowed, "", changes))
		}
		decode += mid.Sub(start)
		record += time.Since(mid)
	}
	b.StopTimer()

	n := float64(b.N)
	b.ReportMetric(float64(decode.Nanoseconds())/n, "decode-ns/op")
	b.ReportMetric(float64(record.Nanoseconds())/n, "audit-ns/op")
	b.ReportMetric(float64(record)/float64(decode), "audit/decode")
	b.ReportMetric(dropped()-droppedBefore, "dropped")
}

// asStored adds what the API server sends along with a stored object: identity,
// timestamps, managed fields, status.
func asStored(obj map[string]any) map[string]any {
	meta := obj["metadata"].(map[string]any)
	meta["uid"] = "5f0b7a9e-2c1d-4e8f-9a6b-3d2c1b0a9f8e"
	meta["resourceVersion"] = "48213"
	meta["generation"] = 3
	meta["creationTimestamp"] = "2026-11-20T10:15:00Z"
	meta["managedFields"] = []any{
		map[string]any{"manager": "argocd-controller", "operation": "Apply", "apiVersion": "access.tenantward.io/v1alpha1", "time": "2026-11-20T10:15:00Z", "fieldsType": "FieldsV1",
			"fieldsV1": map[string]any{"f:metadata": map[string]any{"f:labels": map[string]any{"f:team": map[string]any{}}}, "f:spec": map[string]any{"f:role": map[string]any{}, "f:subject": map[string]any{"f:kind": map[string]any{}, "f:name": map[string]any{}}}}},
		map[string]any{"manager": "tenantward", "operation": "Apply", "subresource": "status", "apiVersion": "access.tenantward.io/v1alpha1", "time": "2026-11-20T10:15:01Z", "fieldsType": "FieldsV1",
			"fieldsV1": map[string]any{"f:status": map[string]any{"f:conditions": map[string]any{}, "f:observedGeneration": map[string]any{}, "f:organization": map[string]any{}, "f:boundNamespaces": map[string]any{}}}},
	}
	obj["status"] = map[string]any{"observedGeneration": 3, "organization": "acme", "boundNamespaces": []any{"org-acme", "acme-research", "acme-platform"},
		"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "Bound", "message": "role bound in 3 namespaces", "lastTransitionTime": "2026-11-20T10:15:01Z", "observedGeneration": 3}}}
	return obj
}

// BenchmarkRecordEnqueue is Record alone: encoding plus the non-blocking send.
func BenchmarkRecordEnqueue(b *testing.B) {
	d := audit.NewDispatcher(logr.Discard(), audit.Target{Sink: discardSink{}, Delivery: audit.DeliveryOptions{QueueSize: 1 << 16}})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = d.Close(ctx)
	}()
	rec := audit.Record{SchemaVersion: audit.SchemaVersion, AuditID: "0d6f3c1e-9d7b-4c55-8f0e-3c2b1a0f9e8d", Action: "update",
		Actor:    audit.Actor{Username: "alice@acme.example", Groups: []string{"acme:owners", "system:authenticated"}},
		Resource: audit.Resource{Group: "access.tenantward.io", Version: "v1alpha1", Kind: "Membership", Resource: "memberships", Namespace: "org-acme", Name: "bob"},
		Decision: audit.DecisionAllowed, Changes: &audit.Changes{Fields: []string{"spec.role"}, RoleBefore: "member", RoleAfter: "admin"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		d.Record(ctx, rec)
	}
}
