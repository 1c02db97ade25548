package authz

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"

	gatewayv1alpha1 "github.com/tenantward/tenantward/api/gateway/v1alpha1"
	"github.com/tenantward/tenantward/api/v1alpha1"
)

// OrganizationResource is the cluster-scoped Organization resource. RBAC for it
// is bound per organization by resource name, never through RoleBindings.
var OrganizationResource = schema.GroupResource{Group: v1alpha1.GroupVersion.Group, Resource: "organizations"}

// GroupResources names resources of one API group.
type GroupResources struct {
	// Group is the API group ("" for the core group).
	Group string `json:"group"`
	// Resources are plural resource names, e.g. prompts.
	Resources []string `json:"resources"`
}

// FeatureMap says which Kubernetes resources each feature of the permission
// table governs. In the operator configuration file it is the `features:`
// section, keyed by feature (e.g. `prompts:`); a feature given there replaces
// its default, an empty list unmaps it, and features not named keep their
// defaults. Each resource belongs to at most one feature.
type FeatureMap map[Feature][]GroupResources

// DefaultFeatureMap points the gateway features at the reference
// gateway.tenantward.io CRDs and the operator's features at its own kinds.
// Logs and Analytics are resources without objects (logs, analytics; their
// CRDs refuse every object) that a front end asks SubjectAccessReviews about; Billing has no resource by default.
func DefaultFeatureMap() FeatureMap {
	gw := func(plural string) []GroupResources {
		return []GroupResources{{Group: gatewayv1alpha1.GroupVersion.Group, Resources: []string{plural}}}
	}
	own := func(plural string) []GroupResources {
		return []GroupResources{{Group: v1alpha1.GroupVersion.Group, Resources: []string{plural}}}
	}
	return FeatureMap{
		LogsAnalytics:     {{Group: gatewayv1alpha1.GroupVersion.Group, Resources: []string{"logs", "analytics"}}},
		Prompts:           gw("prompts"),
		Configs:           gw("configs"),
		Guardrails:        gw("guardrails"),
		Integrations:      gw("integrations"),
		MCPIntegrations:   gw("mcpintegrations"),
		MCPServers:        gw("mcpservers"),
		Providers:         gw("providers"),
		Models:            gw("models"),
		Team:              own("memberships"),
		APIKeys:           own("apikeys"),
		Organisation:      own(OrganizationResource.Resource),
		Workspaces:        own("workspaces"),
		IntegrationAccess: own("integrationpolicies"),
	}
}

// Validate reports the first problem: an unknown feature, an invalid group or
// resource name, or a resource mapped twice.
func (m FeatureMap) Validate() error {
	seen := map[schema.GroupResource]Feature{}
	for _, f := range m.sortedFeatures() {
		if _, ok := rowIndex[f]; !ok {
			return fmt.Errorf("features.%s: unknown feature; known features are %v", f, Features)
		}
		if f == PersonalAPIKeys {
			return fmt.Errorf("features.%s: maps no resources of its own: its rights act on the resources of %s", f, APIKeys)
		}
		for i, gr := range m[f] {
			path := fmt.Sprintf("features.%s[%d]", f, i)
			if gr.Group != "" {
				if errs := validation.IsDNS1123Subdomain(gr.Group); len(errs) > 0 {
					return fmt.Errorf("%s.group %q: %s", path, gr.Group, strings.Join(errs, "; "))
				}
			}
			if len(gr.Resources) == 0 {
				return fmt.Errorf("%s.resources: list at least one resource", path)
			}
			for j, r := range gr.Resources {
				if errs := validation.IsDNS1123Label(r); len(errs) > 0 {
					return fmt.Errorf("%s.resources[%d] %q: %s", path, j, r, strings.Join(errs, "; "))
				}
				key := schema.GroupResource{Group: gr.Group, Resource: r}
				if other, dup := seen[key]; dup {
					return fmt.Errorf("%s.resources[%d]: %s is already mapped to feature %s", path, j, key, other)
				}
				seen[key] = f
			}
		}
	}
	return nil
}

// FeatureOf returns the feature governing a resource, if any.
func (m FeatureMap) FeatureOf(gr schema.GroupResource) (Feature, bool) {
	for f, list := range m {
		for _, g := range list {
			if g.Group == gr.Group && slices.Contains(g.Resources, gr.Resource) {
				return f, true
			}
		}
	}
	return "", false
}

// GroupResourcesOf returns the resources a feature governs, sorted.
func (m FeatureMap) GroupResourcesOf(f Feature) []schema.GroupResource {
	var out []schema.GroupResource
	for _, g := range m[f] {
		for _, r := range g.Resources {
			out = append(out, schema.GroupResource{Group: g.Group, Resource: r})
		}
	}
	slices.SortFunc(out, compareGR)
	return out
}

func compareGR(a, b schema.GroupResource) int {
	if c := strings.Compare(a.Group, b.Group); c != 0 {
		return c
	}
	return strings.Compare(a.Resource, b.Resource)
}

func (m FeatureMap) sortedFeatures() []Feature {
	out := make([]Feature, 0, len(m))
	for f := range m {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}
