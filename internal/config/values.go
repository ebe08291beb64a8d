package config

// Parsers of single values. Their errors are reasons ("must be ...") that
// never repeat the value: the loader shows the value itself, unless secret.

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

const minCursorSecretBytes = 32

func anyString(s string) (string, error) { return s, nil }

func nonEmpty(s string) (string, error) {
	if s == "" {
		return "", errors.New("must not be empty")
	}
	return s, nil
}

func oneOf(allowed ...string) func(string) (string, error) {
	return func(s string) (string, error) {
		for _, a := range allowed {
			if s == a {
				return s, nil
			}
		}
		quoted := make([]string, len(allowed))
		for i, a := range allowed {
			quoted[i] = strconv.Quote(a)
		}
		return "", fmt.Errorf("must be one of %s", strings.Join(quoted, ", "))
	}
}

func parseBool(s string) (bool, error) {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, errors.New("must be true or false")
	}
	return b, nil
}

func integer[T int | int32 | int64](lo, hi T) func(string) (T, error) {
	return func(s string) (T, error) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < int64(lo) || n > int64(hi) {
			return 0, fmt.Errorf("must be a whole number from %d to %d", lo, hi)
		}
		return T(n), nil
	}
}

// memoryLimit is 0 (no limit) or 16 MiB to 1 TiB: below 16 MiB the collector would run
// without pause.
func memoryLimit(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || (n != 0 && (n < 16<<20 || n > 1<<40)) {
		return 0, fmt.Errorf("must be 0 or a whole number from %d to %d", 16<<20, int64(1)<<40)
	}
	return n, nil
}

func formatInt[T int | int32 | int64](n T) string { return strconv.FormatInt(int64(n), 10) }

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("must be a duration such as 500ms, 30s, 5m or 1h30m")
	}
	return d, nil
}

func positiveDuration(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	if err == nil && d <= 0 {
		err = errors.New("must be a duration greater than zero")
	}
	return d, err
}

func nonNegativeDuration(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	if err == nil && d < 0 {
		err = errors.New("must be a duration of zero or more")
	}
	return d, err
}

func parseHostPort(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", errors.New("must be host:port, such as 127.0.0.1:8080 or :8080")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || strconv.FormatUint(n, 10) != port {
		return "", errors.New("port must be a number from 0 to 65535")
	}
	if host != "" && !validHost(host) {
		return "", errors.New("host must be an IP address or a host name")
	}
	return s, nil
}

// optionalHostPort accepts the empty string or a host:port.
func optionalHostPort(s string) (string, error) {
	if s == "" {
		return s, nil
	}
	return parseHostPort(s)
}

// validHost accepts IP addresses and DNS host names.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// parseHTTPURL accepts an absolute http or https URL with a host and
// nothing after its path, and drops trailing slashes so paths join cleanly.
func parseHTTPURL(s string) (string, error) {
	const form = "must be an absolute http or https URL such as https://api.example.com"
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" {
		return "", errors.New(form)
	}
	if u.Host == "" || !validHost(u.Hostname()) {
		return "", errors.New(form + "; the host is missing or invalid")
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#") {
		return "", errors.New(form + "; it must not carry credentials, a query or a fragment")
	}
	return strings.TrimRight(s, "/"), nil
}

// parseAPIKey accepts an API key sent in an HTTP header: printable ASCII without spaces,
// or empty.
func parseAPIKey(s string) (string, error) {
	for _, r := range s {
		if r <= ' ' || r > '~' {
			return "", errors.New("must be printable ASCII without spaces")
		}
	}
	return s, nil
}

// optionalHTTPURL is parseHTTPURL, or empty.
func optionalHTTPURL(s string) (string, error) {
	if s == "" {
		return s, nil
	}
	return parseHTTPURL(s)
}

// parseSMTPURL accepts smtp://[user:password@]host[:port][?disable_starttls=true] or
// smtps://..., the forms internal/mail dials.
func parseSMTPURL(s string) (string, error) {
	const form = "must be an SMTP URL such as smtp://host:587 or smtps://user:password@host:465"
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Opaque != "" || u.Hostname() == "" || !validHost(u.Hostname()) {
		return "", errors.New(form)
	}
	return s, nil
}

