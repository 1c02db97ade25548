package packaging

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

var (
	imageBinaryOnce sync.Once
	imageBinaries   map[string]string
	imageBinaryErr  string
)

// The image's binaries, as the Dockerfile builds them into /out and copies
// them to /.
const (
	operatorBinary = "tenantward"
	verifierBinary = "tenantward-verifier"
)

// binaryFromImageContext does what the Dockerfile's build stage does, without
// a Docker engine: it copies only the paths the Dockerfile COPYs into an empty
// directory and builds each of its `go build` steps there with their flags,
// so a build context that misses a file a binary needs fails here. It
// returns the binary name built, once and shared by the tests that run them.
func binaryFromImageContext(t *testing.T, name string) string {
	t.Helper()
	imageBinaryOnce.Do(func() { imageBinaries, imageBinaryErr = buildFromImageContext() })
	if imageBinaryErr != "" {
		t.Fatal(imageBinaryErr)
	}
	bin, ok := imageBinaries[name]
	if !ok {
		t.Fatalf("the Dockerfile builds no /out/%s", name)
	}
	return bin
}

func buildFromImageContext() (map[string]string, string) {
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		return nil, err.Error()
	}
	dockerfile := string(raw)
	builds := regexp.MustCompile(`(?m)go build (.*) -o /out/(\S+) (\S+)$`).FindAllStringSubmatch(dockerfile, -1)
	if builds == nil {
		return nil, "the Dockerfile has no `go build ... -o /out/NAME PACKAGE` step"
	}
	context := filepath.Join(workDir, "image-context")
	if err := os.Mkdir(context, 0o700); err != nil {
		return nil, err.Error()
	}
	for _, m := range regexp.MustCompile(`(?m)^COPY ([^-\n][^\n]*) \S+$`).FindAllStringSubmatch(dockerfile, -1) {
		for _, src := range strings.Fields(m[1]) {
			cp := exec.Command("cp", "-r", "--parents", strings.TrimSuffix(src, "/"), context)
			cp.Dir = root
			if out, err := cp.CombinedOutput(); err != nil {
				return nil, "copying " + src + " into the build context: " + err.Error() + "\n" + string(out)
			}
		}
	}
	bins := map[string]string{}
	for _, build := range builds {
		// Split the flags as the shell would: -ldflags "-s -w -buildid=" is one argument.
		var flags []string
		for _, m := range regexp.MustCompile(`"[^"]*"|\S+`).FindAllString(build[1], -1) {
			flags = append(flags, strings.Trim(m, `"`))
		}
		bin := filepath.Join(workDir, build[2])
		cmd := exec.Command("go", append(append([]string{"build"}, flags...), "-o", bin, build[3])...)
		cmd.Dir = context
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, "go build of " + build[2] + " in the Dockerfile's build context: " + err.Error() + "\n" + string(out)
		}
		bins[build[2]] = bin
	}
	return bins, ""
}

// TestImage checks the Dockerfile: the build stage's context is complete (the
// binaries build from only what it COPYs) and the runtime stage is distroless,
// non-root, ships both binaries and runs the operator's.
func TestImage(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FROM gcr.io/distroless/static", "USER 65532:65532", `ENTRYPOINT ["/tenantward"]`, "CGO_ENABLED=0", "-trimpath",
		"COPY --from=build /out/tenantward /out/tenantward-verifier /"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	out, _ := exec.Command(binaryFromImageContext(t, operatorBinary), "manager", "-h").CombinedOutput()
	if !strings.Contains(string(out), "Usage of manager") {
		t.Errorf("the image's operator binary does not run: %s", out)
	}
	out, _ = exec.Command(binaryFromImageContext(t, verifierBinary), "-h").CombinedOutput()
	if !strings.Contains(string(out), "Usage of tenantward-verifier") {
		t.Errorf("the image's verifier binary does not run: %s", out)
	}
}
