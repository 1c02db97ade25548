package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

var (
	manifestPath = filepath.Join("..", "..", "plugins", "tenantward.yaml")
	hexSHA256    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// TestManifestIsKrewsFormat reads plugins/tenantward.yaml strictly as a krew
// Plugin and checks it installs the binary built from cmd/kubectl-tenantward:
// the plugin's name is the binary's without kubectl- (kubectl runs
// `kubectl tenantward` as kubectl-tenantward), every platform names that bin
// (with .exe on Windows), ships it, and points at its own release archive.
func TestManifestIsKrewsFormat(t *testing.T) {
	m, err := ReadManifest(manifestPath)
	if err != nil {
		t.Fatal(err)
	}
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" {
		t.Errorf("apiVersion %q kind %q: want krew.googlecontainertools.github.com/v1alpha2 Plugin", m.APIVersion, m.Kind)
	}
	if main, err := os.ReadFile(filepath.Join("..", "..", "cmd", binary, "main.go")); err != nil || !strings.Contains(string(main), "package main") {
		t.Fatalf("cmd/%s is not the plugin's main package: %v", binary, err)
	}
	if want := strings.TrimPrefix(binary, "kubectl-"); m.Metadata.Name != want {
		t.Errorf("metadata.name %q: kubectl runs `kubectl %s` as %s", m.Metadata.Name, want, binary)
	}
	s := m.Spec
	if s.ShortDescription == "" || len(s.ShortDescription) > 60 || strings.Contains(s.ShortDescription, "\n") {
		t.Errorf("shortDescription %q: want one short line", s.ShortDescription)
	}
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(s.Version) || s.Homepage == "" || s.Description == "" {
		t.Errorf("version %q, homepage %q, description %q: want a vX.Y.Z version, a homepage and a description", s.Version, s.Homepage, s.Description)
	}
	seen := map[string]bool{}
	for _, p := range s.Platforms {
		name := p.OS() + "/" + p.Arch()
		if p.OS() == "" || p.Arch() == "" || seen[name] || len(p.Selector.MatchLabels) != 2 {
			t.Errorf("platform %v: want one os and one arch, each pair once", p.Selector.MatchLabels)
		}
		seen[name] = true
		bin := binary
		if p.OS() == "windows" {
			bin += ".exe"
		}
		if p.Bin != bin || len(p.Files) != 1 || p.Files[0].From != bin || p.Files[0].To != "." {
			t.Errorf("%s: bin %q, files %+v; want bin %s, shipped from the archive", name, p.Bin, p.Files, bin)
		}
		if want := releases + "/" + s.Version + "/" + p.Archive(); p.URI != want {
			t.Errorf("%s: uri %q, want %q", name, p.URI, want)
		}
		if !hexSHA256.MatchString(p.SHA256) {
			t.Errorf("%s: sha256 %q is not 64 hex digits", name, p.SHA256)
		}
	}
	for _, want := range []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"} {
		if !seen[want] {
			t.Errorf("no platform %s", want)
		}
	}
}

// TestReleaseWritesTheManifest builds this machine's archive as a release
// does and checks the written manifest: the new version in the URI, the
// archive's own sha256, and the plugin inside runs.
func TestReleaseWritesTheManifest(t *testing.T) {
	out := t.TempDir()
	platform := runtime.GOOS + "/" + runtime.GOARCH
	if err := run(manifestPath, "v9.8.7", out, platform); err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(filepath.Join(out, "tenantward.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Spec.Platforms) != 1 || m.Spec.Version != "v9.8.7" {
		t.Fatalf("written manifest: version %s, %d platforms; want v9.8.7 and only %s", m.Spec.Version, len(m.Spec.Platforms), platform)
	}
	p := m.Spec.Platforms[0]
	archive := filepath.Join(out, p.Archive())
	raw, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(raw); p.SHA256 != hex.EncodeToString(sum[:]) || !strings.Contains(p.URI, "/v9.8.7/") {
		t.Errorf("written platform %+v does not match archive %s", p, archive)
	}
	bin, err := fileInArchive(archive, p.Bin)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), p.Bin)
	if err := os.WriteFile(path, bin, 0o755); err != nil { //nolint:gosec // an executable
		t.Fatal(err)
	}
	out2, err := runBinary(path)
	if err == nil || !strings.Contains(out2, "whoami") {
		t.Errorf("%s without a command should fail with its usage, got %v:\n%s", p.Bin, err, out2)
	}
}

// fileInArchive returns the named file's content from a gzipped tar.
func fileInArchive(archive, name string) ([]byte, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("%s has no %s: %w", archive, name, err)
		}
		if h.Name == name {
			return io.ReadAll(tr)
		}
	}
}

func runBinary(path string) (string, error) {
	out, err := exec.Command(path).CombinedOutput() //nolint:gosec // the binary just built
	return string(out), err
}
