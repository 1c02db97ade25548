// Package rbac embeds the operator's RBAC as config/rbac holds it (the
// generated roles and the hand-written ones with their bindings), so tests and
// local mode run the operator under exactly the rights an install grants.
package rbac

import "embed"

// Files holds config/rbac: role.yaml (generated from the code's
// +kubebuilder:rbac markers), verifier/role.yaml (generated from
// internal/verifier's), and the hand-written roles, bindings and service account.
//
//go:embed *.yaml verifier/*.yaml
var Files embed.FS
