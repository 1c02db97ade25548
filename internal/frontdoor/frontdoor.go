package frontdoor

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
)

// Options say where the front door's parts listen.
type Options struct {
	// Dir holds nginx's configuration and temporary files, and the logs of
	// nginx (nginx.log) and the gateway (gateway.log).
	Dir string
	// Listen is nginx's host:port, the front door's address.
	Listen string
	// Verifier is the verifier's HTTP host:port.
	Verifier string
	// GatewayPort is the Portkey gateway's port (it listens on every interface).
	GatewayPort int
	// StubAddr is the stub upstream's host:port (port 0 picks one).
	StubAddr string
	// Nginx is the nginx binary and PortkeyDir the gateway's install
	// directory, as Prepare returns them.
	Nginx, PortkeyDir string
}

// FrontDoor is nginx with auth_request to the verifier, in front of the
// Portkey gateway, with a stub upstream for the gateway to call.
type FrontDoor struct {
	// URL is nginx's base URL, where clients send their requests.
	URL     string
	Nginx   NginxConfig
	Stub    *Stub
	Gateway *Process
	nginx   *Process
}

// Prepare installs what is missing (see InstallPortkey) and returns the nginx
// binary and the gateway's install directory.
func Prepare() (nginx, portkeyDir string, err error) {
	if portkeyDir, err = InstallPortkey(); err != nil {
		return "", "", err
	}
	nginx, err = FindNginx()
	return nginx, portkeyDir, err
}

// Start starts the stub, the gateway and nginx, in that order.
func Start(o Options) (*FrontDoor, error) {
	f := &FrontDoor{URL: "http://" + o.Listen}
	if err := f.start(o); err != nil {
		f.Stop()
		return nil, err
	}
	return f, nil
}

func (f *FrontDoor) start(o Options) (err error) {
	if f.Stub, err = StartStub(o.StubAddr); err != nil {
		return fmt.Errorf("starting the stub upstream: %w", err)
	}
	if f.Gateway, err = StartPortkey(o.PortkeyDir, o.GatewayPort, filepath.Join(o.Dir, "gateway.log")); err != nil {
		return err
	}
	f.Nginx = NginxConfig{Dir: o.Dir, Listen: o.Listen, Verifier: o.Verifier, Upstream: net.JoinHostPort("127.0.0.1", strconv.Itoa(o.GatewayPort))}
	f.nginx, err = StartNginx(o.Nginx, f.Nginx)
	return err
}

// Stop stops nginx, the gateway and the stub.
func (f *FrontDoor) Stop() {
	if f.nginx != nil {
		f.nginx.Stop()
	}
	if f.Gateway != nil {
		f.Gateway.Stop()
	}
	if f.Stub != nil {
		f.Stub.Close()
	}
}

// Logs returns what nginx, the gateway and the stub upstream have logged,
// by name, for tests that check what must never be logged.
func (f *FrontDoor) Logs() map[string]string {
	return map[string]string{"nginx": f.nginx.Output(), "the gateway": f.Gateway.Output(), "the upstream": f.Stub.Log()}
}
