// Package crd embeds the CustomResourceDefinitions of tenantward, so the binary
// can install them into the local control plane and tests need no file paths.
package crd

import "embed"

// Files holds the generated CRDs: bases/ (access.tenantward.io) and gateway/
// (the reference gateway.tenantward.io resources).
//
//go:embed bases/*.yaml gateway/*.yaml
var Files embed.FS
