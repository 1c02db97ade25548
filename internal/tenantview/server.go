package tenantview

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/util/compatibility"

	tenancyv1alpha1 "github.com/tenantward/tenantward/api/tenancy/v1alpha1"
)

// Delegated authorization asks the kube-apiserver with SubjectAccessReviews.
// Delegated authentication reads the front-proxy CA from
// kube-system/extension-apiserver-authentication (the installs bind the
// operator to the role extension-apiserver-authentication-reader there) and
// accepts only the callers the aggregation layer forwards: the view does no
// TokenReviews (see New), so the operator holds no tokenreviews right.
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

// Scheme and Codecs serve the tenant view's kinds.
var (
	Scheme = runtime.NewScheme()
	Codecs = serializer.NewCodecFactory(Scheme)
)

func init() {
	utilruntime.Must(tenancyv1alpha1.AddToScheme(Scheme))
	// The view has no separate internal types: the same Go types are its
	// internal version, so the server converts nothing.
	Scheme.AddKnownTypes(schema.GroupVersion{Group: tenancyv1alpha1.GroupVersion.Group, Version: runtime.APIVersionInternal}, tenancyv1alpha1.Kinds()...)
	// The generic API server decodes list and get options as meta/v1 of the
	// empty group, and writes Status and discovery objects unversioned.
	metav1.AddToGroupVersion(Scheme, schema.GroupVersion{Version: "v1"})
	Scheme.AddUnversionedTypes(schema.GroupVersion{Version: "v1"},
		&metav1.Status{}, &metav1.APIVersions{}, &metav1.APIGroupList{}, &metav1.APIGroup{}, &metav1.APIResourceList{})
}

// APIService is the name of the view's APIService.
var APIService = tenancyv1alpha1.GroupVersion.Version + "." + tenancyv1alpha1.GroupVersion.Group

// Options say where and how the tenant view is served.
type Options struct {
	// Host and Port are where it listens (Host empty: all interfaces).
	Host string
	Port int
	// CertDir holds tls.crt and tls.key, the serving certificate for
	// <Service>.<namespace>.svc that the APIService's caBundle verifies.
	CertDir string
	// Service is the Service the APIService names, in the operator's
	// namespace; self-managed webhook certificates name it too.
	Service string
	// Kubeconfig is the kubeconfig for delegated authentication and
	// authorization (TokenReviews, SubjectAccessReviews and the
	// extension-apiserver-authentication ConfigMap); empty in a cluster, where
	// the pod's service account is used.
	Kubeconfig string
}

// Server is the tenant view's API server, run by the manager on every replica.
type Server struct {
	server *genericapiserver.GenericAPIServer
}

// NeedLeaderElection is false: every replica serves the view.
func (s *Server) NeedLeaderElection() bool { return false }

// Start serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	return s.server.PrepareRun().RunWithContext(ctx)
}

// New builds the tenant view's API server on source.
func New(o Options, source Source) (*Server, error) {
	serving := genericoptions.NewSecureServingOptions().WithLoopback()
	serving.BindPort = o.Port
	if o.Host != "" {
		if serving.BindAddress = net.ParseIP(o.Host); serving.BindAddress == nil {
			return nil, fmt.Errorf("tenant view: bind host %q is not an IP address", o.Host)
		}
	}
	serving.ServerCert.CertKey.CertFile = filepath.Join(o.CertDir, "tls.crt")
	serving.ServerCert.CertKey.KeyFile = filepath.Join(o.CertDir, "tls.key")

	cfg := genericapiserver.NewConfig(Codecs)
	cfg.EffectiveVersion = compatibility.DefaultBuildEffectiveVersion()
	if err := serving.ApplyTo(&cfg.SecureServing, &cfg.LoopbackClientConfig); err != nil {
		return nil, fmt.Errorf("tenant view: serving on port %s: %w", strconv.Itoa(o.Port), err)
	}
	authn := genericoptions.NewDelegatingAuthenticationOptions()
	authn.RemoteKubeConfigFile = o.Kubeconfig
	if err := authn.ApplyTo(&cfg.Authentication, cfg.SecureServing, nil); err != nil {
		return nil, fmt.Errorf("tenant view: delegated authentication: %w", err)
	}
	if err := forwardedCallersOnly(&cfg.Authentication); err != nil {
		return nil, err
	}
	authz := genericoptions.NewDelegatingAuthorizationOptions()
	authz.RemoteKubeConfigFile = o.Kubeconfig
	if err := authz.ApplyTo(&cfg.Authorization); err != nil {
		return nil, fmt.Errorf("tenant view: delegated authorization: %w", err)
	}
	namer := openapinamer.NewDefinitionNamer(Scheme)
	cfg.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(definitions, namer)
	cfg.OpenAPIV3Config.Info.Title = "tenantward tenant view"

	server, err := cfg.Complete(nil).New("tenantward-tenant-view", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, fmt.Errorf("tenant view: %w", err)
	}
	group := genericapiserver.NewDefaultAPIGroupInfo(tenancyv1alpha1.GroupVersion.Group, Scheme, runtime.NewParameterCodec(Scheme), Codecs)
	group.VersionedResourcesStorageMap[tenancyv1alpha1.GroupVersion.Version] = map[string]rest.Storage{
		"organizations": organizations(source),
		"workspaces":    workspaces(source),
		"accesses":      accesses(source),
	}
	if err := server.InstallAPIGroup(&group); err != nil {
		return nil, fmt.Errorf("tenant view: installing %s: %w", tenancyv1alpha1.GroupVersion, err)
	}
	return &Server{server: server}, nil
}

// forwardedCallersOnly replaces the delegated authenticator with one that
// knows only the callers the aggregation layer forwards (the front-proxy
// client certificate and its X-Remote-* headers), anonymous otherwise: every
// tenant reaches the view through the kube-apiserver, which has already
// authenticated them, so the view never sends a bearer token to a TokenReview
// and holds no right to.
func forwardedCallersOnly(info *genericapiserver.AuthenticationInfo) error {
	if info.RequestHeaderConfig == nil {
		return errors.New("tenant view: no front-proxy (requestheader) configuration in kube-system/extension-apiserver-authentication: start the kube-apiserver with --requestheader-client-ca-file")
	}
	a, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous:           &apiserver.AnonymousAuthConfig{Enabled: true},
		RequestHeaderConfig: info.RequestHeaderConfig,
	}.New()
	if err != nil {
		return fmt.Errorf("tenant view: delegated authentication: %w", err)
	}
	info.Authenticator = a
	return nil
}
