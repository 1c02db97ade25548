package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/frontdoor"
	"github.com/tenantward/tenantward/internal/verifier"
)

// providerKey is the provider credential clients send the gateway as the
// bearer token, next to the tenantward key in x-portkey-api-key.
const providerKey = "sk-stub-provider-credential"

func itoa(i int) string { return strconv.Itoa(i) }

// caller calls the front door as the gateway's clients do.
type caller struct {
	t    *testing.T
	fd   *frontdoor.FrontDoor
	base string
}

type answer struct {
	status int
	body   string
	// reached says whether the stub upstream received a request meanwhile.
	reached bool
}

// call sends method path with key in x-portkey-api-key and the OpenAI
// provider pointed at the stub; header adds or overrides headers.
func (c caller) call(method, path, key string, header ...string) answer {
	c.t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"model":"stub-model","messages":[{"role":"user","content":"Say hello"}]}`)
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-portkey-api-key", key)
	req.Header.Set("Authorization", "Bearer "+providerKey)
	req.Header.Set("x-portkey-provider", "openai")
	req.Header.Set("x-portkey-custom-host", c.fd.Stub.URL)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	hits := len(c.fd.Stub.Requests())
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	return answer{status: resp.StatusCode, body: string(raw), reached: len(c.fd.Stub.Requests()) > hits}
}

// refused asserts a 401 or 403 that never reached the upstream.
func (c caller) refused(what string, status int, method, path, key string) {
	c.t.Helper()
	a := c.call(method, path, key)
	if a.status != status || a.reached {
		c.t.Errorf("%s: %s %s answered %d (upstream reached: %v): %s; want %d, upstream not reached", what, method, path, a.status, a.reached, a.body, status)
	}
}

// TestPortkeyGatewayBehindVerifier is the path a platform team deploys:
// client → nginx (auth_request to the verifier) → Portkey gateway → provider.
func TestPortkeyGatewayBehindVerifier(t *testing.T) {
	org, orgNS, ns := tenant(t, "gw")
	// One workspace key and one admin key per permission level: every graded
	// feature at that level, and Completions and Metrics on from Read up.
	levels := []string{"Disabled", "Read", "Write", "Delete"}
	byLevel := make([]string, len(levels))
	adminByLevel := make([]string, len(levels))
	var keyName string
	for i, l := range levels {
		toggle := accessv1alpha1.ToggleDisabled
		if i > 0 {
			toggle = accessv1alpha1.ToggleEnabled
		}
		lvl := accessv1alpha1.AccessLevel(l)
		perms := accessv1alpha1.APIKeyPermissions{
			Metrics: toggle, Completions: toggle, Prompts: lvl, Configs: lvl, Guardrails: lvl,
			Integrations: lvl, Providers: lvl, Models: lvl, Users: lvl,
		}
		k, plain := issue(t, ns, "level-"+strings.ToLower(l), perms)
		byLevel[i] = plain
		if l == "Read" {
			keyName = k.Namespace + "/" + k.Name
		}
		_, adminByLevel[i] = issue(t, orgNS, "admin-level-"+strings.ToLower(l), perms)
	}
	completionsOnly := accessv1alpha1.APIKeyPermissions{Completions: accessv1alpha1.ToggleEnabled}
	disabledKey, disabledPlain := issue(t, ns, "to-disable", completionsOnly)
	expiringKey, expiringPlain := issue(t, ns, "to-expire", completionsOnly)
	rotatingKey, rotatingPlain := issue(t, ns, "to-rotate", completionsOnly, func(k *accessv1alpha1.APIKey) {
		k.Spec.Rotation = &accessv1alpha1.Rotation{GracePeriod: &metav1.Duration{Duration: 0}}
	})
	deletedKey, deletedPlain := issue(t, ns, "to-delete", completionsOnly)

	fd, v := frontDoor(t)
	reader := byLevel[1]

	t.Run("chat completion reaches the upstream with the caller's identity", func(t *testing.T) {
		c := caller{t: t, fd: fd, base: fd.URL}
		a := c.call("POST", "/v1/chat/completions", reader,
			// The gateway forwards only the headers it is told to.
			"x-portkey-forward-headers", "x-tenantward-organization,x-tenantward-workspace,x-tenantward-key",
			// A forged identity: nginx must overwrite it with the verifier's.
			"X-Tenantward-Organization", "someone-else")
		if a.status != 200 || !a.reached {
			t.Fatalf("chat completion: %d (upstream reached: %v): %s", a.status, a.reached, a.body)
		}
		var out struct {
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(a.body), &out); err != nil || len(out.Choices) != 1 || out.Choices[0].Message.Content != frontdoor.StubAnswer {
			t.Fatalf("the client did not get the upstream's answer: %s", a.body)
		}
		reqs := fd.Stub.Requests()
		got := reqs[len(reqs)-1]
		if got.Method != "POST" || got.Path != "/v1/chat/completions" || !strings.Contains(got.Body, "Say hello") {
			t.Fatalf("the upstream got %s %s %s", got.Method, got.Path, got.Body)
		}
		if got.Header.Get("Authorization") != "Bearer "+providerKey {
			t.Errorf("the provider credential did not arrive: %q", got.Header.Get("Authorization"))
		}
		if o, w, k := got.Header.Get("X-Tenantward-Organization"), got.Header.Get("X-Tenantward-Workspace"), got.Header.Get("X-Tenantward-Key"); o != org || w == "" || k != keyName {
			t.Errorf("identity headers through the gateway: organization %q workspace %q key %q; want %q, the workspace, %q", o, w, k, org, keyName)
		}
		if got.Header.Get("X-Portkey-Api-Key") != "" {
			t.Error("the tenantward key travelled past nginx")
		}
	})

	t.Run("refused keys never reach the upstream", func(t *testing.T) {
		c := caller{t: t, fd: fd, base: fd.URL}
		// Each key works before its change.
		for _, k := range []string{disabledPlain, expiringPlain, rotatingPlain, deletedPlain} {
			if a := c.call("POST", "/v1/chat/completions", k); a.status != 200 || !a.reached {
				t.Fatalf("before the change: %d %s", a.status, a.body)
			}
		}
		update(t, disabledKey, func(k *accessv1alpha1.APIKey) { k.Spec.State = accessv1alpha1.KeyDisabled })
		update(t, expiringKey, func(k *accessv1alpha1.APIKey) {
			k.Spec.ExpiresAt = &metav1.Time{Time: time.Now().Add(-time.Minute)}
		})
		update(t, rotatingKey, func(k *accessv1alpha1.APIKey) {
			k.Annotations = map[string]string{accessv1alpha1.AnnotationRotate: "now"}
		})
		_, rotatedPlain := delivered(t, rotatingKey, rotatingKey.Status.Hash)
		if err := op.Admin.Delete(op.Ctx, deletedKey); err != nil {
			t.Fatal(err)
		}
		base := "http://" + v.HTTPAddr()
		for _, c := range []struct{ key, result string }{
			{disabledPlain, "DISABLED"}, {expiringPlain, "EXPIRED"}, {rotatingPlain, "NOT_FOUND"}, {deletedPlain, "NOT_FOUND"}, {rotatedPlain, "VALID"},
		} {
			eventuallyVerifies(t, base, c.key, c.result)
		}
		c.refused("disabled", 401, "POST", "/v1/chat/completions", disabledPlain)
		c.refused("expired", 401, "POST", "/v1/chat/completions", expiringPlain)
		c.refused("rotated past its grace period", 401, "POST", "/v1/chat/completions", rotatingPlain)
		c.refused("deleted", 401, "POST", "/v1/chat/completions", deletedPlain)
		c.refused("malformed", 401, "POST", "/v1/chat/completions", reader[:len(reader)-1])
		c.refused("no key", 401, "POST", "/v1/chat/completions", "")
		if a := c.call("POST", "/v1/chat/completions", rotatedPlain); a.status != 200 || !a.reached {
			t.Errorf("the rotated key's successor: %d %s", a.status, a.body)
		}
	})

	t.Run("routes by permission level", func(t *testing.T) {
		c := caller{t: t, fd: fd, base: fd.URL}
		for _, r := range routes {
			var row []string
			keys, kind := byLevel, "workspace"
			if r.orgLevel {
				keys, kind = append(slices.Clone(byLevel), adminByLevel...), "workspace and admin"
			}
			for j, key := range keys {
				i := j % len(levels)
				// Organization-level routes belong to admin keys: a workspace
				// key is refused there whatever its permissions.
				allowed := r.min >= 0 && i >= r.min && (!r.orgLevel || j >= len(levels))
				a := c.call(r.method, r.path, key)
				who := levels[i]
				if j >= len(levels) {
					who = "admin " + levels[i]
				}
				row = append(row, fmt.Sprintf("%s %d%s", who, a.status, map[bool]string{true: " (upstream)", false: ""}[a.reached]))
				switch {
				case allowed && (a.status == 401 || a.status == 403):
					t.Errorf("%s %s with a %s key: %d %s; the route map allows it", r.method, r.path, who, a.status, a.body)
				case !allowed && (a.status != 403 || a.reached):
					t.Errorf("%s %s with a %s key: %d (upstream reached: %v); want 403", r.method, r.path, who, a.status, a.reached)
				}
				if strings.Contains(a.body, key[4:]) {
					t.Errorf("%s %s: the answer repeats the key", r.method, r.path)
				}
			}
			t.Logf("| %s %s | %s | %s keys: %s |", r.method, r.path, r.needs, kind, strings.Join(row, ", "))
		}
	})

	t.Run("the gateway's own errors carry no key", func(t *testing.T) {
		c := caller{t: t, fd: fd, base: fd.URL}
		for _, h := range [][]string{
			{"x-portkey-provider", "no-such-provider"},
			{"x-portkey-custom-host", "http://127.0.0.1:1/v1"},
			{"x-portkey-config", "{not json"},
		} {
			a := c.call("POST", "/v1/chat/completions", reader, h...)
			if a.status < 400 || a.reached {
				t.Errorf("%s: %s: %d (upstream reached: %v): %s; want the gateway's error", h[0], h[1], a.status, a.reached, a.body)
			}
			if strings.Contains(a.body, reader[4:]) || strings.Contains(a.body, providerKey) {
				t.Errorf("%s: %s: the gateway's error repeats a key: %s", h[0], h[1], a.body)
			}
			t.Logf("%s: %s → %d %s", h[0], h[1], a.status, strings.TrimSpace(a.body))
		}
	})

	// No log holds any key: nginx's, the gateway's, the upstream's, the operator's.
	logs := fd.Logs()
	logs["the operator"] = op.Log()
	if !strings.Contains(logs["the upstream"], providerKey) {
		t.Error("the upstream's log does not record the headers it got: scanning it would prove nothing")
	}
	for name, l := range logs {
		if l == "" && name != "the operator" {
			t.Errorf("%s logged nothing: the scan would prove nothing", name)
		}
		for _, k := range append(byLevel, disabledPlain, expiringPlain, rotatingPlain, deletedPlain) {
			if strings.Contains(l, k[4:]) {
				t.Errorf("a key's plaintext appears in %s's log", name)
			}
		}
	}
}

// route is one route tried at every permission level: min is the lowest
// level (index into the levels) the route map allows, -1 for none; orgLevel
// routes (keys: Admin in the route map) are tried with admin keys too, and
// refuse every workspace key.
type route struct {
	method, path, needs string
	min                 int
	orgLevel            bool
}

// routes are the Portkey gateway's own routes (build/start-server.js of
// @portkey-ai/gateway) and the control-plane routes the default route map
// grades, which the open-source gateway proxies to the provider.
var routes = []route{
	{"POST", "/v1/chat/completions", "Completions", 1, false},
	{"POST", "/v1/completions", "Completions", 1, false},
	{"POST", "/v1/embeddings", "Completions", 1, false},
	{"POST", "/v1/messages", "Completions", 1, false},
	{"POST", "/v1/messages/count_tokens", "Completions", 1, false},
	{"POST", "/v1/images/generations", "Completions", 1, false},
	{"POST", "/v1/audio/speech", "Completions", 1, false},
	{"GET", "/v1/files", "Completions", 1, false},
	{"DELETE", "/v1/files/file-1", "Completions", 1, false},
	{"POST", "/v1/batches", "Completions", 1, false},
	{"POST", "/v1/batches/batch-1/cancel", "Completions", 1, false},
	{"POST", "/v1/responses", "Completions", 1, false},
	{"DELETE", "/v1/responses/resp-1", "Completions", 1, false},
	{"GET", "/v1/fine_tuning/jobs", "Completions", 1, false},
	{"POST", "/v1/proxy/moderations", "Completions", 1, false},
	{"POST", "/v1/prompts/p-1/v1/chat/completions", "Completions + Prompts Read", 1, false},
	{"POST", "/v1/prompts/p-1/completions", "Completions + Prompts Read", 1, false},
	{"GET", "/v1/models", "Models Read", 1, false},
	{"GET", "/v1/prompts", "Prompts Read", 1, false},
	{"POST", "/v1/prompts", "Prompts Write", 2, false},
	{"DELETE", "/v1/prompts/p-1", "Prompts Delete", 3, false},
	{"GET", "/v1/configs", "Configs Read", 1, false},
	{"POST", "/v1/configs", "Configs Write", 2, false},
	{"DELETE", "/v1/configs/c-1", "Configs Delete", 3, false},
	{"GET", "/v1/guardrails", "Guardrails Read", 1, false},
	{"POST", "/v1/integrations", "Integrations Write", 2, false},
	{"DELETE", "/v1/virtual-keys/vk-1", "Providers Delete", 3, false},
	{"GET", "/v1/admin/users", "Users Read, admin keys", 1, true},
	{"POST", "/v1/admin/user-invites", "Users Write, admin keys", 2, true},
	{"DELETE", "/v1/admin/users/u-1", "Users Delete, admin keys", 3, true},
	{"POST", "/v1/user-invites", "Users Write, admin keys", 2, true},
	{"GET", "/v1/analytics/graphs/requests", "Metrics", 1, false},
	{"GET", "/v1/logs", "Metrics", 1, false},
	{"POST", "/v1/moderations", "unmapped", -1, false},
	{"GET", "/v1/unknown", "unmapped", -1, false},
	{"GET", "/", "unmapped", -1, false},
	{"GET", "/public/", "unmapped", -1, false},
	{"GET", "/log/stream", "unmapped", -1, false},
}

func update(t *testing.T, key *accessv1alpha1.APIKey, mutate func(*accessv1alpha1.APIKey)) {
	t.Helper()
	eventually(t, "updating APIKey "+key.Name, func() error {
		k := &accessv1alpha1.APIKey{}
		if err := op.Admin.Get(op.Ctx, ctrlclient.ObjectKeyFromObject(key), k); err != nil {
			return err
		}
		mutate(k)
		return op.Admin.Update(op.Ctx, k)
	})
}

// eventuallyVerifies waits until the verifier answers want for key, so that
// a request sent next meets the change.
func eventuallyVerifies(t *testing.T, base, key, want string) {
	t.Helper()
	eventually(t, "the verifier answers "+want, func() error {
		body, _ := json.Marshal(verifier.VerifyRequest{Key: key})
		resp, err := http.Post(base+"/v1/verify", "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer func() { _ = resp.Body.Close() }()
		var out verifier.VerifyResponse
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			return err
		}
		if out.Result != want {
			return fmt.Errorf("result %s", out.Result)
		}
		return nil
	})
}
