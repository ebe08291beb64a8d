package testenv

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// KratosPublicURL is the Kratos public API tests use (TUTORHUB_TEST_KRATOS_PUBLIC_URL,
// default the local stack's).
func KratosPublicURL() string {
	if u := os.Getenv("TUTORHUB_TEST_KRATOS_PUBLIC_URL"); u != "" {
		return u
	}
	return "http://127.0.0.1:4433"
}

// KratosAdminURL is the Kratos admin API tests use (TUTORHUB_TEST_KRATOS_ADMIN_URL).
func KratosAdminURL() string {
	if u := os.Getenv("TUTORHUB_TEST_KRATOS_ADMIN_URL"); u != "" {
		return u
	}
	return "http://127.0.0.1:4434"
}

// KratosIssuer is the iss claim of the access tokens Kratos mints (its public base URL).
func KratosIssuer() string {
	if u := os.Getenv("TUTORHUB_TEST_KRATOS_ISSUER"); u != "" {
		return u
	}
	return "http://127.0.0.1:4433/"
}

// MailpitURL is the HTTP API of the local SMTP sink (TUTORHUB_TEST_MAILPIT_URL).
func MailpitURL() string {
	if u := os.Getenv("TUTORHUB_TEST_MAILPIT_URL"); u != "" {
		return u
	}
	return "http://127.0.0.1:8025"
}

// SMTPURL is the SMTP side of the local mail sink (TUTORHUB_TEST_SMTP_URL), where tutorhub's
// own mail goes in tests.
func SMTPURL() string {
	if u := os.Getenv("TUTORHUB_TEST_SMTP_URL"); u != "" {
		return u
	}
	return "smtp://127.0.0.1:1025"
}

// MailIDs lists the ids of the mail to `to` in Mailpit now, for NewMail to ignore.
func MailIDs(t testing.TB, to string) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for _, m := range searchMail(t, to) {
		ids[m.ID] = true
	}
	return ids
}

// NewMail waits (up to 15 s) for a mail to `to` whose subject starts with subjectPrefix and
// whose id is not in seen, and returns its plain text and the six-digit code in it ("" when
// it has none).
func NewMail(t testing.TB, to, subjectPrefix string, seen map[string]bool) (text, code string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range searchMail(t, to) {
			if seen[m.ID] || !strings.HasPrefix(m.Subject, subjectPrefix) || !m.exactlyTo(to) {
				continue
			}
			var msg struct{ Text string }
			if err := getJSON(MailpitURL()+"/api/v1/message/"+m.ID, &msg); err != nil {
				t.Fatal(err)
			}
			if c := mailCode.FindStringSubmatch(msg.Text); c != nil {
				return msg.Text, c[1]
			}
			return msg.Text, ""
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no new %q mail to %s arrived in Mailpit within 15s", subjectPrefix, to)
	return "", ""
}

// MailSubjects lists the subjects of the mail to `to` whose ids are not in seen.
func MailSubjects(t testing.TB, to string, seen map[string]bool) []string {
	t.Helper()
	var out []string
	for _, m := range searchMail(t, to) {
		if !seen[m.ID] && m.exactlyTo(to) {
			out = append(out, m.Subject)
		}
	}
	return out
}

type mailSummary struct {
	ID      string
	Subject string
	Created time.Time
	To      []struct{ Address string }
}

func (m mailSummary) exactlyTo(to string) bool {
	for _, a := range m.To {
		if strings.EqualFold(a.Address, to) {
			return true
		}
	}
	return false
}

func searchMail(t testing.TB, to string) []mailSummary {
	t.Helper()
	var list struct {
		Messages []mailSummary `json:"messages"`
	}
	q := url.QueryEscape(fmt.Sprintf("to:%q", to))
	if err := getJSON(MailpitURL()+"/api/v1/search?query="+q, &list); err != nil {
		t.Fatalf("Mailpit is not reachable at %s (start the stack with deploy/local/up.sh): %v", MailpitURL(), err)
	}
	return list.Messages
}

// RepoRoot is the directory holding go.mod, found upwards from the working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// KratosJWKSPath is the public key set Kratos signs access tokens with
// (TUTORHUB_TEST_JWKS_PATH, default .data/kratos/jwks.public.json of the local stack).
func KratosJWKSPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("TUTORHUB_TEST_JWKS_PATH"); p != "" {
		return p
	}
	p := filepath.Join(RepoRoot(t), ".data", "kratos", "jwks.public.json")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("Kratos key set %s missing (start the stack with deploy/local/up.sh): %v", p, err)
	}
	return p
}

// UniqueEmail returns an address no other test uses.
func UniqueEmail(label string) string {
	return fmt.Sprintf("%s.%s@test.tutorhub.local", label, RandomID())
}

var mailCode = regexp.MustCompile(`(?m)^(\d{6})\r?$`)

// MailCode waits (up to 15 s) for the newest mail to `to` whose subject starts with
// subjectPrefix and received after since, and returns the six-digit code in it.
func MailCode(t testing.TB, to, subjectPrefix string, since time.Time) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if code, ok := findMailCode(t, to, subjectPrefix, since); ok {
			return code
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no %q mail to %s arrived in Mailpit within 15s", subjectPrefix, to)
	return ""
}

func findMailCode(t testing.TB, to, subjectPrefix string, since time.Time) (string, bool) {
	t.Helper()
	var list struct {
		Messages []struct {
			ID      string
			Subject string
			Created time.Time
			To      []struct{ Address string }
		} `json:"messages"`
	}
	q := url.QueryEscape(fmt.Sprintf("to:%q", to))
	if err := getJSON(MailpitURL()+"/api/v1/search?query="+q, &list); err != nil {
		t.Fatalf("Mailpit is not reachable at %s (start the stack with deploy/local/up.sh): %v", MailpitURL(), err)
	}
	for _, m := range list.Messages {
		if !strings.HasPrefix(m.Subject, subjectPrefix) || m.Created.Before(since.Add(-time.Second)) {
			continue
		}
		exact := false
		for _, a := range m.To {
			exact = exact || strings.EqualFold(a.Address, to)
		}
		if !exact {
			continue
		}
		var msg struct{ Text string }
		if err := getJSON(MailpitURL()+"/api/v1/message/"+m.ID, &msg); err != nil {
			t.Fatal(err)
		}
		if c := mailCode.FindStringSubmatch(msg.Text); c != nil {
			return c[1], true
		}
	}
	return "", false
}

func getJSON(u string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(out)
}
