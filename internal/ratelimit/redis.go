package ratelimit

import (
	"crypto/sha1" //nolint:gosec // Redis names a script by its SHA-1; nothing secret is hashed
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// script applies Decide's rule to the windows of one key atomically on the
// Redis server, with the server's clock, so that every verifier replica
// shares one exact state. KEYS are the key's windows; ARGV holds each
// window's interval and capacity (nanoseconds). A window's value is
// "<debt ns> <unix µs when written>" and expires when the window is full
// again. Every number stays below 2^53, so Lua's doubles hold them exactly.
// It returns {allowed (1 or 0), the debt of each window before the call}.
const script = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local debts, ok = {}, 1
for i = 1, #KEYS do
  local debt = 0
  local v = redis.call('GET', KEYS[i])
  if v then
    local d, at = string.match(v, '^(%d+) (%d+)$')
    if d then debt = math.max(0, tonumber(d) - math.max(0, now - tonumber(at)) * 1000) end
  end
  debts[i] = debt
  if debt + tonumber(ARGV[2*i-1]) > tonumber(ARGV[2*i]) then ok = 0 end
end
if ok == 1 then
  for i = 1, #KEYS do
    local after = debts[i] + tonumber(ARGV[2*i-1])
    redis.call('SET', KEYS[i], string.format('%.0f %.0f', after, now), 'PX', math.ceil(after / 1000000))
  end
end
local out = {ok}
for i = 1, #KEYS do out[i+1] = debts[i] end
return out`

var scriptSHA = func() string { s := sha1.Sum([]byte(script)); return hex.EncodeToString(s[:]) }() //nolint:gosec // see the import

// RedisTimeout bounds one call to Redis, connection included.
const RedisTimeout = 100 * time.Millisecond

// maxIdle is how many idle connections to Redis are kept.
const maxIdle = 64

// Redis keeps the windows' state in a Redis server shared by every verifier
// replica: one script call (one round trip) per decision, exact across
// replicas. Its keys are tenantward:ratelimit:{<namespace>/<name>}:<requests>/<period ns>
// (one hash slot per APIKey) and expire when their window is full again.
type Redis struct {
	addr, user, password string
	db                   int
	idle                 chan *redisConn
}

// NewRedis returns a limiter on the server at rawURL,
// redis://[[user]:password@]host:port[/db]. It does not connect yet.
func NewRedis(rawURL string) (*Redis, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "redis" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		// The URL may hold a password: never quote it.
		return nil, errors.New("the rate-limit store must be memory or redis://[[user]:password@]host:port[/db] (TLS is not supported)")
	}
	r := &Redis{addr: u.Host, idle: make(chan *redisConn, maxIdle)}
	if u.Port() == "" {
		r.addr = net.JoinHostPort(u.Hostname(), "6379")
	}
	if u.User != nil {
		r.user = u.User.Username()
		r.password, _ = u.User.Password()
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if r.db, err = strconv.Atoi(db); err != nil || r.db < 0 {
			return nil, fmt.Errorf("the rate-limit store's database %q is not a number ≥ 0", db)
		}
	}
	return r, nil
}

// Allow decides one call of k under ws with the state in Redis; now is not
// used (the server's clock is). An error means Redis could not decide.
func (r *Redis) Allow(k Key, ws Windows, _ time.Time) (Decision, error) {
	args := make([]string, 0, 3+3*ws.N)
	args = append(args, "EVALSHA", scriptSHA, strconv.Itoa(ws.N))
	for i := range ws.N {
		args = append(args, "tenantward:ratelimit:{"+k.Namespace+"/"+k.Name+"}:"+strconv.FormatInt(ws.W[i].Requests, 10)+"/"+strconv.FormatInt(int64(ws.W[i].Per), 10))
	}
	for i := range ws.N {
		args = append(args, strconv.FormatInt(ws.W[i].interval(), 10), strconv.FormatInt(ws.W[i].capacity(), 10))
	}
	reply, err := r.do(args)
	if e := redisError(""); errors.As(err, &e) && strings.HasPrefix(string(e), "NOSCRIPT") {
		args[0], args[1] = "EVAL", script
		reply, err = r.do(args)
	}
	if err != nil {
		return Decision{}, fmt.Errorf("rate-limit store %s: %w", r.addr, err)
	}
	out, ok := reply.([]any)
	if !ok || len(out) != 1+ws.N {
		return Decision{}, fmt.Errorf("rate-limit store %s: unexpected answer to the script", r.addr)
	}
	var debts [MaxWindows]int64
	for i := range ws.N {
		if debts[i], ok = out[1+i].(int64); !ok {
			return Decision{}, fmt.Errorf("rate-limit store %s: unexpected answer to the script", r.addr)
		}
	}
	// The script applied the same rule to the same debts.
	d, _ := Decide(ws, debts)
	return d, nil
}

// Ping checks that Redis answers.
func (r *Redis) Ping() error {
	_, err := r.do([]string{"PING"})
	return err
}

// Close closes the idle connections.
func (r *Redis) Close() {
	for {
		select {
		case c := <-r.idle:
			_ = c.conn.Close()
		default:
			return
		}
	}
}

// do sends one command on an idle or new connection and reads its answer.
// A Redis error answer comes back as a redisError and keeps the connection;
// any other failure closes it.
func (r *Redis) do(args []string) (any, error) {
	var c *redisConn
	select {
	case c = <-r.idle:
	default:
		var err error
		if c, err = r.dial(); err != nil {
			return nil, err
		}
	}
	reply, err := c.do(args, time.Now().Add(RedisTimeout))
	if e := redisError(""); err != nil && !errors.As(err, &e) {
		_ = c.conn.Close()
		return nil, err
	}
	select {
	case r.idle <- c:
	default:
		_ = c.conn.Close()
	}
	return reply, err
}

func (r *Redis) dial() (*redisConn, error) {
	nc, err := net.DialTimeout("tcp", r.addr, RedisTimeout)
	if err != nil {
		return nil, err
	}
	c := newRedisConn(nc)
	deadline := time.Now().Add(RedisTimeout)
	if r.password != "" {
		auth := []string{"AUTH", r.password}
		if r.user != "" {
			auth = []string{"AUTH", r.user, r.password}
		}
		if _, err := c.do(auth, deadline); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("AUTH: %w", err) // Redis's answer never quotes the password
		}
	}
	if r.db != 0 {
		if _, err := c.do([]string{"SELECT", strconv.Itoa(r.db)}, deadline); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("SELECT %d: %w", r.db, err)
		}
	}
	return c, nil
}
