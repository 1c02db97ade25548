package controllers_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// This file types the product's permission matrix by hand — the matrix
// tenantward reproduces (Owner, Admin and Member columns for the organization
// roles; the workspace roles as docs/tenancy.md defines them) — independently
// of internal/authz and of docs/permissions.md, which is generated from it, so
// that a wrong production table fails these tests. Actions the operator grants
// beyond the matrix (in italics in docs/permissions.md) are marked "+".

// actionVerbs maps matrix actions to Kubernetes verbs (docs/permissions.md,
// "Actions and Kubernetes verbs"), Manage, Add users, Assign roles, Filter and
// Group included.
var actionVerbs = map[string][]string{
	"List": {"list", "watch"}, "View": {"get"}, "Create": {"create"}, "Update": {"update", "patch"},
	"Delete": {"delete"}, "Publish": {"publish"}, "Edit": {"update", "patch"}, "Duplicate": {"create"},
	"Copy": {"get"}, "Rotate": {"rotate"},
	"Manage":    {"get", "list", "watch", "create", "update", "patch", "delete"},
	"Add users": {"get", "list", "watch", "create", "delete"}, "Assign roles": {"update", "patch"},
	"Filter": {"filter"}, "Group": {"group"},
}

// allVerbs are the verbs every cell is checked for, allowed or not.
var allVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "publish", "rotate", "filter", "group"}

// The columns: the three organization roles, then the three workspace roles
// (docs/permissions.md, docs/tenancy.md).
const (
	colOwner = iota
	colAdmin
	colMember
	colWSAdmin
	colWSManager
	colWSMember
	numCols
)

type matrixRow struct {
	feature, group, resource string
	cells                    [numCols]string
}

const (
	gw  = "gateway.tenantward.io"
	acc = "access.tenantward.io"

	promptsFull   = "List, View, Create, Update, Delete, Publish"
	promptsMember = "List, View, Create, Update"
	crudFull      = "List, View, Create, Update, Delete"
	catalogFull   = "List, Create, Edit, Duplicate, Delete, Copy"
	catalogMember = "List, Copy"
	logs          = "View, Filter, Group"
	team          = "Add users, Assign roles"
	keys          = "Create, Edit, Delete, Update, Rotate, +List, +View"
)

var productMatrix = []matrixRow{
	// feature, group, resource:           owner, admin, member, ws admin, ws manager, ws member
	{"Logs and Analytics", gw, "logs", [numCols]string{logs, logs, logs, logs, logs, logs}},
	{"Logs and Analytics", gw, "analytics", [numCols]string{logs, logs, logs, logs, logs, logs}},
	{"Prompts", gw, "prompts", [numCols]string{promptsFull, promptsFull, promptsMember, promptsFull, promptsFull, promptsMember}},
	{"Configs", gw, "configs", [numCols]string{crudFull, crudFull, "List, View, Create", crudFull, crudFull, "List, View, Create"}},
	{"Guardrails", gw, "guardrails", [numCols]string{crudFull, crudFull, "List, View, Create, Update", crudFull, crudFull, "List, View, Create, Update"}},
	{"Integrations", gw, "integrations", [numCols]string{catalogFull, catalogFull, catalogMember, catalogFull, catalogFull, catalogMember}},
	{"MCP integrations", gw, "mcpintegrations", [numCols]string{catalogFull, catalogFull, catalogMember, catalogFull, catalogFull, catalogMember}},
	{"MCP servers", gw, "mcpservers", [numCols]string{catalogFull, catalogFull, catalogMember, catalogFull, catalogFull, catalogMember}},
	{"Model Catalog: Providers", gw, "providers", [numCols]string{catalogFull, catalogFull, catalogMember, catalogFull, catalogMember, catalogMember}},
	{"Model Catalog: Models", gw, "models", [numCols]string{catalogFull, catalogFull, catalogMember, catalogFull, catalogMember, catalogMember}},
	{"Team", acc, "memberships", [numCols]string{team, team, "", team, team, ""}},
	{"API Keys", acc, "apikeys", [numCols]string{keys, keys, "", keys, keys, ""}},
	{"Billing", "billing.example.com", "invoices", [numCols]string{"Manage", "", "", "", "", ""}},
	{"Workspaces", acc, "workspaces", [numCols]string{"+List, +View, +Create, +Update, +Delete", "+List, +View, +Create, +Update, +Delete", "+List, +View", "", "", ""}},
	{"Integration access", acc, "integrationpolicies", [numCols]string{"+List, +View, +Create, +Update, +Delete", "+List, +View, +Create, +Update, +Delete", "+List, +View", "+List, +View, +Create, +Update, +Delete", "+List, +View", "+List, +View"}},
}

