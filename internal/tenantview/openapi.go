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
	strings := func(desc string) spec.Schema {
		return spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"array"}, Description: desc,
			Items: &spec.SchemaOrArray{Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"string"}}}}}}
	}
	objects := func(desc string, props map[string]spec.Schema) spec.Schema {
		return spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"array"}, Description: desc,
			Items: &spec.SchemaOrArray{Schema: &spec.Schema{SchemaProps: spec.SchemaProps{Type: []string{"object"}, Properties: props}}}}}
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
		typePrefix + "Access": object("What you hold in a namespace and why; named mine, present only where you hold a role.", map[string]spec.Schema{
			"organization": str("The organization."),
			"workspace":    str("The workspace; empty in the org namespace."),
			"role":         str("The role that acts here, e.g. workspace/admin."),
			"memberships": objects("Your Memberships the role comes from.", map[string]spec.Schema{
				"name": str("The Membership's name."), "namespace": str("The Membership's namespace."),
				"subject": str("How it names you: User:<name>, Group:<name> or ServiceAccount:<namespace>/<name>."),
				"role":    str("Its role, e.g. organization/member."),
			}),
			"permissions": objects("What the permission table gives the role here, with the effective integration access applied.", map[string]spec.Schema{
				"feature": str("The permission-table row."), "title": str("The row as the matrix names it."),
				"actions": strings("The matrix actions."), "verbs": strings("The RBAC verbs."),
				"resources": strings("The resources the row governs, as resource.group."),
			}),
			"integrationAccess": objects("The effective integration access here.", map[string]spec.Schema{
				"type": str("The integration type."), "managersWrite": str("Whether workspace managers may write."),
				"source":            str("Where the value comes from: Default, Organization or Workspace."),
				"workspaceOverride": str("For an org policy, whether workspaces may override it."),
			}),
			"keyCeiling": objects("The highest level of each API-key permission your role may put on a key here.", map[string]spec.Schema{
				"permission": str("The API-key permission."), "level": str("The highest level."),
			}),
		}),
		typePrefix + "AccessList": list("Your access in a namespace.", "Access"),
	}
}
