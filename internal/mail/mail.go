// Package mail sends tutorhub's own notification mail (the mail Kratos's courier has no
// template for) over SMTP, to the same relay Kratos uses.
//
// A Sender is safe for concurrent use; each Send opens one connection, honours the
// context's deadline (capped at the Sender's timeout, WithTimeout, default DefaultTimeout),
// and never puts the message body or credentials in its errors. With WithBreaker, a relay
// that is down or hangs opens a circuit breaker, and while it is open Send fails at once
// (errors.Is breaker.ErrOpen) without dialling.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/tutorhub/tutorhub/internal/breaker"
)

// DefaultTimeout bounds one Send (dial to QUIT) unless WithTimeout says otherwise.
const DefaultTimeout = 30 * time.Second

// Option tunes a Sender.
type Option func(*Sender)

// WithBreaker guards every Send with b: a relay that cannot be reached, breaks the
// connection, does not answer in time or answers 421 (service not available) counts as a
// failure; any other answer, a refused recipient among them, is the relay working.
func WithBreaker(b *breaker.Breaker) Option { return func(s *Sender) { s.breaker = b } }

// WithTimeout caps the time one Send may take (default DefaultTimeout); the caller's
// deadline shortens it further.
func WithTimeout(d time.Duration) Option { return func(s *Sender) { s.timeout = d } }

// Sender delivers plain-text mail through one SMTP relay.
type Sender struct {
	addr, host     string
	implicitTLS    bool
	disableTLS     bool
	user, password string
	from           mail.Address
	breaker        *breaker.Breaker
	timeout        time.Duration
}

// New returns a Sender for an SMTP URL: smtp://[user:password@]host[:port] (STARTTLS when
// the relay offers it, unless ?disable_starttls=true) or smtps://... (TLS from the first
// byte). from is the sender address, optionally with a name ("tutorhub <no-reply@x>").
func New(rawURL, from string, opts ...Option) (*Sender, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("smtp url: not a URL")
	}
	s := &Sender{timeout: DefaultTimeout}
	for _, o := range opts {
		o(s)
	}
	switch u.Scheme {
	case "smtp":
		s.disableTLS = u.Query().Get("disable_starttls") == "true"
	case "smtps":
		s.implicitTLS = true
	default:
		return nil, fmt.Errorf("smtp url: scheme %q is not smtp or smtps", u.Scheme)
	}
	s.host = u.Hostname()
	if s.host == "" {
		return nil, errors.New("smtp url: no host")
	}
	port := u.Port()
	if port == "" {
		port = "25"
		if s.implicitTLS {
			port = "465"
		}
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		s.user = u.User.Username()
		s.password, _ = u.User.Password()
	}
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("sender address %q: %w", from, err)
	}
	s.from = *addr
	return s, nil
}

// Send delivers one plain-text message to one recipient, within ctx's deadline.
func (s *Sender) Send(ctx context.Context, to, subject, body string) error {
	return s.SendMessage(ctx, Message{To: to, Subject: subject, Text: body})
}

// Message is one mail to one recipient: a text body, and optionally an HTML alternative,
// extra headers and a Message-ID of the caller's choosing.
type Message struct {
	To, Subject string
	// Text is the plain-text body; HTML, when set, is sent beside it as
	// multipart/alternative.
	Text, HTML string
	// MessageID is the Message-ID without angle brackets ("local@domain"); empty gets a
	// random one. A caller that may send a message twice gives both the same id, so the
	// duplicate is detectable.
	MessageID string
	// Headers are added as given (names and values must be plain ASCII without line ends).
	Headers [][2]string
}

