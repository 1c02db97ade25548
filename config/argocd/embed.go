// Package argocd embeds the Argo CD health check of the tenantward kinds, so
// the tests run the very script docs/gitops.md ships.
package argocd

import _ "embed"

// Health is the Lua health check of every access.tenantward.io kind, for
// argocd-cm's resource.customizations.health.access.tenantward.io_<Kind>.
//
//go:embed health.lua
var Health string
