package gitops

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"

	"github.com/tenantward/tenantward/config/argocd"
	"github.com/tenantward/tenantward/internal/controlplane"
	"github.com/tenantward/tenantward/internal/testenv"
)

// Argo CD health statuses the script returns.
const (
	healthy     = "Healthy"
	progressing = "Progressing"
	degraded    = "Degraded"
	suspended   = "Suspended"
)

// argoHealth runs the shipped health check on u the way Argo CD does: the
// object as the global obj, the returned table's status and message.
func argoHealth(u *unstructured.Unstructured) (healthStatus, message string, err error) {
	L := lua.NewState()
	defer L.Close()
	L.SetGlobal("obj", toLua(L, u.Object))
	if err := L.DoString(argocd.Health); err != nil {
		return "", "", fmt.Errorf("config/argocd/health.lua: %w", err)
	}
	hs, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("config/argocd/health.lua returned %s, not a table", L.Get(-1).Type())
	}
	return lua.LVAsString(hs.RawGetString("status")), lua.LVAsString(hs.RawGetString("message")), nil
}

// toLua converts a decoded JSON value to Lua as Argo CD does.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := L.NewTable()
		for k, e := range v {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	case []any:
		t := L.NewTable()
		for _, e := range v {
			t.Append(toLua(L, e))
		}
		return t
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	default:
		return lua.LNil
	}
}

// state is what kstatus and Argo CD make of an object.
type state struct {
	kstatus status.Status
	health  string
}

func (s state) String() string { return fmt.Sprintf("kstatus %s, Argo CD %s", s.kstatus, s.health) }

// stateOf computes both, with the messages for failure reports.
func stateOf(u *unstructured.Unstructured) (state, string, error) {
	res, err := status.Compute(u)
	if err != nil {
		return state{}, "", err
	}
	health, msg, err := argoHealth(u)
	if err != nil {
		return state{}, "", err
	}
	return state{res.Status, health}, fmt.Sprintf("kstatus: %s; Argo CD: %s", res.Message, msg), nil
}

// expect asserts the state of u as it is (an API server's answer).
func expect(t testing.TB, u *unstructured.Unstructured, want state, msgPart string) {
	t.Helper()
	got, msg, err := stateOf(u)
	if err != nil {
		t.Fatal(err)
	}
	if got != want || !strings.Contains(msg, msgPart) {
		t.Fatalf("%s %s: %s (%s), want %s with %q", u.GetKind(), u.GetName(), got, msg, want, msgPart)
	}
}

// eventually waits until the object in the API server is in state want, its
// messages containing msgPart, and returns it.
func eventually(t testing.TB, u *unstructured.Unstructured, want state, msgPart string) *unstructured.Unstructured {
	t.Helper()
	var cur *unstructured.Unstructured
	testenv.Eventually(t, ctx, fmt.Sprintf("%s %s %s", u.GetKind(), u.GetName(), want), func() error {
		var err error
		if cur, err = get(u); err != nil {
			return err
		}
		got, msg, err := stateOf(cur)
		if err != nil {
			return err
		}
		if got != want || !strings.Contains(msg, msgPart) {
			return fmt.Errorf("%s (%s)", got, msg)
		}
		return nil
	})
	return cur
}

// TestDocsShipTheHealthCheck: docs/gitops.md carries the tested script
// verbatim, for each of the five kinds.
func TestDocsShipTheHealthCheck(t *testing.T) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(root, "docs", "gitops.md"))
	if err != nil {
		t.Fatal(err)
	}
	script := strings.Split(strings.TrimRight(argocd.Health, "\n"), "\n")
	at := strings.Index(string(doc), script[0])
	if at < 0 {
		t.Fatal("docs/gitops.md does not hold config/argocd/health.lua")
	}
	// The script sits in a YAML block scalar: each line indented alike.
	indent := string(doc)[strings.LastIndex(string(doc[:at]), "\n")+1 : at]
	if want := indent + strings.Join(script, "\n"+indent); !strings.Contains(string(doc), want) {
		t.Error("docs/gitops.md does not hold config/argocd/health.lua verbatim")
	}
	for _, kind := range []string{"Organization", "Workspace", "Membership", "APIKey", "IntegrationPolicy"} {
		if key := "resource.customizations.health.access.tenantward.io_" + kind; !strings.Contains(string(doc), key) {
			t.Errorf("docs/gitops.md sets no %s", key)
		}
	}
}
