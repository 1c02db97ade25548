// Package redistest starts a real redis-server (Debian's redis-server
// package, which .ci/run installs) for the tests of the Redis rate-limit
// store.
package redistest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/tenantward/tenantward/internal/testenv"
)

// Server is a redis-server the test started.
type Server struct {
	// Addr is its host:port.
	Addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs redis-server on a free loopback port, without persistence, until
// the test ends. Without redis-server the test fails on CI (CI=true) and
// skips elsewhere, saying how to install it.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if _, serr := os.Stat("/usr/bin/redis-server"); serr == nil {
			bin, err = "/usr/bin/redis-server", nil
		}
	}
	if err != nil {
		msg := "redis-server is not installed (apt-get install -y redis-server; .ci/run installs it on CI)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		fmt.Fprintf(os.Stderr, "\n*** SKIPPING %s: %s\n\n", t.Name(), msg)
		t.Skip(msg)
	}
	port := testenv.FreePort(t)
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), done: make(chan struct{})}
	s.cmd = exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir()) //nolint:gosec // the distribution's redis-server
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.Stop)
	err = wait.PollUntilContextTimeout(context.Background(), testenv.PollInterval, testenv.PollTimeout, true, func(context.Context) (bool, error) {
		return ping(s.Addr) == nil, nil
	})
	if err != nil {
		t.Fatalf("redis-server on %s does not answer PING: %v", s.Addr, errors.Join(err, ping(s.Addr)))
	}
	return s
}

// Stop ends the server (an outage) and waits for it to exit.
func (s *Server) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	b := make([]byte, 7)
	if _, err := io.ReadFull(c, b); err != nil {
		return err
	}
	if string(b) != "+PONG\r\n" {
		return fmt.Errorf("answered %q", b)
	}
	return nil
}
