package ratelimit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// redisConn speaks the part of RESP (Redis's protocol) the limiter needs:
// commands as arrays of bulk strings; answers that are simple strings,
// errors, integers, bulk strings and arrays of those.
type redisConn struct {
	conn net.Conn
	r    *bufio.Reader
	buf  []byte
}

// redisError is an error answer from Redis (the connection stays usable).
type redisError string

func (e redisError) Error() string { return "redis: " + string(e) }

var errProtocol = errors.New("redis: malformed answer")

// maxBulk bounds a bulk string the limiter accepts (its answers are tiny).
const maxBulk = 1 << 20

func newRedisConn(c net.Conn) *redisConn {
	return &redisConn{conn: c, r: bufio.NewReader(c)}
}

// do writes one command and reads its answer before deadline.
func (c *redisConn) do(args []string, deadline time.Time) (any, error) {
	if err := c.conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	b := append(c.buf[:0], '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	c.buf = b
	if _, err := c.conn.Write(b); err != nil {
		return nil, err
	}
	v, err := c.read(0)
	if err != nil {
		return nil, err
	}
	if e, ok := v.(redisError); ok {
		return nil, e
	}
	return v, nil
}

// read reads one answer; depth bounds nested arrays.
func (c *redisConn) read(depth int) (any, error) {
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return nil, errProtocol
	}
	body := string(line[1 : len(line)-2])
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return redisError(body), nil
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return nil, errProtocol
		}
		return n, nil
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n > maxBulk {
			return nil, errProtocol
		}
		if n < 0 {
			return nil, nil
		}
		p := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, p); err != nil {
			return nil, err
		}
		return string(p[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n > 1024 || depth > 2 {
			return nil, errProtocol
		}
		if n < 0 {
			return nil, nil
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = c.read(depth + 1); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("redis: unexpected answer type %q", line[0])
}
