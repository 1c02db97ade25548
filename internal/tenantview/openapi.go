package tenantview

import (
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// typePrefix is the Go package of the view's kinds, how OpenAPI definitions
// are keyed.
const typePrefix = "github.com/tenantward/tenantward/api/tenancy/v1alpha1."

// definitions are the OpenAPI schemas of the view's kinds (api/tenancy/v1alpha1),
// for `kubectl explain` and the generic API server's type converter.
func definitions(ref common.ReferenceCallback) map[string]common.OpenAPIDefinition {
	str := func(desc string) spec.Schema {
		return spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}, Description: desc}}
	}
	meta := func(desc string) spec.Schema {
		return spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Description: desc}}
	}
	object := func(desc string, props map[string]spec.Schema) common.OpenAPIDefinition {
		props["apiVersion"] = str("APIVersion is tenancy.tenantward.io/v1alpha1.")
		props["kind"] = str("Kind is the object's kind.")
		props["metadata"] = meta("Standard object metadata; the name is described in the kind's description.")
		return common.OpenAPIDefinition{Schema: spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Description: desc, Properties: props}}}
	}
	list := func(desc, item string) common.OpenAPIDefinition {
		d := common.OpenAPIDefinition{Schema: spec.Schema{SchemaProps: spec.SchemaProps{
			Type: []string{"object"}, Description: desc, Required: []string{"items"},
			Properties: map[string]spec.Schema{
				"apiVersion": str("APIVersion is tenancy.tenantward.io/v1alpha1."),
				"kind":       str("Kind is the list's kind."),
				"metadata":   meta("Standard list metadata."),
				"items": {SchemaProps: spec.SchemaProps{Type: []string{"array"}, Description: "The items.",
					Items: &spec.SchemaOrArray{Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Ref: ref(typePrefix + item)}}}}},
			},
		}}}
		d.Dependencies = []string{typePrefix + item}
		return d
	}
	return map[string]common.OpenAPIDefinition{
		typePrefix + "Organization": object("An organization you belong to: directly, through a group, or as a service account, in the org namespace or in one of its workspaces. Its name is the organization's name.", map[string]spec.Schema{
			"displayName": str("The organization's display name."),
			"namespace":   str("The organization's namespace."),
			"role":        str("Your highest organization role, e.g. organization/owner; empty when you belong only to workspaces of the organization."),
			"workspaces": {SchemaProps: spec.SchemaProps{Type: []string{"array"}, Description: "The organization's workspaces you may work in: all of them with an organization role.",
				Items: &spec.SchemaOrArray{Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}}}}}},
		}),
		typePrefix + "OrganizationList": list("Your organizations.", "Organization"),
		typePrefix + "Workspace": object("A workspace you may work in. Its name is the workspace's namespace; the labels tenantward.io/organization and tenantward.io/workspace select by organization.", map[string]spec.Schema{
			"organization": str("The organization's name."),
			"workspace":    str("The workspace's name in its organization."),
			"displayName":  str("The workspace's display name."),
			"namespace":    str("The workspace's namespace."),
			"role":         str("The role that acts there: the higher of your organization and workspace roles, e.g. workspace/admin."),
		}),
		typePrefix + "WorkspaceList": list("Your workspaces.", "Workspace"),
	}
}