// parseMailAddress accepts an RFC 5322 address, optionally with a display name.
func parseMailAddress(s string) (string, error) {
	if _, err := mail.ParseAddress(s); err != nil {
		return "", errors.New("must be an email address such as no-reply@example.com or \"tutorhub <no-reply@example.com>\"")
	}
	return s, nil
}

// parseOrigins accepts a comma-separated list of browser origins and
// normalizes each to the form browsers send in the Origin header.
func parseOrigins(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	if s == "*" {
		return []string{"*"}, nil
	}
	items := strings.Split(s, ",")
	origins := make([]string, 0, len(items))
	for _, item := range items {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, errors.New("must not have empty entries")
		}
		if item == "*" {
			return nil, errors.New(`"*" must be the only entry when given`)
		}
		o, err := parseOrigin(item)
		if err != nil {
			return nil, fmt.Errorf("entry %s %w", quote(item), err)
		}
		origins = append(origins, o)
	}
	return origins, nil
}

func parseOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "" || u.Host == "" {
		return "", errors.New("must be an origin: scheme://host[:port], such as https://app.example.com")
	}
	if strings.Contains(u.Host, "*") {
		return "", errors.New("must name one host; wildcards are not supported")
	}
	if !validHost(u.Hostname()) {
		return "", errors.New("has an invalid host")
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#") {
		return "", errors.New("must be only scheme://host[:port], without a path, query or credentials")
	}
	host := strings.ToLower(u.Host)
	if port := u.Port(); (u.Scheme == "http" && port == "80") || (u.Scheme == "https" && port == "443") {
		host = strings.ToLower(u.Hostname())
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	}
	return u.Scheme + "://" + host, nil
}

func formatList(items []string) string { return strings.Join(items, ",") }

// parsePrefixes accepts a comma-separated list of IP addresses and CIDRs.
// A CIDR with host bits set is refused, since it usually hides a typo.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	if s == "" {
		return nil, nil
	}
	items := strings.Split(s, ",")
	prefixes := make([]netip.Prefix, 0, len(items))
	for _, item := range items {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, errors.New("must not have empty entries")
		}
		if strings.Contains(item, "/") {
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("entry %s is not a CIDR such as 10.0.0.0/8", quote(item))
			}
			if p != p.Masked() {
				return nil, fmt.Errorf("entry %s has host bits set; did you mean %s?", quote(item), p.Masked())
			}
			prefixes = append(prefixes, p)
			continue
		}
		a, err := netip.ParseAddr(item)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("entry %s is not an IP address or CIDR", quote(item))
		}
		a = a.Unmap()
		prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	return prefixes, nil
}

func formatPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

// existingFile accepts "" (unset) or the path of an existing regular file.
func existingFile(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	fi, err := os.Stat(s)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", errors.New("file does not exist")
	case err != nil:
		return "", fmt.Errorf("cannot be read: %w", unwrapPathError(err))
	case !fi.Mode().IsRegular():
		return "", errors.New("must be a regular file")
	}
	return s, nil
}

