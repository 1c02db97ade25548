package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tenantward/tenantward/internal/manager"
)

// applyOrder applies cluster-scoped tenancy first, so the namespaces the rest
// lives in exist by the time it is applied.
var applyOrder = map[string]int{"Organization": 0, "Workspace": 1}

// ApplySamples server-side applies every YAML document under dir, as a GitOps
// tool would, retrying objects whose namespace the operator has yet to create.
// It returns how many objects it applied.
func ApplySamples(ctx context.Context, cfg *rest.Config, dir string) (int, error) {
	objs, err := ReadObjects(dir)
	if err != nil {
		return 0, err
	}
	c, err := client.New(cfg, client.Options{Scheme: manager.Scheme})
	if err != nil {
		return 0, err
	}
	for _, o := range objs {
		var lastErr error
		err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			lastErr = c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("tenantward-samples"), client.ForceOwnership)
			if lastErr == nil {
				return true, nil
			}
			// The namespace is created by the operator shortly after its Organization or Workspace.
			return false, ignoreNotFound(lastErr)
		})
		if err != nil {
			return 0, fmt.Errorf("applying %s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), errors.Join(err, lastErr))
		}
	}
	return len(objs), nil
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// ReadObjects reads every YAML document of the .yaml files in dir, sorted so
// that Organizations come first, then Workspaces, then everything else.
func ReadObjects(dir string) ([]*unstructured.Unstructured, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no .yaml files in %s", dir)
	}
	sort.Strings(files)
	var objs []*unstructured.Unstructured
	for _, f := range files {
		in, err := readFile(f)
		if err != nil {
			return nil, err
		}
		objs = append(objs, in...)
	}
	sort.SliceStable(objs, func(i, j int) bool { return rank(objs[i]) < rank(objs[j]) })
	return objs, nil
}

// readFile reads every YAML document of one file.
func readFile(f string) ([]*unstructured.Unstructured, error) {
	raw, err := os.ReadFile(f)
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(raw), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if u.GetKind() == "" || u.GetAPIVersion() == "" {
			return nil, fmt.Errorf("%s: a document has no apiVersion or kind", f)
		}
		objs = append(objs, u)
	}
}

func rank(u *unstructured.Unstructured) int {
	if r, ok := applyOrder[u.GetKind()]; ok {
		return r
	}
	return len(applyOrder)
}
