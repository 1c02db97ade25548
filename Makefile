# tenantward — kubebuilder-style targets. Tools are pinned and installed into bin/.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

BIN ?= $(CURDIR)/bin
CONTROLLER_GEN_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
HELM_VERSION ?= v3.22.0
CONTROLLER_GEN ?= $(BIN)/controller-gen
GOLANGCI_LINT ?= $(BIN)/golangci-lint
HELM ?= $(BIN)/helm
# Without these, a `go install`ed helm reports its own version as empty and
# assumes Kubernetes 1.20 for `helm template` and `helm lint`.
HELM_LDFLAGS = -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37 \
	-X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37
IMG ?= ghcr.io/tenantward/tenantward:dev
# VERSION is the release `make krew` builds the plugin archives for.
VERSION ?= v0.1.0

# The real kube-apiserver, etcd and kubectl, built from Go modules and cached outside the checkout.
K8S_ASSETS = $(shell bash hack/k8s-binaries.sh)

.PHONY: all
all: build

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs, RBAC and the webhook configuration.
	go run ./hack/gen-rbac controllers/zz_generated.rbac.go
	$(CONTROLLER_GEN) crd rbac:roleName=tenantward-manager webhook paths="./..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac \
		output:webhook:artifacts:config=config/webhook
	$(CONTROLLER_GEN) rbac:roleName=tenantward-verifier paths="./internal/verifier/..." output:rbac:artifacts:config=config/rbac/verifier
	go run ./hack/gen-gateway-crds config/crd/gateway
	bash hack/sync-install.sh

.PHONY: generate
generate: controller-gen ## Generate deepcopy code and the generated docs.
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate.go.txt paths="./api/..."
	@if [ -d hack/gen-docs ]; then go run ./hack/gen-docs; fi

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -s -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: verify
verify: controller-gen ## Fail when generated files are stale or code is unformatted.
	bash hack/verify.sh

.PHONY: k8s-binaries
k8s-binaries: ## Build kube-apiserver, etcd and kubectl from Go modules (cached).
	@bash hack/k8s-binaries.sh

.PHONY: test
test: helm ## Run all tests against a real kube-apiserver and etcd (the packaging tests render the chart with bin/helm).
	KUBEBUILDER_ASSETS="$(K8S_ASSETS)" go test ./... -count=1 -timeout 30m

.PHONY: bench
bench: ## Run the benchmarks.
	KUBEBUILDER_ASSETS="$(K8S_ASSETS)" go test ./... -run '^$$' -bench . -benchmem

.PHONY: portkey-gateway
portkey-gateway: ## Install nginx, Node.js (as root, when missing) and the pinned Portkey AI gateway (cached).
	@bash hack/portkey-gateway.sh

##@ Build and run

.PHONY: build
build: ## Build the tenantward and tenantward-verifier binaries.
	CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w -buildid=" -o $(BIN)/tenantward .
	CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "-s -w -buildid=" -o $(BIN)/tenantward-verifier ./cmd/tenantward-verifier

.PHONY: run-local
run-local: build ## Run everything on a local control plane it starts itself, with the samples applied.
	KUBEBUILDER_ASSETS="$(K8S_ASSETS)" $(BIN)/tenantward local

.PHONY: run-gateway
run-gateway: build ## Local mode plus nginx (auth_request to the verifier) before the Portkey AI gateway and a stub provider on 127.0.0.1:18000.
	KUBEBUILDER_ASSETS="$(K8S_ASSETS)" $(BIN)/tenantward local --gateway

.PHONY: helm-lint
helm-lint: helm ## Lint the Helm chart with default and non-default values.
	$(HELM) lint --strict --kube-version 1.37.2 charts/tenantward
	$(HELM) lint --strict --kube-version 1.37.2 charts/tenantward -f charts/tenantward/ci/all-features-values.yaml

.PHONY: kustomize-build
kustomize-build: ## Render the kustomize install (config/default) to dist/install.yaml.
	@mkdir -p dist
	"$(K8S_ASSETS)/kubectl" kustomize config/default > dist/install.yaml
	@echo "wrote dist/install.yaml"

.PHONY: krew
krew: ## Build the kubectl plugin's release archives and krew manifest into dist/krew (VERSION=vX.Y.Z).
	go run ./hack/krew -version $(VERSION) -out dist/krew

.PHONY: docker-build
docker-build: ## Build the container image (needs a Docker engine).
	docker build -t $(IMG) .

##@ Tools

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN):
	GOBIN=$(BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT)
$(GOLANGCI_LINT):
	GOBIN=$(BIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: helm
helm: $(HELM)
$(HELM):
	GOBIN=$(BIN) go install -ldflags "$(HELM_LDFLAGS)" helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
