#!/usr/bin/env bash
# Copies the generated manifests (CRDs, the operator's RBAC rules, the webhook
# rules) into charts/tenantward/files/, so the Helm chart and the kustomize
# install come from the same sources. Run by `make manifests`; `make verify`
# fails when the copies are stale.
set -euo pipefail
cd "$(dirname "$0")/.."

files=charts/tenantward/files
rm -rf "$files"
mkdir -p "$files/crds/access" "$files/crds/gateway" "$files/rbac" "$files/webhook"
cp config/crd/bases/*.yaml "$files/crds/access/"
cp config/crd/gateway/*.yaml "$files/crds/gateway/"
# The rules of the hand-written roles, and of the generated ones (present once
# the code has +kubebuilder:rbac / +kubebuilder:webhook markers).
cp config/rbac/leader_election_role.yaml config/rbac/verifier_role.yaml "$files/rbac/"
if [[ -f config/rbac/role.yaml ]]; then cp config/rbac/role.yaml "$files/rbac/"; fi
if [[ -f config/webhook/manifests.yaml ]]; then cp config/webhook/manifests.yaml "$files/webhook/"; fi
