package serviceaccounts

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/internal/broadcast"
	"github.com/tutorhub/tutorhub/internal/testenv"
)

// fixture is a service over a fresh database with one account and one key.
type fixture struct {
	svc     *Service
	db      DB
	admin   uuid.UUID
	account Account
	key     Key
	secret  string
}

func newFixture(t *testing.T, o Options, scopes ...string) *fixture {
	t.Helper()
	db := testenv.Postgres(t)
	f := &fixture{svc: New(db, o), db: db, admin: uuid.New()}
	ctx := context.Background()
	var err error
	f.account, err = f.svc.CreateAccount(ctx, f.admin, NewAccount{Name: "crm-" + testenv.RandomID()})
	if err != nil {
		t.Fatal(err)
	}
	if len(scopes) == 0 {
		scopes = []string{string(TutorsRead)}
	}
	f.key, f.secret, err = f.svc.CreateKey(ctx, f.admin, f.account.ID, NewKeyInput{Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := tutorhub.ErrorCode(err); got != code {
		t.Fatalf("error %v (code %q), want code %q", err, got, code)
	}
}

func auditActions(t *testing.T, f *fixture, action string) int {
	t.Helper()
	rows, err := accounts.New(f.db, accounts.Options{}).ListAuditEvents(context.Background(), accounts.AuditFilter{Action: action, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

func TestCreateAccountValidates(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := context.Background()
	_, err := f.svc.CreateAccount(ctx, f.admin, NewAccount{Name: f.account.Name})
	wantCode(t, err, tutorhub.EEXISTS)
	_, err = f.svc.CreateAccount(ctx, f.admin, NewAccount{Name: "bad\u202ename", RequestsPerMinute: -1})
	wantCode(t, err, tutorhub.EINVALID)
	if v := err.(*tutorhub.Error).Violations; len(v) != 2 || v[0].Field != "name" || v[1].Field != "requests_per_minute" {
		t.Fatalf("violations %+v", v)
	}
	if f.account.RequestsPerMinute != DefaultRequestsPerMinute || f.account.OwnerID != f.admin {
		t.Fatalf("account %+v", f.account)
	}
	if n := auditActions(t, f, AuditAccountCreated); n != 1 {
		t.Fatalf("%d account creations audited, want 1", n)
	}
}

func TestCreateKeyValidates(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := context.Background()
	_, _, err := f.svc.CreateKey(ctx, f.admin, f.account.ID, NewKeyInput{Scopes: []string{"tutors:read", "tutors:write"}, ExpiresAt: time.Now().Add(-time.Minute)})
	wantCode(t, err, tutorhub.EINVALID)
	var fields []string
	for _, v := range err.(*tutorhub.Error).Violations {
		fields = append(fields, v.Field)
	}
	if strings.Join(fields, ",") != "scopes[1],expire_time" {
		t.Fatalf("violations on %v", fields)
	}
	_, _, err = f.svc.CreateKey(ctx, f.admin, uuid.New(), NewKeyInput{Scopes: []string{"tutors:read"}})
	wantCode(t, err, tutorhub.ENOTFOUND)
	if _, err := f.svc.DisableAccount(ctx, f.admin, f.account.ID); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.svc.CreateKey(ctx, f.admin, f.account.ID, NewKeyInput{Scopes: []string{"tutors:read"}})
	wantCode(t, err, tutorhub.EPRECONDITION)
}

// The secret is returned once and never stored: the row holds its SHA-256 and lists show
// the prefix.
func TestKeySecretIsStoredOnlyAsAHash(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{}, "search:read", "tutors:read")
	if p, ok := ParseKey(f.secret); !ok || p != f.key.Prefix {
		t.Fatalf("secret %q does not parse to prefix %q", f.secret[:14], f.key.Prefix)
	}
	var stored []byte
	var dump string
	if err := f.db.QueryRow(context.Background(), "SELECT secret_hash, row_to_json(k)::text FROM service_account_keys k WHERE id = $1", f.key.ID).Scan(&stored, &dump); err != nil {
		t.Fatal(err)
	}
	if string(stored) != string(Hash(f.secret)) || strings.Contains(dump, f.secret[len(KeyPrefix)+prefixLength+1:]) {
		t.Fatal("the row holds more than the key's hash")
	}
	keys, err := f.svc.ListKeys(context.Background(), f.account.ID, nil, 10)
	if err != nil || len(keys) != 1 || keys[0].Prefix != f.key.Prefix || joinScopes(keys[0].Scopes) != "search:read tutors:read" {
		t.Fatalf("keys %+v %v", keys, err)
	}
	if n := auditActions(t, f, AuditKeyCreated); n != 1 {
		t.Fatalf("%d key creations audited, want 1", n)
	}
}

func TestAuthenticateRefusesBadKeys(t *testing.T) {
	t.Parallel()
	clock := &testClock{now: time.Now()}
	f := newFixture(t, Options{Now: clock.Now})
	ctx := context.Background()
	p, err := f.svc.Authenticate(ctx, f.secret, "203.0.113.9")
	if err != nil || p.AccountID != f.account.ID || !p.Has(TutorsRead) || p.Has(SearchRead) || p.RequestsPerMinute != DefaultRequestsPerMinute {
		t.Fatalf("principal %+v, %v", p, err)
	}
	other, _, _ := NewKey()
	rightPrefixWrongSecret := reChecksum(f.secret[:len(KeyPrefix)+prefixLength+1] + other[len(KeyPrefix)+prefixLength+1:len(other)-checksumLength])
	for name, key := range map[string]string{
		"malformed":                  f.secret[:len(f.secret)-1] + "_",
		"unknown prefix":             other,
		"right prefix, wrong secret": rightPrefixWrongSecret,
	} {
		_, err := f.svc.Authenticate(ctx, key, "")
		wantCode(t, err, tutorhub.EUNAUTHENTICATED)
		t.Logf("%s: %v", name, err)
	}

	expiring, secret, err := f.svc.CreateKey(ctx, f.admin, f.account.ID, NewKeyInput{Scopes: []string{"tutors:read"}, ExpiresAt: clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, secret, ""); err != nil {
		t.Fatalf("key %s before its expiry: %v", expiring.Prefix, err)
	}
	clock.advance(time.Hour)
	_, err = f.svc.Authenticate(ctx, secret, "")
	wantCode(t, err, tutorhub.EUNAUTHENTICATED)
	if !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired key: %v", err)
	}

	if _, err := f.svc.DisableAccount(ctx, f.admin, f.account.ID); err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.Authenticate(ctx, f.secret, "")
	wantCode(t, err, tutorhub.EUNAUTHENTICATED)
	if !strings.Contains(err.Error(), "disabled") {
		t.Fatalf("key of a disabled account: %v", err)
	}
	if _, err := f.svc.DisableAccount(ctx, f.admin, f.account.ID); err != nil {
		t.Fatal(err)
	}
	if n := auditActions(t, f, AuditAccountDisabled); n != 1 {
		t.Fatalf("disabling twice audited %d times, want once", n)
	}
}

// A wrong key costs one comparison of two full SHA-256 sums whether its prefix is known or
// not and however much of the secret matched; a malformed key costs none (and no lookup).
func TestAuthenticateComparesWholeHashesWhateverMatched(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	var mu sync.Mutex
	var compares [][2]int
	real := f.svc.compare
	f.svc.compare = func(a, b []byte) bool {
		mu.Lock()
		compares = append(compares, [2]int{len(a), len(b)})
		mu.Unlock()
		return real(a, b)
	}
	secretStart := len(KeyPrefix) + prefixLength + 1
	body := f.secret[:len(f.secret)-checksumLength]
	flip := func(i int) string {
		c := byte('a')
		if body[i] == 'a' {
			c = 'b'
		}
		return reChecksum(body[:i] + string(c) + body[i+1:])
	}
	other, _, _ := NewKey()
	for _, tc := range []struct {
		name     string
		key      string
		compares int
	}{
		{"right key", f.secret, 1},
		{"right prefix, secret wrong in its first character", flip(secretStart), 1},
		{"right prefix, secret wrong in its last character", flip(len(body) - 1), 1},
		{"unknown prefix", other, 1},
		{"unknown prefix, otherwise the right secret", flip(len(KeyPrefix)), 1},
		{"malformed", f.secret[:20], 0},
	} {
		mu.Lock()
		compares = nil
		mu.Unlock()
		_, err := f.svc.Authenticate(context.Background(), tc.key, "")
		if (err == nil) != (tc.key == f.secret) {
			t.Fatalf("%s: %v", tc.name, err)
		}
		mu.Lock()
		got := compares
		mu.Unlock()
		if len(got) != tc.compares {
			t.Fatalf("%s: %d comparisons, want %d", tc.name, len(got), tc.compares)
		}
		for _, c := range got {
			if c != [2]int{32, 32} {
				t.Fatalf("%s: compared %d with %d bytes, want two SHA-256 sums", tc.name, c[0], c[1])
			}
		}
	}
}

// A revocation takes effect at once on the replica that made it, and within the cache TTL on
// another replica over the same database; using the revoked key is audited, once a minute.
func TestRevocationReachesEveryReplicaWithinTheTTL(t *testing.T) {
	t.Parallel()
	const ttl = 300 * time.Millisecond
	f := newFixture(t, Options{CacheTTL: ttl})
	replica := New(f.db, Options{CacheTTL: ttl})
	ctx := context.Background()
	for _, s := range []*Service{f.svc, replica} {
		if _, err := s.Authenticate(ctx, f.secret, ""); err != nil {
			t.Fatal(err)
		}
	}
	revoked, err := f.svc.RevokeKey(ctx, f.admin, f.account.ID, f.key.ID)
	if err != nil || revoked.RevokedAt.IsZero() {
		t.Fatalf("revoke: %+v %v", revoked, err)
	}
	at := time.Now()
	_, err = f.svc.Authenticate(ctx, f.secret, "")
	wantCode(t, err, tutorhub.EUNAUTHENTICATED)
	for {
		_, err := replica.Authenticate(ctx, f.secret, "")
		if tutorhub.ErrorCode(err) == tutorhub.EUNAUTHENTICATED {
			break
		}
		if time.Since(at) > ttl+2*time.Second {
			t.Fatalf("the other replica still accepts the key %v after the revocation", time.Since(at))
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
	if _, err := f.svc.RevokeKey(ctx, f.admin, f.account.ID, f.key.ID); err != nil {
		t.Fatalf("revoking again: %v", err)
	}
	_, err = f.svc.RevokeKey(ctx, f.admin, f.account.ID, uuid.New())
	wantCode(t, err, tutorhub.ENOTFOUND)
	if n := auditActions(t, f, AuditKeyRevoked); n != 1 {
		t.Fatalf("%d revocations audited, want 1", n)
	}
	for i := 0; i < 5; i++ {
		_, _ = f.svc.Authenticate(ctx, f.secret, "")
	}
	// One per replica that saw the revoked key (each throttles on its own).
	if n := auditActions(t, f, AuditRevokedKeyUsed); n != 2 {
		t.Fatalf("%d uses of the revoked key audited, want 2 (one per replica)", n)
	}
}

// Last use is written in batches, not once per request: nothing until FlushEvery has passed
// since the last write, then the latest use of each key in one statement.
func TestKeyUseIsWrittenInBatches(t *testing.T) {
	t.Parallel()
	clock := &testClock{now: time.Now()}
	f := newFixture(t, Options{FlushEvery: time.Minute, Now: clock.Now})
	ctx := context.Background()
	lastUsed := func() (time.Time, string) {
		t.Helper()
		keys, err := f.svc.ListKeys(ctx, f.account.ID, nil, 10)
		if err != nil || len(keys) != 1 {
			t.Fatalf("keys %v %v", keys, err)
		}
		return keys[0].LastUsedAt, keys[0].LastUsedIP
	}
	for i := 0; i < 50; i++ {
		if _, err := f.svc.Authenticate(ctx, f.secret, "198.51.100.1"); err != nil {
			t.Fatal(err)
		}
	}
	if at, _ := lastUsed(); !at.IsZero() {
		t.Fatal("a use was written before the batch was due")
	}
	if err := f.svc.FlushUses(ctx); err != nil {
		t.Fatal(err)
	}
	if at, ip := lastUsed(); at.IsZero() || ip != "198.51.100.1" {
		t.Fatalf("after the flush: last use %v from %q", at, ip)
	}
	// Once FlushEvery has passed, a request starts the write in the background.
	clock.advance(2 * time.Minute)
	if _, err := f.svc.Authenticate(ctx, f.secret, "198.51.100.2"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ip := lastUsed(); ip == "198.51.100.2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the due batch was never written")
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

func TestListAccountsPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t, Options{})
	ctx := context.Background()
	for i := 0; i < 4; i++ {
		if _, err := f.svc.CreateAccount(ctx, f.admin, NewAccount{Name: "svc-" + testenv.RandomID()}); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[uuid.UUID]bool{}
	var before *Position
	for {
		page, err := f.svc.ListAccounts(ctx, before, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range page {
			if seen[a.ID] {
				t.Fatalf("account %s on two pages", a.ID)
			}
			seen[a.ID] = true
		}
		if len(page) < 2 {
			break
		}
		last := page[len(page)-1]
		before = &Position{Time: last.CreatedAt, ID: last.ID}
	}
	if len(seen) != 5 {
		t.Fatalf("pages covered %d accounts, want 5", len(seen))
	}
}

// reChecksum puts the right checksum on a key body, so a changed key is well-formed.
func reChecksum(body string) string { return body + checksum(body) }

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// With invalidations, a revocation reaches another replica long before its cache TTL (here
// an hour, so only the invalidation can explain the refusal).
func TestInvalidationReachesOtherReplicasBeforeTheTTL(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	channel := broadcast.New(rdb, prefix+"serviceaccounts")
	f := newFixture(t, Options{CacheTTL: time.Hour, Invalidations: channel})
	replica := New(f.db, Options{CacheTTL: time.Hour, Invalidations: channel})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub, err := channel.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go sub.Run(ctx, replica.Forget)
	if _, err := replica.Authenticate(ctx, f.secret, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.RevokeKey(ctx, f.admin, f.account.ID, f.key.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := replica.Authenticate(ctx, f.secret, "")
		if tutorhub.ErrorCode(err) == tutorhub.EUNAUTHENTICATED {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other replica still accepts the revoked key 5 s after the revocation")
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	// Disabling the account drops every cached key of every replica.
	_, second, err := f.svc.CreateKey(ctx, f.admin, f.account.ID, NewKeyInput{Scopes: []string{"tutors:read"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := replica.Authenticate(ctx, second, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.DisableAccount(ctx, f.admin, f.account.ID); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for {
		_, err := replica.Authenticate(ctx, second, "")
		if tutorhub.ErrorCode(err) == tutorhub.EUNAUTHENTICATED {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other replica still accepts a key of the disabled account after 5 s")
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}
