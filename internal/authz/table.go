package authz

import (
	"fmt"
	"slices"
)

// Feature is a row of the permission matrix. Its value is the key used in the
// operator configuration's feature map.
type Feature string

// Features of the permission matrix (docs/permissions.md).
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

// Features of the integration access settings and of the operator's own kinds.
const (
	// MCPIntegrations and MCPServers have the Integrations column rights (integration access settings).
	MCPIntegrations Feature = "mcp-integrations"
	MCPServers      Feature = "mcp-servers"
	// Workspaces are the operator's Workspace objects.
	Workspaces Feature = "workspaces"
	// IntegrationAccess is the integration-access settings (IntegrationPolicy),
	// the "Security" admin settings of the integration access settings.
	IntegrationAccess Feature = "integration-access"
	// PersonalAPIKeys are a member's own API keys: APIKeys whose spec.owner
	// names the requester, in workspaces whose spec.apiKeys.personalKeys is
	// Enabled. The row maps no resources of its own: its rights act on the
	// API Keys row's resources, through PersonalKeysClusterRoleName.
	PersonalAPIKeys Feature = "personal-api-keys"
)

// Cell is what one role may do with one feature.
type Cell struct {
	// Matrix are the actions the permission matrix gives the role (for
	// workspace roles, as Table's comment defines them).
	Matrix []Action
	// Added are actions the operator grants beyond the matrix so that the product
	// works with kubectl; Note in the Row says why.
	Added []Action
}

// Actions returns the cell's matrix and added actions.
func (c Cell) Actions() []Action {
	return append(slices.Clone(c.Matrix), c.Added...)
}

// Row is one feature of the permission table.
type Row struct {
	Feature Feature
	// Title is the feature's name as the permission matrix writes it.
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
	personalKeys = acts(List, View, Create, Edit, Delete, Rotate)
	integrations = map[Key]Cell{
		OrgOwner:  {Matrix: catalogAll},
		OrgAdmin:  {Matrix: catalogAll},
		OrgMember: {Matrix: catalogRead},
		WSAdmin:   {Matrix: catalogAll},
		WSManager: {Matrix: catalogAll},
		WSMember:  {Matrix: catalogRead},
	}
)

