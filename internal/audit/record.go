// Package audit records every administrative action as a structured JSON record
// and delivers the records to one or more sinks without ever blocking the caller.
package audit

import (
	"context"
	"time"
)

// SchemaVersion is the version of the audit record schema (docs/audit.md).
const SchemaVersion = "audit.tenantward.io/v1"

// Decisions.
const (
	DecisionAllowed = "allowed"
	DecisionDenied  = "denied"
)

// Controller actions. Admission actions use the Kubernetes operation in lower
// case: create, update, delete, connect.
const (
	ActionKeyIssued          = "apikey.issued"
	ActionKeyRotated         = "apikey.rotated"
	ActionKeyExpired         = "apikey.expired"
	ActionKeyDisabled        = "apikey.disabled"
	ActionKeyEnabled         = "apikey.enabled"
	ActionKeyRevoked         = "apikey.revoked"
	ActionMasterKeyIssued    = "apikey.master-issued"
	ActionNamespaceCreated   = "namespace.created"
	ActionNamespaceDeleted   = "namespace.deleted"
	ActionRoleBindingApplied = "rolebinding.applied"
	ActionRoleBindingDeleted = "rolebinding.deleted"
)

// Actor is who performed an action.
type Actor struct {
	// Username is the authenticated user name (for a service account,
	// system:serviceaccount:<ns>:<name>).
	Username string `json:"username,omitempty"`
	// UID is the authenticated user's UID, when the authenticator gives one.
	UID string `json:"uid,omitempty"`
	// Groups are the user's groups.
	Groups []string `json:"groups,omitempty"`
	// ServiceAccount is <namespace>/<name> when the actor is a service account.
	ServiceAccount string `json:"serviceAccount,omitempty"`
	// Operator is true when the operator itself acted (a controller action).
	Operator bool `json:"operator,omitempty"`
}

// Resource identifies the object acted on.
type Resource struct {
	Group    string `json:"group"`
	Version  string `json:"version,omitempty"`
	Kind     string `json:"kind"`
	Resource string `json:"resource,omitempty"`
	// Subresource is the subresource written, e.g. status; empty for the object itself.
	Subresource string `json:"subresource,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Name        string `json:"name"`
}

// Changes summarises what an action changed. It never holds secret material.
type Changes struct {
	// Fields are the paths of the fields that changed (e.g. spec.role).
	Fields []string `json:"fields,omitempty"`
	// RoleBefore and RoleAfter are a Membership's role before and after.
	RoleBefore string `json:"roleBefore,omitempty"`
	RoleAfter  string `json:"roleAfter,omitempty"`
	// PermissionsBefore and PermissionsAfter are an APIKey's permission levels
	// per feature before and after.
	PermissionsBefore map[string]string `json:"permissionsBefore,omitempty"`
	PermissionsAfter  map[string]string `json:"permissionsAfter,omitempty"`
	// FieldsOmitted counts the changed paths left out of Fields to bound the record.
	FieldsOmitted int `json:"fieldsOmitted,omitempty"`
}

// Record is one audit record.
type Record struct {
	SchemaVersion string    `json:"schemaVersion"`
	Time          time.Time `json:"time"`
	// AuditID is the admission request UID, or a fresh UUID for controller actions.
	AuditID      string   `json:"auditID"`
	Actor        Actor    `json:"actor"`
	Action       string   `json:"action"`
	Resource     Resource `json:"resource"`
	Organization string   `json:"organization,omitempty"`
	Workspace    string   `json:"workspace,omitempty"`
	Decision     string   `json:"decision"`
	Reason       string   `json:"reason,omitempty"`
	DryRun       bool     `json:"dryRun,omitempty"`
	Changes      *Changes `json:"changes,omitempty"`
}

// Recorder accepts audit records. Record must never block for long or fail the
// caller: delivery problems are counted and logged by the implementation.
type Recorder interface {
	Record(ctx context.Context, r Record)
}

// Discard is a Recorder that drops every record; for tests and tools that do not audit.
var Discard Recorder = discard{}

type discard struct{}

func (discard) Record(context.Context, Record) {}
