package payments_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/payments"
)

const (
	secretOld = "whsec_old_0123456789abcdef"
	secretNew = "whsec_new_0123456789abcdef"
)

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"id":"evt_1","type":"payment_intent.succeeded"}`)
	good := payments.Sign(body, secretNew, now)
	for _, tc := range []struct {
		name    string
		body    []byte
		header  string
		secrets []string
		want    error
	}{
		{"a signature by the configured secret passes", body, good, []string{secretNew}, nil},
		{"a signature by either secret passes while one is rolled", body, payments.Sign(body, secretOld, now), []string{secretNew, secretOld}, nil},
		{"a v0 signature beside the v1 is ignored", body, good + ",v0=deadbeef", []string{secretNew}, nil},
		{"a signature by another secret fails", body, payments.Sign(body, "whsec_other_0123456789", now), []string{secretNew}, payments.ErrSignatureMismatch},
		{"a changed body fails", []byte(`{"id":"evt_1","type":"payment_intent.succeeded" }`), good, []string{secretNew}, payments.ErrSignatureMismatch},
		{"a timestamp beyond the tolerance fails", body, payments.Sign(body, secretNew, now.Add(-6*time.Minute)), []string{secretNew}, payments.ErrSignatureTimestamp},
		{"a timestamp far in the future fails", body, payments.Sign(body, secretNew, now.Add(6*time.Minute)), []string{secretNew}, payments.ErrSignatureTimestamp},
		{"a timestamp moved with the same signature fails", body, strings.Replace(good, "t="+strconv.FormatInt(now.Unix(), 10), "t="+strconv.FormatInt(now.Unix()-1, 10), 1), []string{secretNew}, payments.ErrSignatureMismatch},
		{"no timestamp is malformed", body, good[strings.Index(good, ",")+1:], []string{secretNew}, payments.ErrSignatureMalformed},
		{"no v1 signature fails", body, "t=" + strconv.FormatInt(now.Unix(), 10), []string{secretNew}, payments.ErrSignatureMismatch},
		{"an empty header is malformed", body, "", []string{secretNew}, payments.ErrSignatureMalformed},
		{"no secrets accept nothing", body, good, nil, payments.ErrSignatureMismatch},
		{"two timestamps are malformed", body, good + ",t=1", []string{secretNew}, payments.ErrSignatureMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := payments.VerifySignature(tc.body, tc.header, tc.secrets, 5*time.Minute, now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("VerifySignature = %v, want %v", err, tc.want)
			}
		})
	}
}

// FuzzVerifySignature: no header and body make verification panic, and only a header signed
// with the secret passes.
func FuzzVerifySignature(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add([]byte(`{"id":"evt_1"}`), payments.Sign([]byte(`{"id":"evt_1"}`), secretNew, now))
	f.Add([]byte(`{}`), "t=1800000000,v1=00,v1=zz,v0=1")
	f.Add([]byte(``), "t=,v1=")
	f.Add([]byte(`x`), ",,,=,t=-1")
	f.Add([]byte(`{"id":"evt_1"}`), "v1="+strings.ToUpper(strings.SplitN(payments.Sign([]byte(`{"id":"evt_1"}`), secretNew, now), "v1=", 2)[1])+",t=1800000000")
	f.Add([]byte(`x`), "t=99999999999999999999,v1="+strings.Repeat("a", 64))
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		err := payments.VerifySignature(body, header, []string{secretNew}, 5*time.Minute, now)
		// The signature over the timestamp as written must be in the header (hex in any case).
		if err != nil {
			return
		}
		var ts string
		for part := range strings.SplitSeq(header, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), "t="); ok {
				ts = v
			}
		}
		unix, perr := strconv.ParseInt(ts, 10, 64)
		if perr != nil {
			t.Fatalf("header %q passed with an unreadable timestamp", header)
		}
		want := payments.Sign(body, secretNew, time.Unix(unix, 0))
		if _, sig, _ := strings.Cut(want, ",v1="); !strings.Contains(strings.ToLower(header), sig) {
			t.Fatalf("header %q passed without the secret's signature", header)
		}
	})
}
