// Package controllers holds the reconcilers of the tenantward kinds, one a file.
package controllers

import (
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/tenantward/tenantward/internal/audit"
	"github.com/tenantward/tenantward/internal/config"
	"github.com/tenantward/tenantward/internal/tenancy"
)

// Deps are what the reconcilers share.
type Deps struct {
	// Config is the operator configuration (feature map, platform identities).
	Config *config.Config
	// Audit receives a record for every action a controller takes.
	Audit audit.Recorder
	// Reserved are the namespaces no Organization or Workspace may use.
	Reserved tenancy.Reserved
}

// SetupWithManager registers every reconciler with the manager.
func SetupWithManager(mgr ctrl.Manager, d Deps) error {
	setups := []func(ctrl.Manager, Deps) error{
		setupOrganization,
		setupWorkspace,
		setupMembership,
		setupClusterRole,
		setupAPIKey,
		setupIntegrationPolicy,
		setupIntegrationAccess,
	}
	for _, setup := range setups {
		if err := setup(mgr, d); err != nil {
			return err
		}
	}
	return nil
}
