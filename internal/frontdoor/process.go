package frontdoor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/tenantward/tenantward/internal/syncbuf"
)

// StartTimeout bounds how long a process may take to listen (Node on a loaded
// 2-core machine takes a few seconds).
const StartTimeout = 60 * time.Second

// Process is a running nginx or gateway whose output (its logs) is captured.
type Process struct {
	cmd    *exec.Cmd
	stop   os.Signal
	out    syncbuf.Buffer
	exited chan struct{}
}

// start runs cmd, capturing its output (also appended to logFile), and waits
// until addr accepts connections; stop is the signal that shuts the process
// down gracefully.
func start(name string, cmd *exec.Cmd, addr string, stop os.Signal, logFile string) (*Process, error) {
	p := &Process{cmd: cmd, stop: stop, exited: make(chan struct{})}
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600) //nolint:gosec // the caller's log path
	if err != nil {
		return nil, err
	}
	w := io.MultiWriter(&p.out, f)
	cmd.Stdout, cmd.Stderr = w, w
	// Children (nginx's workers) inherit the output pipe: give them time to exit after the parent.
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() { _ = cmd.Wait(); _ = f.Close(); close(p.exited) }()
	err = wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, StartTimeout, true, func(context.Context) (bool, error) {
		select {
		case <-p.exited:
			return false, errors.New("it exited")
		default:
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			return true, c.Close()
		}
		return false, nil // not listening yet
	})
	if err != nil {
		_ = cmd.Process.Kill()
		<-p.exited
		return nil, fmt.Errorf("%s did not listen on %s: %w; its output: %s", name, addr, err, p.out.String())
	}
	return p, nil
}

// Stop shuts the process down and waits for it.
func (p *Process) Stop() {
	_ = p.cmd.Process.Signal(p.stop)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// Output returns what the process printed so far.
func (p *Process) Output() string { return p.out.String() }
