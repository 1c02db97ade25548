#!/usr/bin/env bash
# Fails when generated files (CRDs, RBAC, webhook configuration, deepcopy, the
# chart's copies, docs) differ from what `make manifests generate` produces, or
# when Go code is not gofmt-formatted. Works in a dirty tree too: it compares
# the tree before and after regeneration rather than against the last commit.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -s -l $(git ls-files '*.go') 2>/dev/null || true)
if [[ -n "$unformatted" ]]; then
  echo "gofmt -s needed on:"; echo "$unformatted"; exit 1
fi

paths=(api config docs charts controllers)
before=$(mktemp -d)
trap 'rm -rf "$before"' EXIT
cp -r "${paths[@]}" "$before/"
make --no-print-directory manifests generate >/dev/null
stale=0
for p in "${paths[@]}"; do
  if ! diff -r -q "$before/$p" "$p" >/dev/null; then
    diff -r -u "$before/$p" "$p" | head -60 || true
    stale=1
  fi
done
if [[ $stale -ne 0 ]]; then
  echo "generated files were stale (now regenerated): run 'make manifests generate' and commit the result"
  exit 1
fi
echo "generated files are current"
