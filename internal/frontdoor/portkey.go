package frontdoor

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/tenantward/tenantward/internal/controlplane"
)

// PortkeyVersion is the @portkey-ai/gateway release the tests and local mode run.
const PortkeyVersion = "1.15.2"

// portkeyEntry is the gateway's Node entry point inside its install directory.
const portkeyEntry = "node_modules/@portkey-ai/gateway/build/start-server.js"

// InstallPortkey runs hack/portkey-gateway.sh of the checkout this process
// runs in: it installs nginx, Node.js and npm when missing (as root) and the
// gateway at PortkeyVersion into a cache outside the checkout, printing its
// progress to stderr. It returns the gateway's install directory.
func InstallPortkey() (string, error) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("bash", filepath.Join(root, "hack", "portkey-gateway.sh")) //nolint:gosec // runs the checkout's own install script
	cmd.Env = append(os.Environ(), "PORTKEY_GATEWAY_VERSION="+PortkeyVersion)
	cmd.Stderr = os.Stderr
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("installing the Portkey gateway with hack/portkey-gateway.sh: %w", err)
	}
	return strings.TrimSpace(out.String()), nil
}

// StartPortkey runs the gateway installed in dir with Node, headless (no UI
// and no /log/stream, which would show every request), listening on port on
// every interface (the gateway has no flag to choose the address), appending
// its output to logFile, and returns once it accepts connections.
func StartPortkey(dir string, port int, logFile string) (*Process, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("node is not installed (apt-get install -y nodejs, or run hack/portkey-gateway.sh as root): %w", err)
	}
	cmd := exec.Command(node, filepath.Join(dir, portkeyEntry), fmt.Sprintf("--port=%d", port), "--headless") //nolint:gosec // the pinned gateway from the cache
	return start("the Portkey gateway", cmd, net.JoinHostPort("127.0.0.1", fmt.Sprint(port)), syscall.SIGTERM, logFile)
}
