package authz

import (
	"fmt"
	"slices"
)

// Feature is a row of the permission matrix. Its value is the key used in the
// operator configuration's feature map.
type Feature string

// Features of seed 001's matrix.
const (
	LogsAnalytics Feature = "logs-and-analytics"
	Prompts       Feature = "prompts"
	Configs       Feature = "configs"
	Guardrails    Feature = "guardrails"
	Integrations  Feature = "integrations"
	Providers     Feature = "providers"
	Models        Feature = "models"
	Team          Feature = "team"
	Organisation  Feature = "organisation"
	APIKeys       Feature = "api-keys"
	Billing       Feature = "billing"
)

// Features of seed 002 (integration access) and of the operator's own kinds.
const (
	// MCPIntegrations and MCPServers have the Integrations column rights (seed 002).
	MCPIntegrations Feature = "mcp-integrations"
	MCPServers      Feature = "mcp-servers"
	// Workspaces are the operator's Workspace objects.
	Workspaces Feature = "workspaces"
	// IntegrationAccess is the integration-access settings (IntegrationPolicy),
	// the "Security" admin settings of seed 002.
	IntegrationAccess Feature = "integration-access"
)

// Cell is what one role may do with one feature.
type Cell struct {
	// Seed are the actions the seed matrix (or, for workspace roles, product.md's
	// definition of them) gives the role.
	Seed []Action
	// Added are actions the operator grants beyond the seed so that the product
	// works with kubectl; Note in the Row says why.
	Added []Action
}

// Actions returns the cell's seed and added actions.
func (c Cell) Actions() []Action {
	return append(slices.Clone(c.Seed), c.Added...)
}

// Row is one feature of the permission table.
type Row struct {
	Feature Feature
	// Title is the feature's name as the seed matrix writes it.
	Title string
	// Source says where the row comes from.
	Source string
	// Gated is true when a workspace manager's write actions (GatedActions)
	// depend on the effective IntegrationPolicy.
	Gated bool
	// Note explains added actions or how the feature is enforced.
	Note string
	// Cells are the row's cells by column; a missing column has no rights.
	Cells map[Key]Cell
}

// GatedActions are the actions of a gated feature that a workspace manager may
// take only where the effective IntegrationPolicy allows managers to write.
var GatedActions = []Action{Create, Edit, Duplicate, Delete}

func acts(a ...Action) []Action { return a }

var (
	promptsAll   = acts(List, View, Create, Update, Delete, Publish)
	crudAll      = acts(List, View, Create, Update, Delete)
	catalogAll   = acts(List, Create, Edit, Duplicate, Delete, Copy)
	catalogRead  = acts(List, Copy)
	logsAll      = acts(View, Filter, Group)
	teamAll      = acts(AddUsers, AssignRoles)
	keysAll      = acts(Create, Edit, Delete, Update, Rotate)
	readOnly     = acts(List, View)
	integrations = map[Key]Cell{
		OrgOwner:  {Seed: catalogAll},
		OrgAdmin:  {Seed: catalogAll},
		OrgMember: {Seed: catalogRead},
		WSAdmin:   {Seed: catalogAll},
		WSManager: {Seed: catalogAll},
		WSMember:  {Seed: catalogRead},
	}
)