// unwrapPathError drops the path an fs.PathError repeats.
func unwrapPathError(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

// parsePostgresURL reports a fixed reason: pgx's errors can quote parts of
// the connection string, password included.
func parsePostgresURL(s string) (string, error) {
	if s == "" {
		return "", errors.New("must not be empty")
	}
	if _, err := pgxpool.ParseConfig(s); err != nil {
		return "", errors.New("must be a PostgreSQL connection string accepted by pgx, such as postgres://user:password@host:5432/db?sslmode=require")
	}
	return s, nil
}

func optionalPostgresURL(s string) (string, error) {
	if s == "" {
		return s, nil
	}
	return parsePostgresURL(s)
}

// parseRedisURL reports a fixed reason: go-redis' errors can quote the URL.
func parseRedisURL(s string) (string, error) {
	if s == "" {
		return "", errors.New("must not be empty")
	}
	if _, err := redis.ParseURL(s); err != nil {
		return "", errors.New("must be a Redis URL such as redis://:password@host:6379/0 or rediss://host:6380/0")
	}
	return s, nil
}

func parseKeyPrefix(s string) (string, error) {
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune(`*?[]\`, r) || r == utf8RuneError {
			return "", errors.New(`must not contain whitespace, control characters or any of *?[]\`)
		}
	}
	return s, nil
}

const utf8RuneError = '\uFFFD'

// parseIdentifier accepts names made of letters, digits, '_' and '-'.
func parseIdentifier(s string) (string, error) {
	if s == "" {
		return "", errors.New("must not be empty")
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return "", errors.New("must contain only letters, digits, '_' and '-'")
		}
	}
	return s, nil
}

// parseToken accepts a non-empty run of visible ASCII characters, such as
// a JWT audience ("tutorhub", "https://api.example.com").
func parseToken(s string) (string, error) {
	if s == "" {
		return "", errors.New("must not be empty")
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f {
			return "", errors.New("must contain only visible ASCII characters, no spaces")
		}
	}
	return s, nil
}

func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, errors.New(`must be one of "debug", "info", "warn", "error"`)
}

func formatLogLevel(l slog.Level) string { return strings.ToLower(l.String()) }

func parseCursorSecret(s string) ([]byte, error) {
	if len(s) < minCursorSecretBytes {
		return nil, fmt.Errorf("must be at least %d bytes long", minCursorSecretBytes)
	}
	return []byte(s), nil
}

// parseOptionalSecret accepts empty (the feature it guards is off) or a secret as
// parseCursorSecret does.
func parseOptionalSecret(s string) ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	return parseCursorSecret(s)
}

// parseTemporalNamespace accepts a Temporal namespace name: 1 to 255 letters, digits, '.',
// '-' and '_', starting with a letter or digit.
func parseTemporalNamespace(s string) (string, error) {
	if s == "" || len(s) > 255 {
		return "", errors.New("must be 1 to 255 characters")
	}
	for i, c := range []byte(s) {
		letterOrDigit := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !letterOrDigit && (i == 0 || c != '.' && c != '-' && c != '_') {
			return "", errors.New("must be letters, digits, '.', '-' and '_', starting with a letter or digit")
		}
	}
	return s, nil
}

// durationBetween accepts a duration from lo to hi.
func durationBetween(lo, hi time.Duration) func(string) (time.Duration, error) {
	return func(s string) (time.Duration, error) {
		d, err := parseDuration(s)
		if err != nil {
			return 0, err
		}
		if d < lo || d > hi {
			return 0, fmt.Errorf("must be from %s to %s", formatDuration(lo), formatDuration(hi))
		}
		return d, nil
	}
}

// durationZeroOrBetween accepts 0 (off) or a duration from lo to hi.
func durationZeroOrBetween(lo, hi time.Duration) func(string) (time.Duration, error) {
	return func(s string) (time.Duration, error) {
		d, err := parseDuration(s)
		if err != nil || d != 0 && (d < lo || d > hi) {
			return 0, fmt.Errorf("must be 0s (off) or from %s to %s", formatDuration(lo), formatDuration(hi))
		}
		return d, nil
	}
}

// parseBucketName accepts an S3 bucket name as every S3 service does: 3 to 63 lower-case
// letters, digits, '-' and '.', starting and ending with a letter or digit, no "..".
func parseBucketName(s string) (string, error) {
	const form = "must be an S3 bucket name: 3 to 63 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit"
	if len(s) < 3 || len(s) > 63 || strings.Contains(s, "..") {
		return "", errors.New(form)
	}
	for i, c := range []byte(s) {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || i == len(s)-1 || (c != '-' && c != '.')) {
			return "", errors.New(form)
		}
	}
	return s, nil
}

// parseStripeKey accepts a Stripe secret or restricted API key.
func parseStripeKey(s string) (string, error) {
	if _, err := parseAPIKey(s); err != nil {
		return "", err
	}
	if !strings.HasPrefix(s, "sk_") && !strings.HasPrefix(s, "rk_") || len(s) < 8 || len(s) > 255 {
		return "", errors.New("must be a Stripe secret key (sk_...) or restricted key (rk_...)")
	}
	return s, nil
}

// parseWebhookSecrets accepts empty or a comma-separated list of Stripe signing secrets.
func parseWebhookSecrets(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		v = strings.TrimSpace(v)
		if _, err := parseAPIKey(v); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(v, "whsec_") || len(v) < 16 || len(v) > 255 {
			return nil, errors.New("must be Stripe signing secrets (whsec_..., at least 16 characters), separated by commas")
		}
		out = append(out, v)
	}
	if len(out) > 8 {
		return nil, errors.New("at most 8 secrets")
	}
	return out, nil
}
