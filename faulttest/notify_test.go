package faulttest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/internal/testenv"
	"github.com/tutorhub/tutorhub/queries"
)

// mailSink is a private Mailpit, started by the test on ports of its own, so stopping it
// disturbs no other test. Its messages live in a file that survives a restart.
type mailSink struct {
	t            *testing.T
	bin, db, log string
	smtp, http   string
	cmd          *exec.Cmd
	done         chan struct{}
}

// mailpitBinary is the pinned Mailpit the local stack uses, installed (from the tool cache)
// by deploy/tools.sh.
func mailpitBinary(t *testing.T) string {
	t.Helper()
	bin, _ := filepath.Abs(filepath.Join("..", ".bin", "mailpit"))
	if _, err := os.Stat(bin); err != nil {
		install := exec.Command(filepath.Join("..", "deploy", "tools.sh"), "mailpit")
		if out, err := install.CombinedOutput(); err != nil {
			t.Fatalf("deploy/tools.sh mailpit: %v\n%s", err, out)
		}
	}
	return bin
}

func startMailSink(t *testing.T) *mailSink {
	t.Helper()
	dir := t.TempDir()
	m := &mailSink{t: t, bin: mailpitBinary(t), db: filepath.Join(dir, "mailpit.db"), log: filepath.Join(dir, "mailpit.log"),
		smtp: freeAddr(t), http: freeAddr(t)}
	m.start()
	t.Cleanup(func() {
		if m.cmd != nil {
			_ = m.cmd.Process.Kill()
			<-m.done
		}
	})
	return m
}

func (m *mailSink) smtpURL() string { return "smtp://" + m.smtp }

func (m *mailSink) start() {
	m.t.Helper()
	logFile, err := os.OpenFile(m.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		m.t.Fatal(err)
	}
	defer logFile.Close()
	m.cmd = exec.Command(m.bin, "--disable-version-check", "--smtp", m.smtp, "--listen", m.http,
		"--database", m.db, "--smtp-disable-rdns")
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	if err := m.cmd.Start(); err != nil {
		m.t.Fatal(err)
	}
	done := make(chan struct{})
	m.done = done
	cmd := m.cmd
	go func() { _ = cmd.Wait(); close(done) }()
	eventually(m.t, 30*time.Second, "the private Mailpit answers", func() bool {
		res, err := http.Get("http://" + m.http + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		c, err := net.Dial("tcp", m.smtp)
		if err != nil {
			return false
		}
		c.Close()
		return res.StatusCode == http.StatusOK
	})
}

// stop ends Mailpit (SIGTERM) and waits until its SMTP port refuses connections.
func (m *mailSink) stop() {
	m.t.Helper()
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		m.t.Fatal("Mailpit did not stop within 30s")
	}
	m.cmd = nil
}

// messageIDs returns the Message-IDs of the mail to `to`.
func (m *mailSink) messageIDs(to string) []string {
	m.t.Helper()
	res, err := http.Get("http://" + m.http + "/api/v1/search?query=" + url.QueryEscape(fmt.Sprintf("to:%q", to)))
	if err != nil {
		m.t.Fatal(err)
	}
	defer res.Body.Close()
	var list struct {
		Messages []struct{ MessageID string } `json:"messages"`
	}
	if err := json.NewDecoder(res.Body).Decode(&list); err != nil {
		m.t.Fatal(err)
	}
	var out []string
	for _, msg := range list.Messages {
		out = append(out, msg.MessageID)
	}
	return out
}

// noticeUsers stores n users with unique addresses.
func noticeUsers(t *testing.T, s *stack, n int) map[uuid.UUID]string {
	t.Helper()
	users := map[uuid.UUID]string{}
	for range n {
		id, email := uuid.New(), testenv.UniqueEmail("fault-notify")
		if err := queries.New(s.pool).EnsureUser(context.Background(), queries.EnsureUserParams{ID: id, Email: email}); err != nil {
			t.Fatal(err)
		}
		users[id] = email
	}
	return users
}

// recordPasswordChange writes the outbox event of a password change of user, as
// accounts.Service.PasswordChanged does in its transaction.
func recordPasswordChange(t *testing.T, s *stack, user uuid.UUID) {
	t.Helper()
	payload, _ := json.Marshal(accounts.SecurityEventPayload{Schema: accounts.SecurityEventSchema, UserID: user, OccurredAt: time.Now(), Device: "faulttest"})
	if err := queries.New(s.pool).InsertOutboxEvent(context.Background(), queries.InsertOutboxEventParams{
		AggregateType: accounts.UserAggregate, AggregateID: user, EventType: accounts.EventPasswordChanged, Payload: string(payload),
	}); err != nil {
		t.Fatal(err)
	}
}

