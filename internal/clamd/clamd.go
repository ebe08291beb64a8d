// Package clamd is a small client of ClamAV's daemon over TCP: INSTREAM scans in chunks,
// PING and VERSION.
//
// Guarantees: a scan never sends more than MaxSize bytes (a longer stream is an ErrTooLarge,
// never a verdict); every call is bounded by its context and by Timeout; a reply that is not
// exactly one of clamd's answers is an error, never a clean verdict. A Client holds no
// connection between calls and is safe for concurrent use.
package clamd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// Defaults of a Client's zero fields.
const (
	DefaultChunkSize = 64 << 10
	DefaultMaxSize   = 25 << 20
	DefaultTimeout   = 2 * time.Minute
	// maxReply bounds what is read of clamd's answer: a verdict names one signature.
	maxReply = 4 << 10
)

// ErrTooLarge reports a stream longer than the client's MaxSize or clamd's StreamMaxLength.
var ErrTooLarge = errors.New("clamd: stream exceeds the size limit")

// Verdict is clamd's answer about one stream.
type Verdict struct {
	// Infected is true when a signature matched.
	Infected bool
	// Signature names the matched signature; empty when clean.
	Signature string
}

// ReplyError is an answer of clamd that is neither a verdict nor expected (an ERROR line, or
// bytes that do not parse).
type ReplyError struct{ Reply string }

func (e *ReplyError) Error() string { return "clamd: unexpected reply " + fmt.Sprintf("%q", e.Reply) }

// Client talks to one clamd. The zero values of ChunkSize, MaxSize and Timeout mean the
// defaults above.
type Client struct {
	// Address is clamd's TCP host:port.
	Address string
	// Timeout bounds a whole call, from dialling to the reply.
	Timeout time.Duration
	// ChunkSize is the largest INSTREAM chunk sent.
	ChunkSize int
	// MaxSize is the most bytes a scan sends; keep it at or below clamd's StreamMaxLength.
	MaxSize int64
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// dial connects with the call's deadline (the earlier of ctx's and Timeout) set on the
// connection, and closes it as soon as ctx is done.
func (c *Client) dial(ctx context.Context) (net.Conn, func(), error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout())
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.Address)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("clamd: dial %s: %w", c.Address, err)
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	return conn, func() { stop(); cancel(); conn.Close() }, nil
}

// command sends a z-command (NUL-terminated) and returns the NUL-terminated reply.
func (c *Client) command(ctx context.Context, name string) (string, error) {
	conn, done, err := c.dial(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	if _, err := conn.Write([]byte("z" + name + "\x00")); err != nil {
		return "", fmt.Errorf("clamd: %s: %w", name, err)
	}
	reply, err := readReply(conn)
	if err != nil {
		return "", fmt.Errorf("clamd: %s: %w", name, err)
	}
	return reply, nil
}

// Ping checks that clamd answers.
func (c *Client) Ping(ctx context.Context) error {
	reply, err := c.command(ctx, "PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return &ReplyError{Reply: reply}
	}
	return nil
}

// Version returns clamd's version line, such as "ClamAV 1.4.6/0/..." (engine/database/date).
func (c *Client) Version(ctx context.Context) (string, error) {
	reply, err := c.command(ctx, "VERSION")
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(reply, "ClamAV ") {
		return "", &ReplyError{Reply: reply}
	}
	return reply, nil
}

// Scan streams r to clamd with INSTREAM and returns its verdict. It reads r to its end or to
// MaxSize+1 bytes, whichever comes first: a longer stream is an ErrTooLarge.
func (c *Client) Scan(ctx context.Context, r io.Reader) (Verdict, error) {
	chunk := c.ChunkSize
	if chunk <= 0 {
		chunk = DefaultChunkSize
	}
	limit := c.MaxSize
	if limit <= 0 {
		limit = DefaultMaxSize
	}
	conn, done, err := c.dial(ctx)
	if err != nil {
		return Verdict{}, err
	}
	defer done()

	if _, err := conn.Write([]byte("zINSTREAM\x00")); err != nil {
		return Verdict{}, fmt.Errorf("clamd: INSTREAM: %w", err)
	}
	buf := make([]byte, 4+chunk)
	var sent int64
	for {
		n, rerr := io.ReadFull(r, buf[4:])
		if n > 0 {
			if sent+int64(n) > limit {
				return Verdict{}, ErrTooLarge
			}
			binary.BigEndian.PutUint32(buf[:4], uint32(n))
			if _, err := conn.Write(buf[:4+n]); err != nil {
				// clamd closes the stream once its own limit is passed, after saying so.
				if reply, rerr := readReply(conn); rerr == nil {
					if _, perr := ParseScanReply(reply); errors.Is(perr, ErrTooLarge) {
						return Verdict{}, ErrTooLarge
					}
				}
				return Verdict{}, fmt.Errorf("clamd: INSTREAM: %w", err)
			}
			sent += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return Verdict{}, fmt.Errorf("clamd: read the stream: %w", rerr)
		}
	}
	if _, err := conn.Write([]byte{0, 0, 0, 0}); err != nil {
		return Verdict{}, fmt.Errorf("clamd: INSTREAM end: %w", err)
	}
	reply, err := readReply(conn)
	if err != nil {
		return Verdict{}, fmt.Errorf("clamd: INSTREAM reply: %w", err)
	}
	return ParseScanReply(reply)
}

// readReply reads one NUL-terminated reply (at most maxReply bytes).
func readReply(conn net.Conn) (string, error) {
	b, err := io.ReadAll(io.LimitReader(conn, maxReply+1))
	if err != nil && len(b) == 0 {
		return "", err
	}
	if len(b) > maxReply {
		return "", errors.New("reply too long")
	}
	end := bytes.IndexByte(b, 0)
	if end < 0 {
		if len(b) == 0 {
			return "", io.ErrUnexpectedEOF
		}
		return "", &ReplyError{Reply: string(b)}
	}
	return string(b[:end]), nil
}

// ParseScanReply reads clamd's answer to INSTREAM (without its terminating NUL):
// "stream: OK", "stream: NAME FOUND", or an error such as
// "INSTREAM size limit exceeded. ERROR".
func ParseScanReply(reply string) (Verdict, error) {
	reply = strings.TrimRight(reply, "\n")
	if strings.HasSuffix(reply, " ERROR") {
		if strings.Contains(reply, "size limit exceeded") {
			return Verdict{}, ErrTooLarge
		}
		return Verdict{}, &ReplyError{Reply: reply}
	}
	rest, ok := strings.CutPrefix(reply, "stream: ")
	if !ok {
		return Verdict{}, &ReplyError{Reply: reply}
	}
	if rest == "OK" {
		return Verdict{}, nil
	}
	name, ok := strings.CutSuffix(rest, " FOUND")
	if !ok || name == "" || strings.ContainsAny(name, "\x00\n") || strings.TrimSpace(name) != name {
		return Verdict{}, &ReplyError{Reply: reply}
	}
	return Verdict{Infected: true, Signature: name}, nil
}
