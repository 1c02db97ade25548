package authz

import "slices"

// Action is an action of the permission matrix.
type Action string

// Actions, as the permission matrix names them.
const (
	List        Action = "List"
	View        Action = "View"
	Create      Action = "Create"
	Update      Action = "Update"
	Delete      Action = "Delete"
	Publish     Action = "Publish"
	Edit        Action = "Edit"
	Duplicate   Action = "Duplicate"
	Copy        Action = "Copy"
	Rotate      Action = "Rotate"
	Manage      Action = "Manage"
	AddUsers    Action = "Add users"
	AssignRoles Action = "Assign roles"
	Filter      Action = "Filter"
	Group       Action = "Group"
)

// Custom RBAC verbs for matrix actions that have no Kubernetes verb. The owning
// webhook checks them with a SubjectAccessReview.
const (
	// VerbPublish publishes a prompt version.
	VerbPublish = "publish"
	// VerbRotate requests the rotation of an API key.
	VerbRotate = "rotate"
	// VerbFilter and VerbGroup are the queries a log or analytics front end
	// asks a SubjectAccessReview for on logs and analytics (View is get).
	VerbFilter = "filter"
	VerbGroup  = "group"
)

// actionVerbs maps each action to the Kubernetes verbs it needs.
var actionVerbs = map[Action][]string{
	List:      {"list", "watch"},
	View:      {"get"},
	Create:    {"create"},
	Update:    {"update", "patch"},
	Delete:    {"delete"},
	Publish:   {VerbPublish},
	Edit:      {"update", "patch"},
	Duplicate: {"create"},
	Copy:      {"get"},
	Rotate:    {VerbRotate},
	// Manage is full control of what the feature governs.
	Manage: {"get", "list", "watch", "create", "update", "patch", "delete"},
	// Adding users means adding and removing Memberships, which needs seeing them.
	AddUsers:    {"get", "list", "watch", "create", "delete"},
	AssignRoles: {"update", "patch"},
	// Filtering and grouping logs and analytics are queries of their own.
	Filter: {VerbFilter},
	Group:  {VerbGroup},
}

// Actions lists every action in the order the docs render them.
var Actions = []Action{List, View, Create, Update, Delete, Publish, Edit, Duplicate, Copy, Rotate, Manage, AddUsers, AssignRoles, Filter, Group}

// Verbs returns the Kubernetes verbs an action needs; nil for an unknown action.
func (a Action) Verbs() []string {
	return slices.Clone(actionVerbs[a])
}

// VerbsOf returns the sorted, de-duplicated verbs the actions need.
func VerbsOf(actions []Action) []string {
	var out []string
	for _, a := range actions {
		out = append(out, actionVerbs[a]...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
