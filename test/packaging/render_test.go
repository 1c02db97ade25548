package packaging

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
)

// install is one rendering of tenantward: the chart with some values, or a kustomization.
type install struct {
	name      string
	namespace string // where the namespaced objects go
	objects   []*unstructured.Unstructured
}

// installs are every rendering the tests check, rendered once.
var installs []install

// kubeVersion is the Kubernetes version helm renders for: the control plane's.
const kubeVersion = "1.37.2"

// renderAll renders the chart with default, every-feature and minimal values,
// and the kustomize install without and with its optional components.
func renderAll(t *testing.T) []install {
	t.Helper()
	if installs != nil {
		return installs
	}
	chart := filepath.Join(root, "charts", "tenantward")
	all := filepath.Join(chart, "ci", "all-features-values.yaml")
	installs = []install{
		helmInstall(t, "helm default values", "tenantward", "tw-helm-default"),
		helmInstall(t, "helm all-features values", "tw", "tw-helm-all", "-f", all),
		helmInstall(t, "helm minimal values", "tenantward", "tw-helm-minimal",
			"--set", "webhook.enabled=false,metrics.enabled=false,manager.replicas=1,manager.leaderElection.enabled=false,manager.preStopSleepSeconds=0"),
		kustomizeInstall(t, "kustomize config/default", filepath.Join(root, "config", "default")),
		kustomizeInstall(t, "kustomize config/default with all components", withAllComponents(t)),
	}
	return installs
}

func helmInstall(t *testing.T, name, release, namespace string, args ...string) install {
	t.Helper()
	out, err := runTool(helm, nil, append([]string{"template", release, filepath.Join(root, "charts", "tenantward"),
		"--namespace", namespace, "--kube-version", kubeVersion}, args...)...)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return install{name: name, namespace: namespace, objects: decode(t, name, out)}
}

func kustomizeInstall(t *testing.T, name, dir string) install {
	t.Helper()
	out, err := runTool(kubectl, nil, "kustomize", dir)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	objs := decode(t, name, out)
	ns := ""
	for _, o := range objs {
		if o.GetKind() == "Namespace" {
			ns = o.GetName()
		}
	}
	if ns == "" {
		t.Fatalf("%s renders no Namespace", name)
	}
	return install{name: name, namespace: ns, objects: objs}
}

var commentedComponents = regexp.MustCompile(`(?m)^# components:\n((?:#   - .*\n)+)`)

// withAllComponents writes config/default with its commented-out components
// enabled, the way docs/install.md tells a user to, into a temporary directory.
func withAllComponents(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "config", "default", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	block := commentedComponents.Find(raw)
	if block == nil {
		t.Fatal("config/default/kustomization.yaml has no commented-out components block")
	}
	enabled := bytes.ReplaceAll(bytes.Replace(block, []byte("# components:"), []byte("components:"), 1), []byte("#   - "), []byte("  - "))
	raw = bytes.Replace(raw, block, enabled, 1)
	dir := t.TempDir()
	// Paths in config/default are relative to it; kustomize accepts relative
	// paths out of the kustomization's directory, not absolute ones.
	rel, err := filepath.Rel(dir, filepath.Join(root, "config"))
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte("../"), []byte(rel+"/"))
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func decode(t *testing.T, name, manifests string) []*unstructured.Unstructured {
	t.Helper()
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewBufferString(manifests), 4096)
	var out []*unstructured.Unstructured
	for {
		obj := map[string]any{}
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: decoding the rendered manifests: %v", name, err)
		}
		if len(obj) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
}

// ofKind returns the objects of the given kinds.
func (in install) ofKind(kinds ...string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range in.objects {
		for _, k := range kinds {
			if o.GetKind() == k {
				out = append(out, o)
			}
		}
	}
	return out
}

// yamlOf joins objects into one multi-document YAML stream for kubectl.
func yamlOf(t *testing.T, objs []*unstructured.Unstructured) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, o := range objs {
		raw, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(raw)
		b.WriteString("\n")
	}
	return b.Bytes()
}
