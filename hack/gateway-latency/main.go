// Command gateway-latency measures what the auth hop adds in front of the real
// Portkey AI gateway: the same chat completion sent through nginx with
// auth_request to the verifier (the front door's configuration,
// internal/frontdoor) and through the same nginx configuration without
// auth_request, interleaved request by request in one run (each round
// starting on another path), both before one gateway and one stub provider;
// the gateway called directly is the reference. It prints the median and p99
// of each and the difference.
//
// The verifier serves an in-memory index holding one key (its HTTP handler is
// the one tenantward-verifier serves). nginx and the gateway come from
// hack/portkey-gateway.sh.
//
//	go run ./hack/gateway-latency -n 2000
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	accessv1alpha1 "github.com/tenantward/tenantward/api/v1alpha1"
	"github.com/tenantward/tenantward/internal/apikey"
	"github.com/tenantward/tenantward/internal/frontdoor"
	"github.com/tenantward/tenantward/internal/verifier"
)

func main() {
	n := flag.Int("n", 2000, "requests timed on each path")
	warmup := flag.Int("warmup", 200, "untimed requests on each path first")
	flag.Parse()
	if err := run(*n, *warmup); err != nil {
		fmt.Fprintln(os.Stderr, "gateway-latency:", err)
		os.Exit(1)
	}
}

func run(n, warmup int) error {
	nginx, portkeyDir, err := frontdoor.Prepare()
	if err != nil {
		return err
	}
	key, err := apikey.Generate(apikey.KindWorkspace)
	if err != nil {
		return err
	}
	ix := verifier.NewIndex()
	ix.Set(&accessv1alpha1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Namespace: "acme--research", Name: "latency"},
		Spec:       accessv1alpha1.APIKeySpec{Permissions: accessv1alpha1.APIKeyPermissions{Completions: accessv1alpha1.ToggleEnabled}},
		Status:     accessv1alpha1.APIKeyStatus{Hash: apikey.Sum(key).String(), Type: accessv1alpha1.KeyTypeWorkspace, Organization: "acme", Workspace: "research"},
	})
	rt, err := verifier.RouteMap{}.Compile()
	if err != nil {
		return err
	}
	vln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() {
		_ = (&http.Server{Handler: verifier.NewHandler(&verifier.Authorizer{Index: ix, Router: rt}), ReadHeaderTimeout: 10 * time.Second}).Serve(vln)
	}()

	dir, err := os.MkdirTemp("", "gateway-latency-")
	if err != nil {
		return err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	withAuth := filepath.Join(dir, "auth")
	withoutAuth := filepath.Join(dir, "plain")
	for _, d := range []string{withAuth, withoutAuth} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
	}
	fd, err := frontdoor.Start(frontdoor.Options{
		Dir: withAuth, Listen: "127.0.0.1:" + strconv.Itoa(ports[0]), Verifier: vln.Addr().String(),
		GatewayPort: ports[1], StubAddr: "127.0.0.1:0", Nginx: nginx, PortkeyDir: portkeyDir,
	})
	if err != nil {
		return err
	}
	defer fd.Stop()
	// The same configuration, without the auth hop.
	plainConf := fd.Nginx
	plainConf.Dir, plainConf.Listen = withoutAuth, "127.0.0.1:"+strconv.Itoa(ports[2])
	plain, err := startWithoutAuth(nginx, plainConf)
	if err != nil {
		return err
	}
	defer plain.Stop()

	paths := []struct{ name, base string }{
		{"gateway directly", "http://" + fd.Nginx.Upstream},
		{"nginx, no auth_request", "http://" + plainConf.Listen},
		{"nginx + auth_request", fd.URL},
	}
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 30 * time.Second}
	samples := make([][]time.Duration, len(paths))
	for i := range warmup + n {
		// Each round starts on another path, so none always follows another.
		for k := range paths {
			j := (i + k) % len(paths)
			p := paths[j]
			d, err := chat(c, p.base, key, fd.Stub.URL)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			if i >= warmup {
				samples[j] = append(samples[j], d)
			}
		}
	}
	fmt.Printf("POST /v1/chat/completions, Portkey gateway %s, %d sequential requests per path, interleaved (after %d warm-up)\n", frontdoor.PortkeyVersion, n, warmup)
	fmt.Printf("%-24s %10s %10s\n", "path", "median", "p99")
	for j, p := range paths {
		fmt.Printf("%-24s %10s %10s\n", p.name, pct(samples[j], 50), pct(samples[j], 99))
	}
	fmt.Printf("%-24s %10s %10s\n", "added by the auth hop", pct(samples[2], 50)-pct(samples[1], 50), pct(samples[2], 99)-pct(samples[1], 99))
	return nil
}

// startWithoutAuth runs nginx with the front door's configuration minus its
// auth_request line.
func startWithoutAuth(nginx string, c frontdoor.NginxConfig) (*frontdoor.Process, error) {
	conf := c.Render()
	const line = "      auth_request /_tenantward_auth;\n"
	if !strings.Contains(conf, line) {
		return nil, errors.New("the front door's nginx configuration has no auth_request line to remove")
	}
	return frontdoor.StartNginxConfig(nginx, c, strings.Replace(conf, line, "", 1))
}

func chat(c *http.Client, base, key, stub string) (time.Duration, error) {
	req, err := http.NewRequest("POST", base+"/v1/chat/completions", strings.NewReader(`{"model":"stub","messages":[{"role":"user","content":"Hello"}]}`))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-portkey-api-key", key)
	req.Header.Set("x-portkey-provider", "openai")
	req.Header.Set("x-portkey-custom-host", stub)
	req.Header.Set("Authorization", "Bearer sk-latency-stub")
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	d := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	return d, nil
}

func pct(s []time.Duration, p int) time.Duration {
	s = slices.Clone(s)
	slices.Sort(s)
	return s[(len(s)-1)*p/100].Round(time.Microsecond)
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer func() { _ = ln.Close() }()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