// organisationVerbs is the Organisation row (Owner and Admin Update),
// plus View for every org role so `kubectl get organization <name>` works, and
// Delete for the owner.
var organisationVerbs = [numCols][]string{
	colOwner: {"get", "update", "patch", "delete"}, colAdmin: {"get", "update", "patch"}, colMember: {"get"},
}

// verbsOf expands a cell into the verbs it allows.
func verbsOf(cell string) []string {
	var out []string
	for _, a := range strings.Split(cell, ",") {
		a = strings.TrimPrefix(strings.TrimSpace(a), "+")
		if a == "" {
			continue
		}
		verbs, ok := actionVerbs[a]
		if !ok {
			panic("unknown action in the test matrix: " + a)
		}
		out = append(out, verbs...)
	}
	return out
}

// tenant is one user per column, in one organization with one workspace.
type tenant struct {
	org, orgNS, wsNS string
	users            [numCols]string
}

func newTenant(t *testing.T, prefix string) tenant {
	t.Helper()
	org := createOrganization(t, uniqueName(prefix))
	ws := createWorkspace(t, org, "research")
	tn := tenant{org: org.Name, orgNS: org.Status.Namespace, wsNS: ws.Status.Namespace}
	roles := [numCols]accessv1alpha1.Role{accessv1alpha1.RoleOwner, accessv1alpha1.RoleAdmin, accessv1alpha1.RoleMember,
		accessv1alpha1.RoleAdmin, accessv1alpha1.RoleManager, accessv1alpha1.RoleMember}
	for col, role := range roles {
		ns, scope := tn.orgNS, "org"
		if col >= colWSAdmin {
			ns, scope = tn.wsNS, "ws"
		}
		tn.users[col] = fmt.Sprintf("%s-%s-%s@example.com", org.Name, scope, role)
		createMembership(t, ns, tn.users[col], role)
	}
	return tn
}

// checkCell checks every verb on a resource in a namespace for one user: the
// allowed ones and only those.
func checkCell(t *testing.T, user, ns, group, resource string, want []string) {
	t.Helper()
	for _, verb := range allVerbs {
		got := canI(t, user, authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Group: group, Resource: resource})
		if got != slices.Contains(want, verb) {
			t.Errorf("kubectl auth can-i %s %s.%s -n %s --as=%s: got %v, want %v", verb, resource, group, ns, user, got, !got)
		}
	}
}

func TestPermissionMatrix(t *testing.T) {
	a := newTenant(t, "matrix-a")
	b := newTenant(t, "matrix-b")

	for _, row := range productMatrix {
		t.Run(row.feature, func(t *testing.T) {
			for col := range numCols {
				want := verbsOf(row.cells[col])
				if col < colWSAdmin {
					// Org roles hold their column in the org namespace and every workspace namespace.
					checkCell(t, a.users[col], a.orgNS, row.group, row.resource, want)
					checkCell(t, a.users[col], a.wsNS, row.group, row.resource, want)
				} else {
					checkCell(t, a.users[col], a.wsNS, row.group, row.resource, want)
					checkCell(t, a.users[col], a.orgNS, row.group, row.resource, nil)
				}
			}
		})
	}

	t.Run("Organisation", func(t *testing.T) {
		for col := range numCols {
			for _, verb := range allVerbs {
				got := canI(t, a.users[col], authorizationv1.ResourceAttributes{Verb: verb, Group: acc, Resource: "organizations", Name: a.org})
				if want := slices.Contains(organisationVerbs[col], verb); got != want {
					t.Errorf("kubectl auth can-i %s organization/%s --as=%s: got %v, want %v", verb, a.org, a.users[col], got, want)
				}
			}
		}
	})

	t.Run("isolation", func(t *testing.T) {
		// Nobody in organization A may do anything in organization B.
		for col := range numCols {
			for _, row := range productMatrix {
				checkCell(t, a.users[col], b.orgNS, row.group, row.resource, nil)
				checkCell(t, a.users[col], b.wsNS, row.group, row.resource, nil)
			}
			for _, verb := range allVerbs {
				if canI(t, a.users[col], authorizationv1.ResourceAttributes{Verb: verb, Group: acc, Resource: "organizations", Name: b.org}) {
					t.Errorf("%s of %s may %s organization %s", a.users[col], a.org, verb, b.org)
				}
			}
		}
	})
}
