package controllers

import (
	ctrl "sigs.k8s.io/controller-runtime"
)

// setupMembership registers the Membership reconciler. Placeholder until its issue lands.
func setupMembership(_ ctrl.Manager, _ Deps) error { return nil }
