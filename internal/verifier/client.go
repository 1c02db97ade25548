package verifier

import (
	"context"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
)

// The verifier talks to the API server with plain REST clients of its own
// API group: no controller-runtime client and no client-go scheme of every
// Kubernetes type, whose registration alone costs the standalone binary
// (cmd/tenantward-verifier) megabytes of memory.

// apiScheme knows the tenantward types and the API server's Status.
var apiScheme = newAPIScheme()

// apiCodecs decode the API server's answers into apiScheme's types.
var apiCodecs = serializer.NewCodecFactory(apiScheme)

func newAPIScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	must(accessv1alpha1.AddToScheme(s))
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return s
}

// must panics on an error of a static registration (a programming error).
func must(err error) {
	if err != nil {
		panic(err)
	}
}

// newAPIClient is a REST client of access.tenantward.io/v1alpha1 at cfg.
func newAPIClient(cfg *rest.Config) (*rest.RESTClient, error) {
	cfg = rest.CopyConfig(cfg)
	gv := accessv1alpha1.GroupVersion
	cfg.GroupVersion = &gv
	cfg.APIPath = "/apis"
	cfg.AcceptContentTypes, cfg.ContentType = "application/json", "application/json"
	cfg.NegotiatedSerializer = apiCodecs.WithoutConversion()
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	return rest.RESTClientFor(cfg)
}

// organizationsListWatch lists and watches the Organizations with c.
func organizationsListWatch(c rest.Interface) *toolscache.ListWatch {
	return &toolscache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			// The reflector streams its first list (watch-list, a consistent
			// read); when it falls back to a plain list, that asks for "0",
			// whatever the API server's cache holds. Read the latest instead,
			// so a key revoked just before the start is never served as valid.
			if o.ResourceVersion == "0" {
				o.ResourceVersion = ""
			}
			list := &accessv1alpha1.OrganizationList{}
			return list, c.Get().Resource("organizations").VersionedParams(&o, metav1.ParameterCodec).Do(ctx).Into(list)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.Watch = true
			return c.Get().Resource("organizations").VersionedParams(&o, metav1.ParameterCodec).Watch(ctx)
		},
	}
}

// keyStatus is what the lastUsedAt writer reads of an APIKey.
type keyStatus struct {
	Metadata struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Status struct {
		LastUsedAt *metav1.Time `json:"lastUsedAt"`
	} `json:"status"`
}

// statusClient reads and patches apikeys/status.
type statusClient struct{ c rest.Interface }

func (s statusClient) request(r *rest.Request, namespace, name string) *rest.Request {
	return r.Namespace(namespace).Resource("apikeys").Name(name).SubResource("status")
}

// get reads the resource version and status of the APIKey namespace/name.
func (s statusClient) get(ctx context.Context, namespace, name string) (keyStatus, error) {
	var k keyStatus
	raw, err := s.request(s.c.Get(), namespace, name).DoRaw(ctx)
	if err != nil {
		return k, err
	}
	if err := json.Unmarshal(raw, &k); err != nil {
		return k, fmt.Errorf("decoding the status of APIKey %s/%s: %w", namespace, name, err)
	}
	return k, nil
}

// patch applies a JSON patch to the status of the APIKey namespace/name.
func (s statusClient) patch(ctx context.Context, namespace, name string, patch []byte) error {
	return s.request(s.c.Patch(types.JSONPatchType), namespace, name).Body(patch).Do(ctx).Error()
}
