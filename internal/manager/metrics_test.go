package manager

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tenantward/tenantward/internal/audit"
)

type collect []audit.Record

func (c *collect) Record(_ context.Context, r audit.Record) { *c = append(*c, r) }

// TestKeyLifecycleMetricCountsKeyRecords: each API-key step the operator
// records is counted by step, and every record still reaches the audit trail.
func TestKeyLifecycleMetricCountsKeyRecords(t *testing.T) {
	var trail collect
	rec := countingKeyLifecycle{&trail}
	before := map[string]float64{}
	for _, step := range []string{"issued", "rotated", "revoked"} {
		before[step] = testutil.ToFloat64(keyLifecycle.WithLabelValues(step))
	}
	for _, action := range []string{audit.ActionKeyIssued, audit.ActionKeyIssued, audit.ActionKeyRotated, audit.ActionNamespaceCreated, "create"} {
		rec.Record(context.Background(), audit.Record{Action: action})
	}
	for step, want := range map[string]float64{"issued": 2, "rotated": 1, "revoked": 0} {
		if got := testutil.ToFloat64(keyLifecycle.WithLabelValues(step)) - before[step]; got != want {
			t.Errorf("tenantward_apikey_lifecycle_total{step=%q} rose by %v, want %v", step, got, want)
		}
	}
	if len(trail) != 5 {
		t.Errorf("%d of 5 records reached the audit trail", len(trail))
	}
}
