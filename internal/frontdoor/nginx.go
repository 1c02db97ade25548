// Package frontdoor runs the front door a platform team puts before an AI
// gateway: a real nginx whose auth_request asks the tenantward verifier, in
// front of the open-source Portkey AI gateway (Node, installed from the npm
// registry by hack/portkey-gateway.sh), and an OpenAI-compatible stub upstream.
// The gateway tests and `tenantward local --gateway` both start it from here,
// so docs/gateways.md shows the configuration they run.
package frontdoor

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"text/template"
)

// NginxConfig is what the nginx configuration is rendered from.
type NginxConfig struct {
	// Dir holds nginx's pid file and temporary files.
	Dir string
	// Listen is nginx's host:port.
	Listen string
	// Verifier is the verifier's HTTP host:port.
	Verifier string
	// MoreVerifiers are further verifier replicas (host:port): nginx sends
	// each key to one replica, so that in-memory rate limits hold.
	MoreVerifiers []string
	// Upstream is the host:port nginx proxies allowed requests to (the gateway).
	Upstream string
}

// nginxTemplate is the configuration the tests and local mode run, and the one
// docs/gateways.md shows (TestDocShowsNginxConfig keeps them the same).
var nginxTemplate = template.Must(template.New("nginx.conf").Parse(`worker_processes 1;
daemon off;
pid {{.Dir}}/nginx.pid;
error_log stderr;
events { worker_connections 256; }
http {
  # $http_* variables are not logged: the access log never holds a key.
  log_format tenantward '$remote_addr "$request_method $uri" $status $body_bytes_sent $request_time';
  access_log /dev/stdout tenantward;
  client_body_temp_path {{.Dir}}/body;
  proxy_temp_path {{.Dir}}/proxy;
  fastcgi_temp_path {{.Dir}}/fastcgi;
  uwsgi_temp_path {{.Dir}}/uwsgi;
  scgi_temp_path {{.Dir}}/scgi;
  # The key as the verifier reads it (x-portkey-api-key, else the bearer
  # token; spaces and the scheme's case do not count), hashed to pick one
  # verifier replica per key, so that in-memory rate limits hold across replicas.
  map $http_authorization $tenantward_bearer { "~*^bearer\s+(\S+)\s*$" $1; default ""; }
  map $http_x_portkey_api_key $tenantward_key { "~^\s*(\S+)\s*$" $1; default $tenantward_bearer; }
  upstream tenantward_verifier {
    hash $tenantward_key consistent;
    server {{.Verifier}};{{range .MoreVerifiers}}
    server {{.}};{{end}}
    keepalive 16;
  }
  upstream ai_gateway { server {{.Upstream}}; keepalive 16; }
  server {
    listen {{.Listen}};
    location = /_tenantward_auth {
      internal;
      # A key over its rate limit is answered 403 (auth_request passes 401
      # and 403 alone), which @tenantward_refused turns back into the 429.
      proxy_pass http://tenantward_verifier/v1/auth?rate-limited-status=403;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # The verifier needs the headers only.
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URI $request_uri;
      proxy_connect_timeout 1s;
      proxy_read_timeout 2s;
    }
    location / {
      # 2xx passes; 401 and 403 are returned (a rate-limited 403 as 429);
      # anything else is a 500 (fail closed).
      auth_request /_tenantward_auth;
      auth_request_set $tw_result $upstream_http_x_tenantward_result;
      auth_request_set $tw_retry_after $upstream_http_retry_after;
      auth_request_set $tw_ratelimit $upstream_http_ratelimit;
      auth_request_set $tw_ratelimit_policy $upstream_http_ratelimit_policy;
      error_page 403 = @tenantward_refused;
      # The key's rate-limit state, on the answers of a key with limits.
      add_header RateLimit $tw_ratelimit always;
      add_header RateLimit-Policy $tw_ratelimit_policy always;
      auth_request_set $tw_org $upstream_http_x_tenantward_organization;
      auth_request_set $tw_ws $upstream_http_x_tenantward_workspace;
      auth_request_set $tw_key $upstream_http_x_tenantward_key;
      # These overwrite whatever the client sent under the same names.
      proxy_set_header X-Tenantward-Organization $tw_org;
      proxy_set_header X-Tenantward-Workspace $tw_ws;
      proxy_set_header X-Tenantward-Key $tw_key;
      # The gateway needs the identity, not the tenantward key.
      proxy_set_header X-Portkey-Api-Key "";
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 300s;
      proxy_pass http://ai_gateway;
    }
    location @tenantward_refused {
      if ($tw_result = RATE_LIMITED) {
        add_header X-Tenantward-Result RATE_LIMITED always;
        add_header Retry-After $tw_retry_after always;
        add_header RateLimit $tw_ratelimit always;
        add_header RateLimit-Policy $tw_ratelimit_policy always;
        return 429 "the key is over its rate limit\n";
      }
      add_header X-Tenantward-Result $tw_result always;
      return 403;
    }
  }
}
`))

// Render returns the nginx configuration.
func (c NginxConfig) Render() string {
	var b bytes.Buffer
	if err := nginxTemplate.Execute(&b, c); err != nil {
		panic(err) // the template and its fields are fixed: a failure is a bug here
	}
	return b.String()
}

// FindNginx returns the nginx binary: on PATH or where Debian installs it.
func FindNginx() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", errors.New("nginx is not installed (apt-get install -y nginx, or run hack/portkey-gateway.sh as root)")
}

// StartNginx writes c's configuration into c.Dir and runs nginx in the
// foreground until Stop; it returns once nginx listens.
func StartNginx(bin string, c NginxConfig) (*Process, error) {
	return StartNginxConfig(bin, c, c.Render())
}

// StartNginxConfig runs nginx like StartNginx with the configuration text,
// which must use c's directory and address (hack/gateway-latency runs a
// variant without auth_request).
func StartNginxConfig(bin string, c NginxConfig, text string) (*Process, error) {
	conf := filepath.Join(c.Dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-p", c.Dir, "-c", conf, "-e", "stderr") //nolint:gosec // the caller's nginx with our configuration
	// SIGQUIT is nginx's graceful shutdown: the master stops its workers, then exits.
	return start("nginx", cmd, c.Listen, syscall.SIGQUIT, filepath.Join(c.Dir, "nginx.log"))
}
