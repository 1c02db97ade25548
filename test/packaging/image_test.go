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
	imageBinary     string
	imageBinaryErr  string
)

// binaryFromImageContext does what the Dockerfile's build stage does, without
// a Docker engine: it copies only the paths the Dockerfile COPYs into an empty
// directory and builds there with the Dockerfile's flags, so a build context
// that misses a file the binary needs fails here. The binary is built once and
// shared by the tests that run it.
func binaryFromImageContext(t *testing.T) string {
	t.Helper()
	imageBinaryOnce.Do(func() { imageBinary, imageBinaryErr = buildFromImageContext() })
	if imageBinaryErr != "" {
		t.Fatal(imageBinaryErr)
	}
	return imageBinary
}

func buildFromImageContext() (string, string) {
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		return "", err.Error()
	}
	dockerfile := string(raw)
	build := regexp.MustCompile(`(?m)go build (.*) -o /out/tenantward \.$`).FindStringSubmatch(dockerfile)
	if build == nil {
		return "", "the Dockerfile has no `go build ... -o /out/tenantward .` step"
	}
	// Split the flags as the shell would: -ldflags "-s -w -buildid=" is one argument.
	var flags []string
	for _, m := range regexp.MustCompile(`"[^"]*"|\S+`).FindAllString(build[1], -1) {
		flags = append(flags, strings.Trim(m, `"`))
	}
	context := filepath.Join(workDir, "image-context")
	if err := os.Mkdir(context, 0o700); err != nil {
		return "", err.Error()
	}
	for _, m := range regexp.MustCompile(`(?m)^COPY ([^-\n][^\n]*) \S+$`).FindAllStringSubmatch(dockerfile, -1) {
		for _, src := range strings.Fields(m[1]) {
			cp := exec.Command("cp", "-r", "--parents", strings.TrimSuffix(src, "/"), context)
			cp.Dir = root
			if out, err := cp.CombinedOutput(); err != nil {
				return "", "copying " + src + " into the build context: " + err.Error() + "\n" + string(out)
			}
		}
	}
	bin := filepath.Join(workDir, "tenantward")
	cmd := exec.Command("go", append(append([]string{"build"}, flags...), "-o", bin, ".")...)
	cmd.Dir = context
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "go build in the Dockerfile's build context: " + err.Error() + "\n" + string(out)
	}
	return bin, ""
}

// TestImage checks the Dockerfile: the build stage's context is complete (the
// binary builds from only what it COPYs) and the runtime stage is distroless,
// non-root and runs the binary.
func TestImage(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FROM gcr.io/distroless/static", "USER 65532:65532", `ENTRYPOINT ["/tenantward"]`, "CGO_ENABLED=0", "-trimpath"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	out, _ := exec.Command(binaryFromImageContext(t), "manager", "-h").CombinedOutput()
	if !strings.Contains(string(out), "Usage of manager") {
		t.Errorf("the image's binary does not run: %s", out)
	}
}
