package accesstoken

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Revocations ends access tokens before they expire, in Redis, so that every API replica
// refuses them within one request of the revocation:
//
//   - RevokeSession refuses every token of one Kratos session (sign-out);
//   - RevokeUser refuses every token of a user issued before now, except those of one
//     session that lives on (sign-out everywhere, password change, recovery, disabling).
//
// Entries are kept for Keep, which must be at least the longest lifetime a verified token
// can have (Options.MaxLifetime) plus the verifier's leeway: by then every token they cover
// has expired anyway, so Redis holds at most one small key per revocation per lifetime.
//
// Checking costs one Redis round trip (MGET of the session's and the user's key). Redis
// errors are returned, never guessed: the caller decides the policy when Redis is down.
type Revocations struct {
	rdb    redis.UniversalClient
	prefix string
	keep   time.Duration
	now    func() time.Time
}

// NewRevocations stores revocations under keyPrefix in rdb for keep; now is the clock
// (nil is time.Now).
func NewRevocations(rdb redis.UniversalClient, keyPrefix string, keep time.Duration, now func() time.Time) *Revocations {
	if now == nil {
		now = time.Now
	}
	return &Revocations{rdb: rdb, prefix: keyPrefix + "revoked:", keep: keep, now: now}
}

func (r *Revocations) sessionKey(sessionID string) string { return r.prefix + "sid:" + sessionID }
func (r *Revocations) userKey(userID string) string       { return r.prefix + "user:" + userID }

// RevokeSession makes Revoked true for every token of the session.
func (r *Revocations) RevokeSession(ctx context.Context, sessionID string) error {
	if sessionID == "" {
		return errors.New("revoke session: no session id")
	}
	if err := r.rdb.Set(ctx, r.sessionKey(sessionID), "1", r.keep).Err(); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return nil
}

// RevokeUser makes Revoked true for every token of the user issued up to now (to the
// second, and in the current second too), except tokens of keepSessionID when it is not
// empty (the session that changed the password lives on). A later call replaces an earlier
// one. Token issue times come from Kratos's clock and the cut-off from this host's: the
// two must agree to within a second (NTP), or tokens minted in the last instants before
// the cut-off may survive it.
func (r *Revocations) RevokeUser(ctx context.Context, userID, keepSessionID string) error {
	if userID == "" {
		return errors.New("revoke user: no user id")
	}
	// iat has whole seconds: the cut-off is the next second, so a token minted earlier in
	// this second is covered.
	cutoff := r.now().Unix() + 1
	v := strconv.FormatInt(cutoff, 10)
	if keepSessionID != "" {
		v += " " + keepSessionID
	}
	if err := r.rdb.Set(ctx, r.userKey(userID), v, r.keep).Err(); err != nil {
		return fmt.Errorf("revoke user: %w", err)
	}
	return nil
}

// Revoked reports whether a verified token has been revoked. An error means Redis could
// not answer; the token's state is then unknown.
func (r *Revocations) Revoked(ctx context.Context, c *Claims) (bool, error) {
	keys := []string{r.userKey(c.Subject)}
	if c.SessionID != "" {
		keys = append(keys, r.sessionKey(c.SessionID))
	}
	vals, err := r.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return false, fmt.Errorf("check revocation: %w", err)
	}
	if len(vals) > 1 && vals[1] != nil {
		return true, nil
	}
	user, ok := vals[0].(string)
	if !ok {
		return false, nil
	}
	cut, keep, _ := strings.Cut(user, " ")
	cutoff, err := strconv.ParseInt(cut, 10, 64)
	if err != nil {
		// Only this package writes the key; an unreadable one refuses rather than admits.
		return true, nil
	}
	if keep != "" && keep == c.SessionID {
		return false, nil
	}
	return c.IssuedAt.Unix() < cutoff, nil
}
