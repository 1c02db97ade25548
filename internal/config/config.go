// Package config loads the operator's configuration file: the feature map,
// platform identities, the namespaces the webhooks skip, the verifier's route
// map and the audit sinks.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"sigs.k8s.io/yaml"

	"github.com/tenantward/tenantward/internal/audit"
	"github.com/tenantward/tenantward/internal/authz"
	"github.com/tenantward/tenantward/internal/verifier"
)

// MaxFileSize bounds the configuration file the operator reads.
const MaxFileSize = 1 << 20

// Config is the operator configuration. Every section has a working default.
type Config struct {
	// Features maps each feature of the permission matrix to the resources it governs.
	Features authz.FeatureMap `json:"features,omitempty"`
	// PlatformIdentities are outside tenancy: they bootstrap organizations and
	// first owners and bypass the tenancy rules of the webhooks.
	PlatformIdentities PlatformIdentities `json:"platformIdentities,omitempty"`
	// ExcludedNamespaces are the namespaces the webhook configuration's
	// namespaceSelector skips besides kube-system and the operator's own (the
	// chart renders webhook.excludeNamespaces here). No Organization or Workspace
	// may use one, nor default, kube-public, kube-node-lease, any kube-* name or
	// the operator's namespace, which are always reserved.
	ExcludedNamespaces []string `json:"excludedNamespaces,omitempty"`
	// VerifierIdentity is the user the key verifier runs as: the only one
	// whose writes may set an APIKey's status.lastUsedAt, and which may write
	// nothing else of it. A system: name (a standalone verifier's service
	// account is system:serviceaccount:<namespace>:<name>); empty means the
	// operator's own identity, which runs the embedded verifier.
	VerifierIdentity string `json:"verifierIdentity,omitempty"`
	// Routes maps gateway routes to the API-key permission they need.
	Routes verifier.RouteMap `json:"routes,omitempty"`
	// Audit configures the audit sinks.
	Audit audit.Config `json:"audit,omitempty"`
}

// PlatformIdentities lists the users, groups and service accounts outside
// tenancy. Users and groups are system: identities (system:masters, a client
// certificate's system:… user): a bare name such as admin could be a tenant's
// user name, who would then bypass every tenancy rule. Anything else that must
// be a platform identity runs as a service account.
type PlatformIdentities struct {
	// Users are system: user names.
	Users []string `json:"users,omitempty"`
	// Groups are system: group names. Default: system:masters.
	Groups []string `json:"groups,omitempty"`
	// ServiceAccounts are <namespace>/<name> pairs. The operator's own service
	// account is always included.
	ServiceAccounts []string `json:"serviceAccounts,omitempty"`
}

// Default returns the configuration used when no file is given.
func Default() *Config {
	return &Config{
		Features:           authz.DefaultFeatureMap(),
		PlatformIdentities: PlatformIdentities{Groups: []string{"system:masters"}},
	}
}

// Load reads a YAML configuration file over the defaults. Unknown fields are
// rejected so a typo does not silently fall back to a default.
func Load(path string) (*Config, error) {
	c := Default()
	if path == "" {
		return c, nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if info.Size() > MaxFileSize {
		return nil, fmt.Errorf("config file %s is %d bytes; the limit is %d", path, info.Size(), MaxFileSize)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if err := yaml.UnmarshalStrict(raw, c); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if err := c.PlatformIdentities.Validate(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if c.VerifierIdentity != "" && !strings.HasPrefix(c.VerifierIdentity, "system:") {
		return nil, fmt.Errorf("config file %s: verifierIdentity: %q is not a system: identity; a bare name could be a tenant's, who could then write lastUsedAt (use the verifier's service account, system:serviceaccount:<namespace>:<name>)", path, c.VerifierIdentity)
	}
	if err := c.Features.Validate(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if err := c.Audit.Validate(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return c, nil
}

// Validate refuses users and groups that are not system: identities and
// service accounts that are not <namespace>/<name>.
func (p PlatformIdentities) Validate() error {
	var errs []error
	for _, list := range []struct {
		field string
		names []string
	}{{"users", p.Users}, {"groups", p.Groups}} {
		for _, n := range list.names {
			if !strings.HasPrefix(n, "system:") {
				errs = append(errs, fmt.Errorf("platformIdentities.%s: %q is not a system: identity; a bare name could be a tenant's, who would then bypass every tenancy rule (use a service account, or a system: user or group)", list.field, n))
			}
		}
	}
	for _, sa := range p.ServiceAccounts {
		ns, name, ok := strings.Cut(sa, "/")
		if !ok || len(validation.IsDNS1123Label(ns)) > 0 || len(validation.IsDNS1123Subdomain(name)) > 0 {
			errs = append(errs, fmt.Errorf("platformIdentities.serviceAccounts: %q is not <namespace>/<name>", sa))
		}
	}
	return errors.Join(errs...)
}