// Table is THE permission matrix: seed 001's cells for the org roles, the
// workspace roles as product.md defines them (workspace admin: the Admin column
// without Organisation, Billing and org-wide Team and API-key rights; manager:
// the workspace's team and keys, writes prompts, configs and guardrails, and
// integrations, MCP integrations and MCP servers where the IntegrationPolicy
// allows; member: the Member column), and the operator's own kinds.
// Everything else in this package is derived from it.
var Table = []Row{
	{Feature: LogsAnalytics, Title: "Logs and Analytics", Source: "seed 001",
		Note: "logs and analytics in gateway.tenantward.io: no objects are stored, the RBAC is for a log or analytics front end to check with a SubjectAccessReview (View is get, Filter and Group the custom verbs filter and group). API keys reach logs through their Metrics permission.",
		Cells: map[Key]Cell{
			OrgOwner: {Seed: logsAll}, OrgAdmin: {Seed: logsAll}, OrgMember: {Seed: logsAll},
			WSAdmin: {Seed: logsAll}, WSManager: {Seed: logsAll}, WSMember: {Seed: logsAll},
		}},
	{Feature: Prompts, Title: "Prompts", Source: "seed 001", Cells: map[Key]Cell{
		OrgOwner: {Seed: promptsAll}, OrgAdmin: {Seed: promptsAll}, OrgMember: {Seed: acts(List, View, Create, Update)},
		WSAdmin: {Seed: promptsAll}, WSManager: {Seed: promptsAll}, WSMember: {Seed: acts(List, View, Create, Update)},
	}},
	{Feature: Configs, Title: "Configs", Source: "seed 001", Cells: map[Key]Cell{
		OrgOwner: {Seed: crudAll}, OrgAdmin: {Seed: crudAll}, OrgMember: {Seed: acts(List, View, Create)},
		WSAdmin: {Seed: crudAll}, WSManager: {Seed: crudAll}, WSMember: {Seed: acts(List, View, Create)},
	}},
	{Feature: Guardrails, Title: "Guardrails", Source: "seed 001", Cells: map[Key]Cell{
		OrgOwner: {Seed: crudAll}, OrgAdmin: {Seed: crudAll}, OrgMember: {Seed: acts(List, View, Create, Update)},
		WSAdmin: {Seed: crudAll}, WSManager: {Seed: crudAll}, WSMember: {Seed: acts(List, View, Create, Update)},
	}},
	{Feature: Integrations, Title: "Integrations", Source: "seed 001", Gated: true, Cells: integrations},
	{Feature: MCPIntegrations, Title: "MCP integrations", Source: "seed 002", Gated: true,
		Note: "Same rights as Integrations.", Cells: integrations},
	{Feature: MCPServers, Title: "MCP servers", Source: "seed 002", Gated: true,
		Note: "Same rights as Integrations.", Cells: integrations},
	{Feature: Providers, Title: "Model Catalog: Providers", Source: "seed 001", Cells: map[Key]Cell{
		OrgOwner: {Seed: catalogAll}, OrgAdmin: {Seed: catalogAll}, OrgMember: {Seed: catalogRead},
		WSAdmin: {Seed: catalogAll}, WSManager: {Seed: catalogRead}, WSMember: {Seed: catalogRead},
	}},
	{Feature: Models, Title: "Model Catalog: Models", Source: "seed 001", Cells: map[Key]Cell{
		OrgOwner: {Seed: catalogAll}, OrgAdmin: {Seed: catalogAll}, OrgMember: {Seed: catalogRead},
		WSAdmin: {Seed: catalogAll}, WSManager: {Seed: catalogRead}, WSMember: {Seed: catalogRead},
	}},
	{Feature: Team, Title: "Team", Source: "seed 001",
		Note: "Memberships. Workspace admins and managers manage their workspace's team only.",
		Cells: map[Key]Cell{
			OrgOwner: {Seed: teamAll}, OrgAdmin: {Seed: teamAll},
			WSAdmin: {Seed: teamAll}, WSManager: {Seed: teamAll},
		}},
	{Feature: Organisation, Title: "Organisation", Source: "seed 001",
		Note: "The Organization object, bound by resource name. View is added so that every org member can `kubectl get organization <name>`; Delete so that an owner can delete the organization (the webhook allows owners only).",
		Cells: map[Key]Cell{
			OrgOwner: {Seed: acts(Update), Added: acts(View, Delete)}, OrgAdmin: {Seed: acts(Update), Added: acts(View)},
			OrgMember: {Added: acts(View)},
		}},
	{Feature: APIKeys, Title: "API Keys", Source: "seed 001",
		Note: "APIKeys. List and View are added so that those who manage keys can see them. Workspace admins and managers manage their workspace's keys only.",
		Cells: map[Key]Cell{
			OrgOwner: {Seed: keysAll, Added: readOnly}, OrgAdmin: {Seed: keysAll, Added: readOnly},
			WSAdmin: {Seed: keysAll, Added: readOnly}, WSManager: {Seed: keysAll, Added: readOnly},
		}},
	{Feature: Billing, Title: "Billing", Source: "seed 001",
		Note:  "No Kubernetes resource by default: the Organization's spec.billing, which the webhook lets only owners change.",
		Cells: map[Key]Cell{OrgOwner: {Seed: acts(Manage)}}},
	{Feature: Workspaces, Title: "Workspaces", Source: "operator",
		Note: "Workspace objects in the org namespace; workspace roles are not bound there.",
		Cells: map[Key]Cell{
			OrgOwner: {Added: crudAll}, OrgAdmin: {Added: crudAll}, OrgMember: {Added: readOnly},
		}},
	{Feature: IntegrationAccess, Title: "Integration access", Source: "seed 002",
		Note: "IntegrationPolicies: owners and admins set the org policy; a workspace admin sets the workspace override; everyone else may read them.",
		Cells: map[Key]Cell{
			OrgOwner: {Added: crudAll}, OrgAdmin: {Added: crudAll}, OrgMember: {Added: readOnly},
			WSAdmin: {Added: crudAll}, WSManager: {Added: readOnly}, WSMember: {Added: readOnly},
		}},
}