// SendMessage delivers m within ctx's deadline. An error says the relay did not accept the
// message, except when the connection broke after the message's end was sent: then the
// relay may have accepted it.
func (s *Sender) SendMessage(ctx context.Context, m Message) error {
	for _, h := range m.Headers {
		if strings.ContainsAny(h[0]+h[1], "\r\n") || strings.ContainsAny(h[0], ": ") {
			return fmt.Errorf("header %q: line end or bad name", h[0])
		}
	}
	if strings.ContainsAny(m.MessageID, "\r\n<> ") {
		return errors.New("message id: bad characters")
	}
	rcpt, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	if s.breaker == nil {
		return s.send(ctx, rcpt, m)
	}
	if err := s.breaker.Allow(); err != nil {
		return fmt.Errorf("smtp %s: %w", s.addr, err)
	}
	err = s.send(ctx, rcpt, m)
	switch {
	case err != nil && errors.Is(err, context.Canceled) && ctx.Err() != nil:
		// The caller gave up: that says nothing about the relay.
		s.breaker.Ignore()
	default:
		s.breaker.Done(relayFailed(err))
	}
	return err
}

// relayFailed reports whether err, from one send, says the relay is unwell: it could not be
// reached, broke the connection or did not answer in time, or answered 421. A reply the
// relay chose (a refused recipient, a failed authentication) is an answer.
func relayFailed(err error) bool {
	if err == nil {
		return false
	}
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return reply.Code == 421
	}
	return !errors.Is(err, errAuth)
}

// errAuth marks a failed authentication: the relay answered.
var errAuth = errors.New("smtp auth failed")

// send is one delivery of m to rcpt, within ctx.
func (s *Sender) send(ctx context.Context, rcpt *mail.Address, m Message) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("smtp dial %s: %w", s.addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Closing the connection ends a call stuck past a cancelled context.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if s.implicitTLS {
		conn = tls.Client(conn, &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12})
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return fmt.Errorf("smtp greeting from %s: %w", s.addr, err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok && !s.implicitTLS && !s.disableTLS {
		if err := c.StartTLS(&tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}); err != nil {
			return fmt.Errorf("smtp starttls with %s: %w", s.addr, err)
		}
	}
	if s.user != "" {
		if err := c.Auth(smtp.PlainAuth("", s.user, s.password, s.host)); err != nil {
			return fmt.Errorf("smtp auth with %s: %w", s.addr, errAuth)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("smtp MAIL FROM: %w", err)
	}
	if err := c.Rcpt(rcpt.Address); err != nil {
		return fmt.Errorf("smtp RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if _, err := w.Write(s.message(rcpt, m)); err != nil {
		return fmt.Errorf("smtp write message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp end of message: %w", err)
	}
	return c.Quit()
}

// message renders the RFC 5322 message with CRLF line ends: text only, or text and HTML as
// multipart/alternative, both quoted-printable when HTML is present.
func (s *Sender) message(to *mail.Address, m Message) []byte {
	id := m.MessageID
	if id == "" {
		var raw [12]byte
		_, _ = rand.Read(raw[:])
		domain := s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]
		id = hex.EncodeToString(raw[:]) + "@" + domain
	}
	var b strings.Builder
	headers := [][2]string{
		{"From", s.from.String()},
		{"To", to.String()},
		{"Subject", mime.QEncoding.Encode("utf-8", m.Subject)},
		{"Date", time.Now().UTC().Format(time.RFC1123Z)},
		{"Message-ID", "<" + id + ">"},
		{"MIME-Version", "1.0"},
	}
	headers = append(headers, m.Headers...)
	for _, h := range headers {
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	if m.HTML == "" {
		b.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
		for line := range strings.Lines(m.Text) {
			b.WriteString(strings.TrimRight(line, "\r\n") + "\r\n")
		}
		return []byte(b.String())
	}
	var raw [12]byte
	_, _ = rand.Read(raw[:])
	boundary := "tutorhub-" + hex.EncodeToString(raw[:])
	b.WriteString("Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n\r\n")
	for _, part := range [][2]string{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		b.WriteString("--" + boundary + "\r\n")
		b.WriteString("Content-Type: " + part[0] + "; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
		var qp bytes.Buffer
		w := quotedprintable.NewWriter(&qp)
		_, _ = w.Write([]byte(strings.ReplaceAll(part[1], "\r\n", "\n")))
		_ = w.Close()
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(qp.String(), "\r\n", "\n"), "\n", "\r\n"))
		b.WriteString("\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return []byte(b.String())
}
