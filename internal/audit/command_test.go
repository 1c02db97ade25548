package audit_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tenantward/tenantward/internal/audit"
)

// now is an hour after the last record of testdata/trail.jsonl.
var now = time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)

// runAudit runs `tenantward audit --file testdata/trail.jsonl --output json <args>`
// and returns the audit IDs printed and what went to stderr.
func runAudit(t *testing.T, args ...string) (ids []string, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append([]string{"--file", "testdata/trail.jsonl", "--output", "json"}, args...)
	if err := audit.RunReader(args, nil, &out, &errOut, now); err != nil {
		t.Fatalf("audit %v: %v", args, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line == "" {
			continue
		}
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		ids = append(ids, r.AuditID)
	}
	return ids, errOut.String()
}

func TestAuditCommandFilters(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "7f0c2a2e-0001,3d9e5f10-0002,3d9e5f10-0003,a1b2c3d4-0004,a1b2c3d4-0005,a1b2c3d4-0006,a1b2c3d4-0007,3d9e5f10-0008,b7c8d9e0-0009"},
		{[]string{"--organization", "globex"}, "b7c8d9e0-0009"},
		{[]string{"--workspace", "research"}, "a1b2c3d4-0006,a1b2c3d4-0007,3d9e5f10-0008"},
		{[]string{"--actor", "erin@acme.example"}, "a1b2c3d4-0006,a1b2c3d4-0007"},
		{[]string{"--actor", "argocd/argocd-application-controller"}, "7f0c2a2e-0001"},
		{[]string{"--actor", "tenantward", "--action", "apikey.rotated"}, "3d9e5f10-0008"},
		{[]string{"--kind", "membership"}, "a1b2c3d4-0004,a1b2c3d4-0005"},
		{[]string{"--resource", "prompts", "--namespace", "acme-research", "--name", "summarise"}, "a1b2c3d4-0006,a1b2c3d4-0007"},
		{[]string{"--decision", "denied"}, "a1b2c3d4-0005,b7c8d9e0-0009"},
		{[]string{"--since", "2026-11-20T11:30:00Z", "--until", "2026-11-20T12:00:00Z"}, "a1b2c3d4-0005,a1b2c3d4-0006"},
		{[]string{"--since", "2h"}, "3d9e5f10-0008,b7c8d9e0-0009"},
		{[]string{"--until", "4h45m"}, "7f0c2a2e-0001,3d9e5f10-0002,3d9e5f10-0003,a1b2c3d4-0004"},
		{[]string{"--organization", "initech"}, ""},
	} {
		ids, stderr := runAudit(t, tc.args...)
		if got := strings.Join(ids, ","); got != tc.want {
			t.Errorf("audit %v:\n got %s\nwant %s", tc.args, got, tc.want)
		}
		for _, want := range []string{"line 7: not an audit record: invalid character", "line 12: not an audit record: no schemaVersion", "skipped 2 malformed line(s)"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("audit %v: stderr %q does not report %q", tc.args, stderr, want)
			}
		}
	}
}

func TestAuditCommandTable(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := audit.RunReader([]string{"--file", "testdata/trail.jsonl", "--decision", "denied"}, nil, &out, &errOut, now); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("table:\n%s", out.String())
	}
	for _, want := range []string{"2026-11-20T11:30:00Z", "update", "denied", "bob@acme.example", "Membership org-acme/alice", "acme", "…"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}

	out.Reset()
	if err := audit.RunReader([]string{"--file", "testdata/trail.jsonl", "--kind", "Prompt"}, nil, &out, &errOut, now); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "allowed (dry-run)") {
		t.Errorf("the dry-run record is not marked:\n%s", out.String())
	}
}

func TestAuditCommandStdinAndBadInput(t *testing.T) {
	long := strings.Repeat("x", 2<<20)
	in := strings.NewReader("{\"schemaVersion\":\"audit.tenantward.io/v1\",\"auditID\":\"a\"}\n" + long + "\n\x00\xff\n[1,2]\n{\"schemaVersion\":\"audit.tenantward.io/v1\",\"auditID\":\"b\"}")
	var out, errOut bytes.Buffer
	if err := audit.RunReader([]string{"--output", "json"}, in, &out, &errOut, now); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), "\n"); got != 2 {
		t.Errorf("printed %d records, want 2:\n%s", got, out.String())
	}
	for _, want := range []string{"line 2: longer than 1048576 bytes", "line 3: not an audit record", "line 4: not an audit record", "skipped 3 malformed line(s)"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr %q does not report %q", errOut.String(), want)
		}
	}
}

func TestAuditCommandFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--decision", "maybe"}, `--decision "maybe": use allowed or denied`},
		{[]string{"--output", "yaml"}, `--output "yaml": use table or json`},
		{[]string{"--since", "yesterday"}, `--since: "yesterday" is neither an RFC 3339 time`},
		{[]string{"--since", "1h", "--until", "2h"}, "is after --until"},
		{[]string{"trail.jsonl"}, "unexpected arguments"},
		{[]string{"--file", "testdata/missing.jsonl"}, "no such file"},
	} {
		err := audit.RunReader(tc.args, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, now)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("audit %v: error %v, want one containing %q", tc.args, err, tc.want)
		}
	}
}

func testdataTrail() ([]byte, error) { return os.ReadFile("testdata/trail.jsonl") }