// Features lists every feature in table order.
var Features = func() []Feature {
	out := make([]Feature, len(Table))
	for i, r := range Table {
		out[i] = r.Feature
	}
	return out
}()

var rowIndex = func() map[Feature]*Row {
	m := make(map[Feature]*Row, len(Table))
	for i := range Table {
		m[Table[i].Feature] = &Table[i]
	}
	return m
}()

// RowOf returns the table row of a feature.
func RowOf(f Feature) (Row, error) {
	r, ok := rowIndex[f]
	if !ok {
		return Row{}, fmt.Errorf("unknown feature %q: known features are %v", f, Features)
	}
	return *r, nil
}

// Gate reports whether the effective IntegrationPolicy lets workspace managers
// write a gated feature. A nil Gate allows every gated feature.
type Gate func(Feature) bool

func (g Gate) open(f Feature) bool { return g == nil || g(f) }

// ActionsOf returns the actions a role may take on a feature, gate applied: a
// workspace manager loses GatedActions on a gated feature the gate closes.
// Unknown features and invalid keys have no actions.
func ActionsOf(k Key, f Feature, gate Gate) []Action {
	r, ok := rowIndex[f]
	if !ok {
		return nil
	}
	actions := r.Cells[k].Actions()
	if r.Gated && k == WSManager && !gate.open(f) {
		actions = slices.DeleteFunc(actions, func(a Action) bool { return slices.Contains(GatedActions, a) })
	}
	return actions
}

// Allowed reports whether a role may take an action on a feature, gate
// applied. It allocates nothing: the webhooks ask it on every admission.
func Allowed(k Key, f Feature, a Action, gate Gate) bool {
	r, ok := rowIndex[f]
	if !ok {
		return false
	}
	c := r.Cells[k]
	if !slices.Contains(c.Seed, a) && !slices.Contains(c.Added, a) {
		return false
	}
	return !r.Gated || k != WSManager || !slices.Contains(GatedActions, a) || gate.open(f)
}

// Verbs returns the sorted Kubernetes verbs a role holds on the resources of a
// feature, gate applied.
func Verbs(k Key, f Feature, gate Gate) []string {
	return VerbsOf(ActionsOf(k, f, gate))
}

// Gated reports whether a feature's manager writes depend on IntegrationPolicy.
func Gated(f Feature) bool {
	r, ok := rowIndex[f]
	return ok && r.Gated
}
