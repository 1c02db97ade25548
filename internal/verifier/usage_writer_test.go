package verifier

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// TestLastUsedWriter decides each write against a stored key: absent or
// older lastUsedAt is written (the start of the period), one at or after the
// period's start is left alone, a deleted key is gone, and a refused patch
// is a failure with the API server's error.
func TestLastUsedWriter(t *testing.T) {
	u, err := NewUsage(UsageOptions{Period: time.Hour, WriterQPS: 1, QueueSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 14, 37, 0, 0, time.UTC)
	hour := metav1.NewTime(now.Truncate(time.Hour))
	earlier := metav1.NewTime(hour.Add(-time.Hour))
	const path = "/apis/access.tenantward.io/v1alpha1/namespaces/ns/apikeys/app/status"
	for _, c := range []struct {
		what    string
		stored  bool
		last    *metav1.Time
		refuse  bool
		outcome string
	}{
		{"never used", true, nil, false, outcomeWritten},
		{"used an hour earlier", true, &earlier, false, outcomeWritten},
		{"written by another replica", true, &hour, false, outcomeCurrent},
		{"deleted", false, nil, false, outcomeGone},
		{"refused", true, nil, true, outcomeFailed},
	} {
		// The API server's status subresource of one key, at resourceVersion "7".
		var patch []map[string]any
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			switch {
			case r.URL.Path != path || !c.stored:
				w.WriteHeader(http.StatusNotFound)
				_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
			case r.Method == http.MethodGet:
				var k keyStatus
				k.Metadata.ResourceVersion, k.Status.LastUsedAt = "7", c.last
				_ = json.NewEncoder(w).Encode(k)
			case r.Method == http.MethodPatch && c.refuse:
				w.WriteHeader(http.StatusForbidden)
				_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"admission webhook denied the request","reason":"Forbidden","code":403}`)
			case r.Method == http.MethodPatch && r.Header.Get("Content-Type") == "application/json-patch+json":
				_ = json.NewDecoder(r.Body).Decode(&patch)
				_, _ = io.WriteString(w, `{}`)
			default:
				w.WriteHeader(http.StatusBadRequest)
			}
		}))
		rc, err := newAPIClient(&rest.Config{Host: api.URL})
		if err != nil {
			t.Fatal(err)
		}
		k := &keyUsage{name: usageName{"ns", "app"}}
		k.queued.Store(now.UnixNano() / int64(time.Hour))
		outcome, err := u.write(context.Background(), statusClient{rc}, k)
		api.Close()
		if outcome != c.outcome || (c.outcome == outcomeFailed) != (err != nil) {
			t.Errorf("%s: %s, %v; want %s", c.what, outcome, err, c.outcome)
		}
		if c.outcome != outcomeWritten {
			continue
		}
		got, _ := json.Marshal(patch)
		want := `[{"op":"test","path":"/metadata/resourceVersion","value":"7"},{"op":"add","path":"/status/lastUsedAt","value":"` + hour.UTC().Format(time.RFC3339) + `"}]`
		if string(got) != want {
			t.Errorf("%s: patched %s, want %s", c.what, got, want)
		}
	}
}
