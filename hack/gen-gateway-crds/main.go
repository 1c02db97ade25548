// Command gen-gateway-crds writes the CustomResourceDefinitions of the reference
// gateway resources (group gateway.tenantward.io) from the list in
// api/gateway/v1alpha1, one file per kind.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	gatewayv1alpha1 "github.com/tenantward/tenantward/api/gateway/v1alpha1"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen-gateway-crds <output dir>")
		os.Exit(2)
	}
	if err := run(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "gen-gateway-crds:", err)
		os.Exit(1)
	}
}

func run(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, k := range gatewayv1alpha1.Kinds {
		out, err := marshal(crd(k))
		if err != nil {
			return err
		}
		name := filepath.Join(dir, gatewayv1alpha1.GroupVersion.Group+"_"+k.Plural+".yaml")
		if err := os.WriteFile(name, append([]byte("---\n"), out...), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// marshal renders a CRD as controller-gen does: without the empty status stanza.
func marshal(c *apiextensionsv1.CustomResourceDefinition) ([]byte, error) {
	raw, err := yaml.Marshal(c)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := yaml.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	delete(m["metadata"].(map[string]any), "creationTimestamp")
	return yaml.Marshal(m)
}

func crd(k gatewayv1alpha1.Kind) *apiextensionsv1.CustomResourceDefinition {
	preserve := true
	group := gatewayv1alpha1.GroupVersion.Group
	c := &apiextensionsv1.CustomResourceDefinition{
		TypeMeta: metav1.TypeMeta{APIVersion: "apiextensions.k8s.io/v1", Kind: "CustomResourceDefinition"},
		ObjectMeta: metav1.ObjectMeta{
			Name:   k.Plural + "." + group,
			Labels: map[string]string{"app.kubernetes.io/part-of": "tenantward"},
		},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: group,
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Kind:       k.Kind,
				ListKind:   k.Kind + "List",
				Plural:     k.Plural,
				Singular:   strings.ToLower(k.Kind),
				ShortNames: k.ShortNames,
				Categories: []string{"tenantward", "gateway"},
			},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name:    gatewayv1alpha1.GroupVersion.Version,
				Served:  true,
				Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type:        "object",
					Description: k.Description + " A reference resource of tenantward: its spec is free-form.",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"apiVersion": {Type: "string"},
						"kind":       {Type: "string"},
						"metadata":   {Type: "object"},
						"spec": {
							Type:                   "object",
							Description:            "spec is the gateway's own configuration of this " + strings.ToLower(k.Kind) + "; tenantward does not interpret it.",
							XPreserveUnknownFields: &preserve,
						},
						"status": {Type: "object", XPreserveUnknownFields: &preserve},
					},
				}},
				Subresources: &apiextensionsv1.CustomResourceSubresources{Status: &apiextensionsv1.CustomResourceSubresourceStatus{}},
				AdditionalPrinterColumns: []apiextensionsv1.CustomResourceColumnDefinition{
					{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"},
				},
			}},
		},
	}
	if k.NoObjects {
		noObjects(c, k)
	}
	return c
}

// noObjects makes k's CRD a name without objects: discovery serves it (so
// kubectl resolves it for `auth can-i`), no category lists it, and the API
// server refuses every object.
func noObjects(c *apiextensionsv1.CustomResourceDefinition, k gatewayv1alpha1.Kind) {
	c.Spec.Names.Categories = nil
	v := &c.Spec.Versions[0]
	v.Subresources = nil
	v.AdditionalPrinterColumns = nil
	v.Schema.OpenAPIV3Schema = &apiextensionsv1.JSONSchemaProps{
		Type:        "object",
		Description: k.Description + " It stores no objects: the resource exists for RBAC and discovery.",
		Properties: map[string]apiextensionsv1.JSONSchemaProps{
			"apiVersion": {Type: "string"},
			"kind":       {Type: "string"},
			"metadata":   {Type: "object"},
		},
		XValidations: apiextensionsv1.ValidationRules{{
			Rule:    "false",
			Message: k.Plural + " store no objects: the resource exists so that RBAC can grant get, filter and group on it",
		}},
	}
}
