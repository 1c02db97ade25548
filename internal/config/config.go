// Package config loads the operator's configuration file: the feature map,
// platform identities, the namespaces the webhooks skip, the verifier's route
// map and the audit sinks.
package config

import (
	"fmt"
	"os"

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
	// Routes maps gateway routes to the API-key permission they need.
	Routes verifier.RouteMap `json:"routes,omitempty"`
	// Audit configures the audit sinks.
	Audit audit.Config `json:"audit,omitempty"`
}

// PlatformIdentities lists the users, groups and service accounts outside tenancy.
type PlatformIdentities struct {
	// Users are user names, e.g. the GitOps applier's identity.
	Users []string `json:"users,omitempty"`
	// Groups are group names. Default: system:masters.
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
	if err := c.Features.Validate(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if err := c.Audit.Validate(); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	return c, nil
}
