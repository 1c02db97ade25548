# syntax=docker/dockerfile:1
# tenantward: two static binaries on distroless: /tenantward (the operator, with
# its embedded verifier, and the audit tool) and /tenantward-verifier (the
# verifier alone, for the chart's standalone verifier Deployment).

# Build stage: the same flags as `make build`, so the binaries are reproducible
# (-trimpath, no build ID, no VCS stamp) and small (-s -w, static, CGO off).
FROM golang:1.26 AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /src
# Dependencies first, so source edits reuse the module layer.
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/tenantward-verifier/ cmd/tenantward-verifier/
COPY config/crd/ config/crd/
COPY config/rbac/ config/rbac/
COPY controllers/ controllers/
COPY internal/ internal/
COPY main.go ./
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags "-s -w -buildid=" -o /out/tenantward .
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags "-s -w -buildid=" -o /out/tenantward-verifier ./cmd/tenantward-verifier

# Runtime stage: no shell, no package manager, non-root (65532 = nonroot).
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.source="https://github.com/tenantward/tenantward" \
      org.opencontainers.image.title="tenantward" \
      org.opencontainers.image.description="Enterprise access control for an AI gateway, as a Kubernetes operator"
COPY --from=build /out/tenantward /out/tenantward-verifier /
USER 65532:65532
ENTRYPOINT ["/tenantward"]
CMD ["manager"]
