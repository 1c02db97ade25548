package audit_test

import (
	"bytes"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"

	"github.com/tenantward/tenantward/internal/audit"
)

// FuzzChangesFromAdmission: whatever objects an admission request carries, the
// summary neither panics nor copies a value other than a role or permission level.
func FuzzChangesFromAdmission(f *testing.F) {
	f.Add("Membership", "", []byte(`{"spec":{"role":"member"}}`), []byte(`{"spec":{"role":"admin"},"metadata":{"labels":{"a":"b"}}}`))
	f.Add("APIKey", "status", []byte(`{"status":{"hash":"x"}}`), []byte(`{"status":{"hash":"y"}}`))
	f.Add("APIKey", "", []byte(`{"spec":{"permissions":{"prompts":"Read"}}}`), []byte(`{"spec":{"permissions":[1]}}`))
	f.Add("Prompt", "", []byte(`null`), []byte(`{"spec":[{"a":{"b":null}}],"metadata":{"annotations":{"k":{"nested":1}}}}`))
	f.Fuzz(func(t *testing.T, kind, subresource string, oldRaw, newRaw []byte) {
		req := request(admissionv1.Update, "access.tenantward.io", kind, "things", "ns", "n", authenticationv1.UserInfo{Username: "u"}, nil, nil, false)
		req.SubResource = subresource
		req.OldObject.Raw, req.Object.Raw = oldRaw, newRaw
		c, err := audit.ChangesFromAdmission(req)
		if err != nil || c == nil {
			return
		}
		for _, v := range []string{c.RoleBefore, c.RoleAfter} {
			if len(v) > 32 {
				t.Errorf("a %d-byte role was copied", len(v))
			}
		}
		for _, perms := range []map[string]string{c.PermissionsBefore, c.PermissionsAfter} {
			for k, v := range perms {
				if len(k) > 32 || len(v) > 32 {
					t.Errorf("a long permission %q=%q was copied", k, v)
				}
			}
		}
		if len(c.Fields) > audit.MaxChangedFields {
			t.Errorf("%d fields, more than %d", len(c.Fields), audit.MaxChangedFields)
		}
	})
}

// FuzzAuditReader: any input is read to the end without a panic, and every
// line it prints is one it read.
func FuzzAuditReader(f *testing.F) {
	raw, err := testdataTrail()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte("{\"schemaVersion\":\"x\",\"time\":\"not a time\"}\n\n\r\n{"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var out, errOut bytes.Buffer
		if err := audit.RunReader([]string{"--output", "json"}, bytes.NewReader(in), &out, &errOut, now); err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			if line != "" && !bytes.Contains(in, []byte(line)) {
				t.Errorf("printed %q, which is not in the input", line)
			}
		}
		if err := audit.RunReader(nil, bytes.NewReader(in), &out, &errOut, now); err != nil {
			t.Fatal(err)
		}
	})
}