// Table is THE permission matrix (docs/permissions.md is generated from it):
// the matrix's cells for the org roles, the workspace roles as tenantward
// defines them (workspace admin: the Admin column
// without Organisation, Billing and org-wide Team and API-key rights; manager:
// the workspace's team and keys, writes prompts, configs and guardrails, and
// integrations, MCP integrations and MCP servers where the IntegrationPolicy
// allows; member: the Member column), and the operator's own kinds.
// Everything else in this package is derived from it.
var Table = []Row{
	{Feature: LogsAnalytics, Title: "Logs and Analytics", Source: "permission matrix",
		Note: "logs and analytics in gateway.tenantward.io: no objects are stored (their CRDs refuse every object and exist for discovery), the RBAC is for a log or analytics front end to check with a SubjectAccessReview (View is get, Filter and Group the custom verbs filter and group), and `kubectl auth can-i filter logs.gateway.tenantward.io -n <namespace>` answers it. API keys reach logs through their Metrics permission.",
		Cells: map[Key]Cell{
			OrgOwner: {Matrix: logsAll}, OrgAdmin: {Matrix: logsAll}, OrgMember: {Matrix: logsAll},
			WSAdmin: {Matrix: logsAll}, WSManager: {Matrix: logsAll}, WSMember: {Matrix: logsAll},
		}},
	{Feature: Prompts, Title: "Prompts", Source: "permission matrix", Cells: map[Key]Cell{
		OrgOwner: {Matrix: promptsAll}, OrgAdmin: {Matrix: promptsAll}, OrgMember: {Matrix: acts(List, View, Create, Update)},
		WSAdmin: {Matrix: promptsAll}, WSManager: {Matrix: promptsAll}, WSMember: {Matrix: acts(List, View, Create, Update)},
	}},
	{Feature: Configs, Title: "Configs", Source: "permission matrix", Cells: map[Key]Cell{
		OrgOwner: {Matrix: crudAll}, OrgAdmin: {Matrix: crudAll}, OrgMember: {Matrix: acts(List, View, Create)},
		WSAdmin: {Matrix: crudAll}, WSManager: {Matrix: crudAll}, WSMember: {Matrix: acts(List, View, Create)},
	}},
	{Feature: Guardrails, Title: "Guardrails", Source: "permission matrix", Cells: map[Key]Cell{
		OrgOwner: {Matrix: crudAll}, OrgAdmin: {Matrix: crudAll}, OrgMember: {Matrix: acts(List, View, Create, Update)},
		WSAdmin: {Matrix: crudAll}, WSManager: {Matrix: crudAll}, WSMember: {Matrix: acts(List, View, Create, Update)},
	}},
	{Feature: Integrations, Title: "Integrations", Source: "permission matrix", Gated: true, Cells: integrations},
	{Feature: MCPIntegrations, Title: "MCP integrations", Source: "integration access", Gated: true,
		Note: "Same rights as Integrations.", Cells: integrations},
	{Feature: MCPServers, Title: "MCP servers", Source: "integration access", Gated: true,
		Note: "Same rights as Integrations.", Cells: integrations},
	{Feature: Providers, Title: "Model Catalog: Providers", Source: "permission matrix", Cells: map[Key]Cell{
		OrgOwner: {Matrix: catalogAll}, OrgAdmin: {Matrix: catalogAll}, OrgMember: {Matrix: catalogRead},
		WSAdmin: {Matrix: catalogAll}, WSManager: {Matrix: catalogRead}, WSMember: {Matrix: catalogRead},
	}},
	{Feature: Models, Title: "Model Catalog: Models", Source: "permission matrix", Cells: map[Key]Cell{
		OrgOwner: {Matrix: catalogAll}, OrgAdmin: {Matrix: catalogAll}, OrgMember: {Matrix: catalogRead},
		WSAdmin: {Matrix: catalogAll}, WSManager: {Matrix: catalogRead}, WSMember: {Matrix: catalogRead},
	}},
	{Feature: Team, Title: "Team", Source: "permission matrix",
		Note: "Memberships. Workspace admins and managers manage their workspace's team only.",
		Cells: map[Key]Cell{
			OrgOwner: {Matrix: teamAll}, OrgAdmin: {Matrix: teamAll},
			WSAdmin: {Matrix: teamAll}, WSManager: {Matrix: teamAll},
		}},
	{Feature: Organisation, Title: "Organisation", Source: "permission matrix",
		Note: "The Organization object, bound by resource name; Update covers its settings, spec.apiKeys (the key policy: rate-limit and model defaults and ceilings) among them. View is added so that every org member can `kubectl get organization <name>`; Delete so that an owner can delete the organization (the webhook allows owners only).",
		Cells: map[Key]Cell{
			OrgOwner: {Matrix: acts(Update), Added: acts(View, Delete)}, OrgAdmin: {Matrix: acts(Update), Added: acts(View)},
			OrgMember: {Added: acts(View)},
		}},
	{Feature: APIKeys, Title: "API Keys", Source: "permission matrix",
		Note: "APIKeys. List and View are added so that those who manage keys can see them. Workspace admins and managers manage their workspace's keys only.",
		Cells: map[Key]Cell{
			OrgOwner: {Matrix: keysAll, Added: readOnly}, OrgAdmin: {Matrix: keysAll, Added: readOnly},
			WSAdmin: {Matrix: keysAll, Added: readOnly}, WSManager: {Matrix: keysAll, Added: readOnly},
		}},
	{Feature: PersonalAPIKeys, Title: "Personal API keys", Source: "operator",
		Note: "APIKeys with spec.owner naming the requester (docs/apikeys.md): members create, edit, rotate and delete their own keys, only in workspaces whose spec.apiKeys.personalKeys is Enabled, where the operator binds these rights on apikeys (ClusterRole " + PersonalKeysClusterRoleName + "); List and View so that they find them. The webhook refuses a member any key that is not their own; those with the API Keys row manage every key of their workspace, a personal key within its owner's ceiling too.",
		Cells: map[Key]Cell{
			OrgMember: {Added: personalKeys}, WSMember: {Added: personalKeys},
		}},
	{Feature: Billing, Title: "Billing", Source: "permission matrix",
		Note:  "No Kubernetes resource by default: the Organization's spec.billing, which the webhook lets only owners change.",
		Cells: map[Key]Cell{OrgOwner: {Matrix: acts(Manage)}}},
	{Feature: Workspaces, Title: "Workspaces", Source: "operator",
		Note: "Workspace objects in the org namespace, spec.apiKeys (the workspace's key policy) included; workspace roles are not bound there.",
		Cells: map[Key]Cell{
			OrgOwner: {Added: crudAll}, OrgAdmin: {Added: crudAll}, OrgMember: {Added: readOnly},
		}},
	{Feature: IntegrationAccess, Title: "Integration access", Source: "integration access",
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
	if !slices.Contains(c.Matrix, a) && !slices.Contains(c.Added, a) {
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
