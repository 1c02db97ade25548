// Command krew builds the release archives of the kubectl plugin
// (cmd/kubectl-tenantward) for every platform of its krew manifest
// (plugins/tenantward.yaml) and writes the manifest beside them with the
// release version, the archives' URIs and their sha256: the copy to attach to
// the release and submit to krew-index.
//
//	go run ./hack/krew -version v0.1.0 [-out dist/krew] [-platforms linux/amd64,...]
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// The plugin's package, its binary name (kubectl finds `kubectl tenantward`
// as kubectl-tenantward on the PATH) and where its releases are published.
const (
	pluginPackage = "github.com/tenantward/tenantward/cmd/kubectl-tenantward"
	binary        = "kubectl-tenantward"
	releases      = "https://github.com/tenantward/tenantward/releases/download"
)

// Manifest is what this tool reads and writes of a krew Plugin manifest
// (krew.googlecontainertools.github.com/v1alpha2).
type Manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string     `json:"version"`
		Homepage         string     `json:"homepage"`
		ShortDescription string     `json:"shortDescription"`
		Description      string     `json:"description"`
		Caveats          string     `json:"caveats,omitempty"`
		Platforms        []Platform `json:"platforms"`
	} `json:"spec"`
}

// Platform is one archive of the plugin.
type Platform struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	URI    string `json:"uri"`
	SHA256 string `json:"sha256"`
	Bin    string `json:"bin"`
	Files  []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"files"`
}

// OS and Arch are the platform's GOOS and GOARCH.
func (p Platform) OS() string   { return p.Selector.MatchLabels["os"] }
func (p Platform) Arch() string { return p.Selector.MatchLabels["arch"] }

// Archive is the name of the platform's release archive.
func (p Platform) Archive() string { return binary + "_" + p.OS() + "_" + p.Arch() + ".tar.gz" }

// ReadManifest reads a krew manifest strictly (an unknown field is an error).
func ReadManifest(path string) (*Manifest, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := &Manifest{}
	if err := yaml.UnmarshalStrict(raw, m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

func main() {
	manifest := flag.String("manifest", "plugins/tenantward.yaml", "the plugin's krew manifest")
	version := flag.String("version", "", "release version, vMAJOR.MINOR.PATCH")
	out := flag.String("out", "dist/krew", "where the archives and the written manifest go")
	platforms := flag.String("platforms", "", "comma-separated os/arch to build (default: every platform of the manifest)")
	flag.Parse()
	if err := run(*manifest, *version, *out, *platforms); err != nil {
		fmt.Fprintln(os.Stderr, "krew:", err)
		os.Exit(1)
	}
}

func run(manifest, version, out, only string) error {
	if !strings.HasPrefix(version, "v") || strings.Count(version, ".") != 2 {
		return fmt.Errorf("-version %q: want vMAJOR.MINOR.PATCH", version)
	}
	m, err := ReadManifest(manifest)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	m.Spec.Version = version
	var kept []Platform
	for _, p := range m.Spec.Platforms {
		if only != "" && !slices.Contains(strings.Split(only, ","), p.OS()+"/"+p.Arch()) {
			continue
		}
		sum, err := buildArchive(p, filepath.Join(out, p.Archive()))
		if err != nil {
			return fmt.Errorf("%s/%s: %w", p.OS(), p.Arch(), err)
		}
		p.URI = releases + "/" + version + "/" + p.Archive()
		p.SHA256 = sum
		kept = append(kept, p)
	}
	if len(kept) == 0 {
		return fmt.Errorf("no platform of %s matches -platforms %q", manifest, only)
	}
	m.Spec.Platforms = kept
	raw, err := yaml.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, m.Metadata.Name+".yaml"), raw, 0o644)
}

// buildArchive cross-compiles the plugin for p into a gzipped tar holding its
// bin, and returns the archive's sha256.
func buildArchive(p Platform, archive string) (string, error) {
	dir, err := os.MkdirTemp("", "krew-")
	if err != nil {
		return "", err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	bin := filepath.Join(dir, p.Bin)
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, pluginPackage) //nolint:gosec // the plugin's own package
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+p.OS(), "GOARCH="+p.Arch())
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: p.Bin, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return "", err
	}
	if _, err := tw.Write(data); err != nil {
		return "", err
	}
	if err := errors.Join(tw.Close(), gz.Close()); err != nil {
		return "", err
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:]), os.WriteFile(archive, buf.Bytes(), 0o644)
}
