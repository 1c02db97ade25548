#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from Go modules into a versioned cache
# outside the checkout, so tests and local mode get a real control plane without
# downloading prebuilt binaries. Prints the directory holding the binaries.
# Rebuilds only what is missing.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.7.0}"
CACHE_ROOT="${TENANTWARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tenantward}"
DIR="${CACHE_ROOT}/k8s/v${K8S_VERSION}-etcd${ETCD_VERSION}"
STAGING=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go
  cloud-provider cluster-bootstrap code-generator component-base component-helpers
  controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation
  endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy
  kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission
  sample-apiserver sample-cli-plugin sample-controller streaming)

log() { echo "[k8s-binaries] $*" >&2; }

mkdir -p "$DIR"
if [[ -x "$DIR/kube-apiserver" && -x "$DIR/kubectl" && -x "$DIR/etcd" ]]; then
  echo "$DIR"
  exit 0
fi

# Serialise concurrent builders (parallel test packages, local mode).
exec 9>"$DIR/.lock"
if ! flock -n 9; then
  log "another build holds $DIR/.lock (a parallel test package or local mode): waiting for it to finish..."
  flock 9
  log "the other build finished"
fi
if [[ -x "$DIR/kube-apiserver" && -x "$DIR/kubectl" && -x "$DIR/etcd" ]]; then
  echo "$DIR"
  exit 0
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export GOFLAGS=-mod=mod GOWORK=off

if [[ ! -x "$DIR/etcd" ]]; then
  log "building etcd v${ETCD_VERSION} (about 30 s on a cold cache)..."
  mkdir -p "$WORK/etcd" && cd "$WORK/etcd"
  go mod init tenantward.local/etcd >/dev/null 2>&1
  cat > tools.go <<GO
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
  go get "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}" >&2
  go mod tidy >&2
  go build -trimpath -o "$DIR/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$DIR/etcd.tmp" "$DIR/etcd"
  log "etcd ready"
fi

if [[ ! -x "$DIR/kube-apiserver" || ! -x "$DIR/kubectl" ]]; then
  log "building kube-apiserver and kubectl v${K8S_VERSION} from Go modules (about 5 minutes on a cold cache)..."
  mkdir -p "$WORK/k8s" && cd "$WORK/k8s"
  go mod init tenantward.local/k8s >/dev/null 2>&1
  cat > tools.go <<GO
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  log "resolving modules..."
  go mod edit -require "k8s.io/kubernetes@v${K8S_VERSION}"
  # Discover the staging modules that k8s.io/kubernetes replaces locally and point
  # each at its published version.
  go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" > kube.json
  gomod="$(sed -n 's/.*"GoMod": "\(.*\)".*/\1/p' kube.json)"
  mapfile -t staging < <(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod")
  if [[ ${#staging[@]} -eq 0 ]]; then
    staging=("${STAGING[@]/#/k8s.io/}")
  fi
  for m in "${staging[@]}"; do
    go mod edit -replace "${m}=${m}@v0.${K8S_VERSION#1.}"
  done
  go mod tidy >&2
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v${K8S_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${K8S_VERSION#1.}"
  ldflags="${ldflags%.*}"
  log "compiling kube-apiserver (the long step)..."
  go build -trimpath -ldflags "$ldflags" -o "$DIR/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  mv "$DIR/kube-apiserver.tmp" "$DIR/kube-apiserver"
  log "compiling kubectl..."
  go build -trimpath -ldflags "$ldflags" -o "$DIR/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl
  mv "$DIR/kubectl.tmp" "$DIR/kubectl"
  log "kube-apiserver and kubectl ready"
fi

echo "$DIR"
