package payments

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Bounds of a Stripe-Signature header.
const (
	maxSignatureHeader = 4096
	maxSignatures      = 16
)

// Errors of VerifySignature. Each makes the webhook answer 400 with nothing stored.
var (
	ErrSignatureMalformed = errors.New("the Stripe-Signature header is malformed")
	ErrSignatureTimestamp = errors.New("the signature's timestamp is outside the tolerance")
	ErrSignatureMismatch  = errors.New("no signature matches the payload with any configured secret")
)

// Sign returns a Stripe-Signature header for payload at t made with secret, the way Stripe
// signs webhooks: t=UNIX,v1=hex(HMAC-SHA256(secret, "UNIX.payload")). Tests and the load tool
// sign events with it.
func Sign(payload []byte, secret string, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, payload))
}

func mac(secret, ts string, payload []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(payload)
	return h.Sum(nil)
}

// VerifySignature checks a Stripe-Signature header against payload: its timestamp within
// tolerance of now (either way), and one of its v1 signatures made with one of secrets (several
// while a secret is rolled). Signatures of other schemes (v0) are ignored; comparisons are in
// constant time.
func VerifySignature(payload []byte, header string, secrets []string, tolerance time.Duration, now time.Time) error {
	if len(header) == 0 || len(header) > maxSignatureHeader {
		return ErrSignatureMalformed
	}
	var (
		ts     string
		tsSeen bool
		sigs   [][]byte
	)
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return ErrSignatureMalformed
		}
		switch k {
		case "t":
			if tsSeen {
				return ErrSignatureMalformed
			}
			ts, tsSeen = v, true
		case "v1":
			if len(sigs) == maxSignatures {
				return ErrSignatureMalformed
			}
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				// Another length cannot match; a bad one is not fatal while another may.
				continue
			}
			sigs = append(sigs, b)
		}
	}
	if !tsSeen || len(ts) == 0 || len(ts) > 12 {
		return ErrSignatureMalformed
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || unix <= 0 {
		return ErrSignatureMalformed
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrSignatureMismatch)
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return ErrSignatureTimestamp
	}
	for _, secret := range secrets {
		want := mac(secret, ts, payload)
		for _, s := range sigs {
			if hmac.Equal(s, want) {
				return nil
			}
		}
	}
	return ErrSignatureMismatch
}
