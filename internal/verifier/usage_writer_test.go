package verifier

import (
	"context"
	"errors"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// TestLastUsedWriter decides each write against a stored key: absent or
// older lastUsedAt is written (the start of the period), one at or after the
// period's start is left alone, a deleted key is gone, and a refused patch
// is a failure with the API server's error.
func TestLastUsedWriter(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	u, err := NewUsage(UsageOptions{Period: time.Hour, WriterQPS: 1, QueueSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 14, 37, 0, 0, time.UTC)
	hour := metav1.NewTime(now.Truncate(time.Hour))
	stored := func(last *metav1.Time) *accessv1alpha1.APIKey {
		k := &accessv1alpha1.APIKey{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "app"}}
		k.Status.LastUsedAt = last
		return k
	}
	earlier := metav1.NewTime(hour.Add(-time.Hour))
	refused := errors.New("admission webhook denied the request")
	for _, c := range []struct {
		what    string
		objs    []client.Object
		patch   error
		outcome string
	}{
		{"never used", []client.Object{stored(nil)}, nil, outcomeWritten},
		{"used an hour earlier", []client.Object{stored(&earlier)}, nil, outcomeWritten},
		{"written by another replica", []client.Object{stored(&hour)}, nil, outcomeCurrent},
		{"deleted", nil, nil, outcomeGone},
		{"refused", []client.Object{stored(nil)}, refused, outcomeFailed},
	} {
		// The fake client has no GET of a status subresource: it is the object.
		funcs := interceptor.Funcs{SubResourceGet: func(ctx context.Context, cl client.Client, _ string, obj, sub client.Object, _ ...client.SubResourceGetOption) error {
			return cl.Get(ctx, client.ObjectKeyFromObject(obj), sub)
		}}
		if c.patch != nil {
			funcs.SubResourcePatch = func(context.Context, client.Client, string, client.Object, client.Patch, ...client.SubResourcePatchOption) error {
				return c.patch
			}
		}
		cl := fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&accessv1alpha1.APIKey{}).WithObjects(c.objs...).WithInterceptorFuncs(funcs).Build()
		k := &keyUsage{name: usageName{"ns", "app"}}
		k.queued.Store(now.UnixNano() / int64(time.Hour))
		outcome, err := u.write(context.Background(), cl, k)
		if outcome != c.outcome || (c.outcome == outcomeFailed) != (err != nil) {
			t.Errorf("%s: %s, %v; want %s", c.what, outcome, err, c.outcome)
		}
		if c.outcome != outcomeWritten {
			continue
		}
		got := &accessv1alpha1.APIKey{}
		if err := cl.Get(context.Background(), client.ObjectKey{Namespace: "ns", Name: "app"}, got); err != nil {
			t.Fatal(err)
		}
		if got.Status.LastUsedAt == nil || !got.Status.LastUsedAt.Equal(&hour) {
			t.Errorf("%s: lastUsedAt %v, want %s", c.what, got.Status.LastUsedAt, hour)
		}
	}
}
