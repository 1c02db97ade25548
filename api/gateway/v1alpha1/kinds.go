// Package v1alpha1 describes the reference gateway resources of group
// gateway.tenantward.io: small CRDs with a free-form spec that stand for an AI
// gateway's prompts, configs, guardrails, integrations, MCP integrations, MCP
// servers, providers and models. The feature map points at them by default; a
// platform can point it at its gateway's own CRDs instead.
package v1alpha1

import "k8s.io/apimachinery/pkg/runtime/schema"

// GroupVersion is the group and version of the reference gateway resources.
var GroupVersion = schema.GroupVersion{Group: "gateway.tenantward.io", Version: "v1alpha1"}

// Kind describes one reference gateway resource.
type Kind struct {
	// Kind is the resource's kind, e.g. Prompt.
	Kind string
	// Plural is the resource name used in RBAC and URLs, e.g. prompts.
	Plural string
	// ShortNames are kubectl short names.
	ShortNames []string
	// Description documents the resource in its schema.
	Description string
	// NoObjects marks a resource that stores nothing (logs, analytics): its
	// CRD refuses every object and exists so that discovery names it, and so
	// `kubectl auth can-i filter logs.gateway.tenantward.io` resolves it; the
	// RBAC the permission table generates grants verbs on it (get, filter,
	// group) that a log or analytics front end checks with a
	// SubjectAccessReview.
	NoObjects bool
}

// Kinds lists the reference gateway resources: one per feature of the
// permission matrix, and logs and analytics for Logs and Analytics.
var Kinds = []Kind{
	{Kind: "Prompt", Plural: "prompts", ShortNames: []string{"prompt"}, Description: "Prompt is a prompt template of the AI gateway."},
	{Kind: "Config", Plural: "configs", ShortNames: []string{"gwconfig"}, Description: "Config is a routing, fallback and caching configuration of the AI gateway."},
	{Kind: "Guardrail", Plural: "guardrails", ShortNames: []string{"guardrail"}, Description: "Guardrail is an input or output check the AI gateway applies."},
	{Kind: "Integration", Plural: "integrations", ShortNames: []string{"integ"}, Description: "Integration is an AI provider integration (formerly a virtual key) of the AI gateway."},
	{Kind: "MCPIntegration", Plural: "mcpintegrations", ShortNames: []string{"mcpinteg"}, Description: "MCPIntegration is an MCP integration of the AI gateway."},
	{Kind: "MCPServer", Plural: "mcpservers", ShortNames: []string{"mcpserver"}, Description: "MCPServer is an MCP server registered with the AI gateway."},
	{Kind: "Provider", Plural: "providers", ShortNames: []string{"provider"}, Description: "Provider is a Model Catalog provider of the AI gateway."},
	{Kind: "Model", Plural: "models", ShortNames: []string{"model"}, Description: "Model is a Model Catalog model of the AI gateway."},
	{Kind: "Log", Plural: "logs", Description: "Log stands for the AI gateway's request logs: RBAC on it says who may view (get), filter and group them.", NoObjects: true},
	{Kind: "Analytics", Plural: "analytics", Description: "Analytics stands for the AI gateway's analytics: RBAC on it says who may view (get), filter and group them.", NoObjects: true},
}

// Resource returns the group-version-resource of a reference gateway kind.
func (k Kind) Resource() schema.GroupVersionResource {
	return GroupVersion.WithResource(k.Plural)
}
