package controlplane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/tenantward/tenantward/config/rbac"
)

// The operator's identities as the installs name them: the kustomize install
// (config/) runs the manager as tenantward-manager in tenantward-system; the
// standalone verifier runs as tenantward-verifier.
const (
	OperatorNamespace      = "tenantward-system"
	ManagerServiceAccount  = "tenantward-manager"
	VerifierServiceAccount = "tenantward-verifier"
)

// Identities are the operator's service accounts as users of the control
// plane (client certificates carrying the service accounts' user names and
// groups, so RBAC sees exactly what it sees in a cluster), bound only by the
// RBAC that config/rbac installs. Config() and KubeConfig() connect as them.
type Identities struct {
	// Manager is the manager's service account: controllers, webhooks and the
	// embedded verifier.
	Manager *envtest.AuthenticatedUser
	// Verifier is the standalone verifier's service account.
	Verifier *envtest.AuthenticatedUser
}

// ServiceAccountUser is the user the API server authenticates a service
// account's token as, with the groups it adds.
func ServiceAccountUser(namespace, name string) envtest.User {
	return envtest.User{
		Name:   "system:serviceaccount:" + namespace + ":" + name,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
}

// InstallRBAC applies config/rbac as `kubectl apply -k config/default` does
// (the namespace "system" becomes OperatorNamespace), plus the standalone
// verifier's generated role bound to its service account as the chart binds
// it, and returns the two service accounts' identities.
func (e *Env) InstallRBAC(ctx context.Context) (Identities, error) {
	admin, err := client.New(e.Config, client.Options{})
	if err != nil {
		return Identities{}, err
	}
	objs, err := installedRBAC()
	if err != nil {
		return Identities{}, err
	}
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": OperatorNamespace}}}
	for _, o := range append([]*unstructured.Unstructured{ns}, objs...) {
		if err := admin.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return Identities{}, fmt.Errorf("installing %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	var ids Identities
	for sa, user := range map[string]**envtest.AuthenticatedUser{ManagerServiceAccount: &ids.Manager, VerifierServiceAccount: &ids.Verifier} {
		if *user, err = e.AddUser(ServiceAccountUser(OperatorNamespace, sa), nil); err != nil {
			return Identities{}, fmt.Errorf("a client certificate for service account %s: %w", sa, err)
		}
	}
	return ids, nil
}

// installedRBAC decodes config/rbac's objects in the operator's namespace and
// adds the standalone verifier's service account and binding.
func installedRBAC() ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	err := fs.WalkDir(rbac.Files, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == "kustomization.yaml" {
			return err
		}
		raw, err := rbac.Files.ReadFile(path)
		if err != nil {
			return err
		}
		objs, err := decodeAll(raw)
		if err != nil {
			return fmt.Errorf("config/rbac/%s: %w", path, err)
		}
		out = append(out, objs...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	verifierBinding, err := decodeAll([]byte(`
apiVersion: v1
kind: ServiceAccount
metadata: {name: ` + VerifierServiceAccount + `, namespace: system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: tenantward-verifier}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: tenantward-verifier}
subjects: [{kind: ServiceAccount, name: ` + VerifierServiceAccount + `, namespace: system}]
`))
	if err != nil {
		return nil, err
	}
	out = append(out, verifierBinding...)
	for _, o := range out {
		inOperatorNamespace(o)
	}
	return out, nil
}

// inOperatorNamespace replaces the placeholder namespace "system" of config/rbac
// with OperatorNamespace, in metadata and in binding subjects.
func inOperatorNamespace(o *unstructured.Unstructured) {
	if o.GetNamespace() == "system" {
		o.SetNamespace(OperatorNamespace)
	}
	subjects, _, _ := unstructured.NestedSlice(o.Object, "subjects")
	for _, s := range subjects {
		if m, ok := s.(map[string]any); ok && m["namespace"] == "system" {
			m["namespace"] = OperatorNamespace
		}
	}
	if subjects != nil {
		_ = unstructured.SetNestedSlice(o.Object, subjects, "subjects")
	}
}

// decodeAll decodes every non-empty document of a multi-document YAML file.
func decodeAll(raw []byte) ([]*unstructured.Unstructured, error) {
	var out []*unstructured.Unstructured
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		o := &unstructured.Unstructured{}
		err := dec.Decode(&o.Object)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if len(o.Object) == 0 {
			continue
		}
		if o.GetKind() == "" || o.GetAPIVersion() == "" {
			return nil, errors.New("a document without apiVersion or kind")
		}
		out = append(out, o)
	}
}
