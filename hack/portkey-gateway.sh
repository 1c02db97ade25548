#!/usr/bin/env bash
# Installs the real front door the gateway test and `make run-gateway` put in
# front of the verifier: nginx, Node.js and npm from Debian's packages (only
# when run as root and missing), and the open-source Portkey AI gateway from
# the npm registry at a pinned version, into a versioned cache outside the
# checkout. Prints the directory that holds node_modules/@portkey-ai/gateway.
# Installs only what is missing; concurrent callers wait on a lock.
set -euo pipefail

PORTKEY_GATEWAY_VERSION="${PORTKEY_GATEWAY_VERSION:-1.15.2}"
CACHE_ROOT="${TENANTWARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tenantward}"
DIR="${CACHE_ROOT}/portkey-gateway/${PORTKEY_GATEWAY_VERSION}"
ENTRY="node_modules/@portkey-ai/gateway/build/start-server.js"

log() { echo "[portkey-gateway] $*" >&2; }

have() { command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" ]]; }

mkdir -p "$DIR"
exec 9>"$DIR/.lock"
flock 9

missing=()
have nginx || missing+=(nginx)
have node || missing+=(nodejs)
# npm ships with nodesource's nodejs; Debian packages it separately.
have npm || missing+=(npm)
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    log "missing ${missing[*]}: run as root, or: sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  log "installing ${missing[*]} from Debian's packages..."
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  log "installed ${missing[*]}"
fi

if [[ ! -f "$DIR/$ENTRY" ]]; then
  log "installing @portkey-ai/gateway@${PORTKEY_GATEWAY_VERSION} from the npm registry into $DIR (under a minute)..."
  rm -rf "$DIR/node_modules" "$DIR/package.json" "$DIR/package-lock.json"
  (cd "$DIR" && npm install --no-audit --no-fund --loglevel=error \
    "@portkey-ai/gateway@${PORTKEY_GATEWAY_VERSION}" >&2)
  [[ -f "$DIR/$ENTRY" ]] || { log "npm finished but $ENTRY is missing"; exit 1; }
  log "gateway ready"
fi

echo "$DIR"