// checkEveryNoticeOnce waits until every user has one inbox item and one mail, then checks
// that nobody got two of either and every delivery row is sent.
func checkEveryNoticeOnce(t *testing.T, s *stack, sink *mailSink, users map[uuid.UUID]string, within time.Duration) {
	t.Helper()
	eventually(t, within, "every notice is mailed", func() bool {
		for _, email := range users {
			if len(sink.messageIDs(email)) == 0 {
				return false
			}
		}
		return true
	})
	eventually(t, within, "every notice is in its inbox and every run has ended", func() bool {
		return s.count(`SELECT count(*) FROM notifications`) == len(users) &&
			s.count(`SELECT count(*) FROM notification_deliveries WHERE status = 'sent'`) == 2*len(users) && s.openRunCount() == 0
	})
	for id, email := range users {
		if ids := sink.messageIDs(email); len(ids) != 1 {
			t.Errorf("user %s got %d mails %v, want 1", id, len(ids), ids)
		}
	}
	if n := s.count(`SELECT count(*) FROM (SELECT user_id FROM notifications GROUP BY user_id HAVING count(*) > 1) d`); n != 0 {
		t.Errorf("%d users have more than one inbox item", n)
	}
}

// TestMailSinkDownWhileNoticesArrive stops the SMTP relay while security notices arrive and
// starts it again: every mail arrives once, the ones sent before the outage are not sent
// again, and the ones due during it are retried with backoff until the relay answers.
func TestMailSinkDownWhileNoticesArrive(t *testing.T) {
	s := newStack(t)
	sink := startMailSink(t)
	startWorker(t, "worker", s.workerEnv("TUTORHUB_SMTP_URL="+sink.smtpURL()), "--queues", "notifications")
	users := noticeUsers(t, s, 20)
	i := 0
	for id := range users {
		recordPasswordChange(t, s, id)
		if i++; i == 5 {
			break
		}
	}
	eventually(t, time.Minute, "the first notices are mailed", func() bool {
		return s.count(`SELECT count(*) FROM notification_deliveries WHERE channel = 'email' AND status = 'sent'`) == 5
	})
	sink.stop()
	sent := map[uuid.UUID]bool{}
	rows, _ := s.pool.Query(context.Background(), `SELECT user_id FROM notification_deliveries WHERE channel = 'email'`)
	for rows.Next() {
		var id uuid.UUID
		_ = rows.Scan(&id)
		sent[id] = true
	}
	rows.Close()
	for id := range users {
		if !sent[id] {
			recordPasswordChange(t, s, id)
		}
	}
	eventually(t, time.Minute, "mail deliveries fail and are retried while the relay is down", func() bool {
		return s.count(`SELECT count(*) FROM notification_deliveries WHERE channel = 'email' AND status = 'sending' AND attempts >= 2`) > 0
	})
	sink.start()
	checkEveryNoticeOnce(t, s, sink, users, 3*time.Minute)
}

// TestWorkerKilledMidFanout kills the worker (SIGKILL) while notices are being delivered and
// starts another: every notice reaches its inbox exactly once and its mail at least once;
// a mail is sent twice only if the kill fell between the relay's acceptance and the commit
// that records it, and then both copies carry the same Message-ID.
func TestWorkerKilledMidFanout(t *testing.T) {
	s := newStack(t)
	sink := startMailSink(t)
	env := s.workerEnv("TUTORHUB_SMTP_URL=" + sink.smtpURL())
	first := startWorker(t, "first", env, "--queues", "notifications")
	users := noticeUsers(t, s, 60)
	for id := range users {
		recordPasswordChange(t, s, id)
	}
	eventually(t, time.Minute, "some notices are delivered", func() bool {
		return s.count(`SELECT count(*) FROM notification_deliveries WHERE status = 'sent'`) >= 10
	})
	first.kill()
	if done := s.count(`SELECT count(*) FROM notification_deliveries WHERE status = 'sent'`); done >= 2*len(users) {
		t.Fatalf("all %d deliveries were done before the kill; the test proves nothing", done)
	}
	startWorker(t, "second", env, "--queues", "notifications")
	eventually(t, 3*time.Minute, "every notice is delivered after the kill", func() bool {
		for _, email := range users {
			if len(sink.messageIDs(email)) == 0 {
				return false
			}
		}
		return s.count(`SELECT count(*) FROM notifications`) == len(users) && s.openRunCount() == 0
	})
	dupes := 0
	for id, email := range users {
		ids := sink.messageIDs(email)
		for _, m := range ids[1:] {
			if m != ids[0] {
				t.Errorf("user %s got mails with different Message-IDs %v", id, ids)
			}
		}
		dupes += len(ids) - 1
	}
	if n := s.count(`SELECT count(*) FROM (SELECT user_id FROM notifications GROUP BY user_id HAVING count(*) > 1) d`); n != 0 {
		t.Errorf("%d users have more than one inbox item", n)
	}
	t.Logf("%d users, %d duplicate mails (kill between the relay's acceptance and the commit)", len(users), dupes)
}

// openRunCount is how many runs Temporal lists as running.
func (s *stack) openRunCount() int {
	s.t.Helper()
	resp, err := s.tc.CountWorkflow(context.Background(), &workflowservice.CountWorkflowExecutionsRequest{Query: "ExecutionStatus = 'Running'"})
	if err != nil {
		return -1
	}
	return int(resp.GetCount())
}
