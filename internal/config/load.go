package config

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// maxFileBytes bounds the files Load reads, so a path such as /dev/zero
// fails instead of exhausting memory.
const maxFileBytes = 1 << 20

// source is where a value came from.
type source uint8

const (
	sourceUnknown source = iota // a Config not built by Load
	sourceDefault
	sourceConfigFile
	sourceEnv
	sourceEnvFile
)

func (s source) String() string {
	switch s {
	case sourceDefault:
		return "default"
	case sourceConfigFile:
		return "file"
	case sourceEnv:
		return "env"
	case sourceEnvFile:
		return "env file"
	}
	return ""
}

// rawValue is a setting as given, before parsing.
type rawValue struct {
	value  string
	source source
	origin string // where, for error messages: a YAML line or a KEY_FILE path
}

// Load builds a Config from environ, a list of "KEY=value" entries as
// returned by os.Environ; it reads no other environment, so callers control
// it entirely. When a key appears more than once, the last entry wins.
//
// Values come, in increasing precedence, from defaults, the YAML file named
// by TUTORHUB_CONFIG_FILE (keys are the variable names without TUTORHUB_, in
// lower case; list settings may be YAML sequences), and the environment.
// Any key KEY may instead be given as KEY_FILE, naming a file whose content,
// without one trailing newline, is the value; giving both is an error.
// A key set to the empty string is set: it does not fall back to the
// default, and is rejected where a value is required.
// Unknown TUTORHUB_ variables and unknown file keys are errors, to catch typos.
//
// On failure Load returns a *Error listing every problem found. Errors,
// Print and Warnings never contain the values of secret keys.
func Load(environ []string) (*Config, error) {
	defs := keys()
	byName := make(map[string]*keyDef, len(defs))
	for i := range defs {
		byName[defs[i].name] = &defs[i]
	}
	l := &loader{
		cfg:    &Config{sources: make(map[string]source, len(defs))},
		failed: make(map[string]bool),
	}

	env, envFiles := l.readEnviron(environ, byName)
	var file map[string]rawValue
	if path := env[keyConfigFile]; path != "" {
		l.cfg.configFile = path
		l.cfg.sources[keyConfigFile] = sourceEnv
		file = l.readConfigFile(path, defs)
	} else {
		l.cfg.sources[keyConfigFile] = sourceDefault
	}

	for i := range defs {
		d := &defs[i]
		if d.envOnly {
			continue
		}
		raw, ok := l.resolve(d, env, envFiles, file)
		if !ok {
			l.failed[d.name] = true
			continue
		}
		l.cfg.sources[d.name] = raw.source
		if raw.source == sourceDefault && d.derive != nil {
			v, ok := d.derive(l.cfg)
			if !ok {
				continue
			}
			raw.value = v
		}
		if err := d.parse(l.cfg, raw.value); err != nil {
			l.failed[d.name] = true
			l.invalid(d, raw, err.Error())
		}
	}
	l.checkRelations()

	if len(l.problems) > 0 {
		slices.SortFunc(l.problems, func(a, b Problem) int {
			return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Reason, b.Reason))
		})
		return nil, &Error{Problems: slices.Compact(l.problems)}
	}
	l.cfg.warnings = warnings(l.cfg)
	return l.cfg, nil
}

// loader accumulates a Config and every problem met while building it.
type loader struct {
	cfg      *Config
	problems []Problem
	failed   map[string]bool // keys whose value was rejected or unreadable
}

func (l *loader) problem(key, reason string) {
	l.problems = append(l.problems, Problem{Key: key, Reason: reason})
}

// invalid reports a rejected value, quoting it only when the key is not
// secret. Reasons never quote a secret, but one is scrubbed anyway should a
// parser ever echo its input.
func (l *loader) invalid(d *keyDef, raw rawValue, reason string) {
	if d.secret {
		if raw.value != "" && strings.Contains(reason, raw.value) {
			reason = "is invalid"
		}
		if raw.origin != "" {
			reason += " (from " + raw.origin + ")"
		}
	} else {
		got := "got " + quote(raw.value)
		if raw.origin != "" {
			got += " from " + raw.origin
		}
		reason += " (" + got + ")"
	}
	l.problem(d.name, reason)
}

// readEnviron splits the TUTORHUB_ variables of environ into values and
// KEY_FILE paths, reporting unknown names.
func (l *loader) readEnviron(environ []string, byName map[string]*keyDef) (env, envFiles map[string]string) {
	env, envFiles = make(map[string]string), make(map[string]string)
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	vars := make(map[string]string)
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && strings.HasPrefix(k, prefix) {
			vars[k] = v
		}
	}
	for k, v := range vars {
		if _, ok := byName[k]; ok {
			env[k] = v
			continue
		}
		if base, ok := strings.CutSuffix(k, "_FILE"); ok {
			if d, ok := byName[base]; ok && !d.envOnly {
				envFiles[base] = v
				continue
			}
		}
		l.problem(safeKey(k), "unknown variable"+suggest(k, names))
	}
	return env, envFiles
}

// resolve picks the value of d by precedence; ok is false when a problem
// has been reported instead.
func (l *loader) resolve(d *keyDef, env, envFiles map[string]string, file map[string]rawValue) (rawValue, bool) {
	v, inEnv := env[d.name]
	path, inEnvFile := envFiles[d.name]
	switch {
	case inEnv && inEnvFile:
		l.problem(d.name, fmt.Sprintf("both %s and %s_FILE are set; set only one", d.name, d.name))
		return rawValue{}, false
	case inEnvFile:
		content, err := readFile(path)
		if err != nil {
			l.problem(d.name+"_FILE", err.Error())
			return rawValue{}, false
		}
		return rawValue{value: trimNewline(content), source: sourceEnvFile, origin: strconv.Quote(path)}, true
	case inEnv:
		return rawValue{value: v, source: sourceEnv}, true
	}
	if raw, ok := file[d.name]; ok {
		return raw, true
	}
	return rawValue{value: d.def, source: sourceDefault}, true
}

// readFile reads at most maxFileBytes of path, with errors that name the
// path but never the content.
func readFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("cannot read %q: file does not exist", path)
		}
		return "", fmt.Errorf("cannot read %q: %v", path, unwrapPathError(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("cannot read %q: %v", path, unwrapPathError(err))
	}
	if len(b) > maxFileBytes {
		return "", fmt.Errorf("cannot read %q: larger than %d bytes", path, maxFileBytes)
	}
	return string(b), nil
}

func trimNewline(s string) string {
	s, ok := strings.CutSuffix(s, "\n")
	if ok {
		s = strings.TrimSuffix(s, "\r")
	}
	return s
}

// readConfigFile parses the YAML file at path into values by variable name.
// Structural problems are reported against TUTORHUB_CONFIG_FILE, with line
// numbers but never values.
func (l *loader) readConfigFile(path string, defs []keyDef) map[string]rawValue {
	values := make(map[string]rawValue)
	content, err := readFile(path)
	if err != nil {
		l.problem(keyConfigFile, err.Error())
		return values
	}
	root, err := decodeYAML([]byte(content))
	if err != nil {
		l.problem(keyConfigFile, fmt.Sprintf("%q is not valid YAML: %v", path, err))
		return values
	}
	if root == nil {
		return values
	}
	if root.Kind != yaml.MappingNode {
		l.problem(keyConfigFile, fmt.Sprintf("%q must hold a mapping of settings, such as http_addr: 127.0.0.1:8080", path))
		return values
	}

	byYAML := make(map[string]*keyDef, len(defs))
	names := make([]string, 0, len(defs))
	for i := range defs {
		if !defs[i].envOnly {
			byYAML[defs[i].yamlName()] = &defs[i]
			names = append(names, defs[i].yamlName())
		}
	}
	at := func(n *yaml.Node) string { return fmt.Sprintf("%q line %d", path, n.Line) }
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolveAlias(root.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			l.problem(keyConfigFile, at(k)+": keys must be setting names")
			continue
		}
		d, ok := byYAML[k.Value]
		if !ok {
			l.problem(keyConfigFile, fmt.Sprintf("%s: unknown key %s%s", at(k), quote(k.Value), suggest(k.Value, names)))
			continue
		}
		if prev, dup := values[d.name]; dup {
			l.problem(keyConfigFile, fmt.Sprintf("%s: %s is already set (%s)", at(k), k.Value, prev.origin))
			continue
		}
		value, ok := yamlValue(v, d.list)
		if !ok {
			want := "a single value"
			if d.list {
				want = "a single value or a list of values"
			}
			l.problem(keyConfigFile, fmt.Sprintf("%s: %s must be %s", at(k), k.Value, want))
			l.failed[d.name] = true
			continue
		}
		values[d.name] = rawValue{value: value, source: sourceConfigFile, origin: at(k)}
	}
	return values
}

// decodeYAML returns the root node of a single-document YAML stream, or nil
// for an empty one.
func decodeYAML(b []byte) (root *yaml.Node, err error) {
	// A malformed document must be reported like any other problem, even
	// if the YAML library fails on it with a panic.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, errors.New("the YAML parser failed on it")
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlError(err)
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		return nil, errors.New("it must hold a single YAML document")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	root = resolveAlias(doc.Content[0])
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	return root, nil
}

// yamlError keeps the line and description of a YAML syntax error but drops
// any excerpt of the document (which the YAML library sets in backquotes),
// since it could hold a secret.
func yamlError(err error) error {
	msg := err.Error()
	if i := strings.IndexByte(msg, '`'); i >= 0 {
		msg = strings.TrimRight(msg[:i], " :") + " (excerpt omitted)"
	}
	return errors.New(msg)
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// yamlValue turns a scalar, or a sequence of scalars when list is true, into
// the string an environment variable would hold. Null is the empty string.
func yamlValue(n *yaml.Node, list bool) (string, bool) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "", true
		}
		return n.Value, true
	case yaml.SequenceNode:
		if !list {
			return "", false
		}
		items := make([]string, len(n.Content))
		for i, item := range n.Content {
			item = resolveAlias(item)
			if item.Kind != yaml.ScalarNode || strings.Contains(item.Value, ",") {
				return "", false
			}
			items[i] = item.Value
		}
		return strings.Join(items, ","), true
	}
	return "", false
}

// checkRelations applies the rules that involve more than one key or the
// environment. A rule is skipped when a key it reads was already rejected,
// so one mistake is reported once.
func (l *loader) checkRelations() {
	c := l.cfg
	ok := func(keys ...string) bool {
		for _, k := range keys {
			if l.failed[k] {
				return false
			}
		}
		return true
	}
	prod := c.Env == EnvProduction && ok(keyEnv)

	if ok(keyHTTPReadHeader, keyHTTPRead) && c.HTTP.ReadHeaderTimeout > c.HTTP.ReadTimeout {
		l.problem(keyHTTPReadHeader, fmt.Sprintf("must not exceed %s (%s) (got %s)",
			keyHTTPRead, formatDuration(c.HTTP.ReadTimeout), quote(formatDuration(c.HTTP.ReadHeaderTimeout))))
	}
	if ok(keyHTTPAddr, keyHTTPInternalAddr) && c.HTTP.InternalAddr != "" && sameListenAddr(c.HTTP.Addr, c.HTTP.InternalAddr) {
		l.problem(keyHTTPInternalAddr, fmt.Sprintf("must differ from %s (got %s)", keyHTTPAddr, quote(c.HTTP.InternalAddr)))
	}
	if ok(keyHTTPTLSCert, keyHTTPTLSKey) && (c.HTTP.TLSCertFile == "") != (c.HTTP.TLSKeyFile == "") {
		missing, set := keyHTTPTLSKey, keyHTTPTLSCert
		if c.HTTP.TLSCertFile == "" {
			missing, set = set, missing
		}
		l.problem(missing, fmt.Sprintf("must be set because %s is set", set))
	}
	if ok(keyTemporalTLSCert, keyTemporalTLSKey) && (c.Temporal.TLSCertFile == "") != (c.Temporal.TLSKeyFile == "") {
		missing, set := keyTemporalTLSKey, keyTemporalTLSCert
		if c.Temporal.TLSCertFile == "" {
			missing, set = set, missing
		}
		l.problem(missing, fmt.Sprintf("must be set because %s is set", set))
	}
	for _, other := range []string{keyHTTPAddr, keyHTTPInternalAddr} {
		addr := c.HTTP.Addr
		if other == keyHTTPInternalAddr {
			addr = c.HTTP.InternalAddr
		}
		if ok(other, keyWorkerMetricsAddr) && addr != "" && sameListenAddr(addr, c.Worker.MetricsAddr) {
			l.problem(keyWorkerMetricsAddr, fmt.Sprintf("must differ from %s (got %s)", other, quote(c.Worker.MetricsAddr)))
		}
	}
	l.checkResilience(c, ok)
	if ok(keyDatabaseMinConns, keyDatabaseMaxConns) && c.Database.MinConns > c.Database.MaxConns {
		l.problem(keyDatabaseMinConns, fmt.Sprintf("must not exceed %s (%d) (got %s)",
			keyDatabaseMaxConns, c.Database.MaxConns, quote(formatInt(c.Database.MinConns))))
	}
	if ok(keyAuthLockoutBase, keyAuthLockoutMax) && c.Auth.LockoutMax < c.Auth.LockoutBase {
		l.problem(keyAuthLockoutMax, fmt.Sprintf("must be at least %s (%s) (got %s)",
			keyAuthLockoutBase, formatDuration(c.Auth.LockoutBase), quote(formatDuration(c.Auth.LockoutMax))))
	}
	if ok(keyAuthCaptchaProvider, keyAuthCaptchaSecret) && c.Auth.CaptchaSecret == "" &&
		(c.Auth.CaptchaProvider == captchaProviderTurnstile || c.Auth.CaptchaProvider == captchaProviderHCaptcha) {
		l.problem(keyAuthCaptchaSecret, fmt.Sprintf("is required when %s is %s", keyAuthCaptchaProvider, quote(c.Auth.CaptchaProvider)))
	}
	if ok(keySearchEngine, keyMeiliURL) && c.Search.Engine == SearchEngineMeilisearch && c.Search.MeiliURL == "" {
		l.problem(keyMeiliURL, fmt.Sprintf("is required when %s is %s", keySearchEngine, quote(SearchEngineMeilisearch)))
	}
	if ok(keyS3AccessKeyID, keyS3SecretAccessKey) && (c.Storage.AccessKeyID == "") != (c.Storage.SecretAccessKey == "") {
		missing, set := keyS3SecretAccessKey, keyS3AccessKeyID
		if c.Storage.AccessKeyID == "" {
			missing, set = set, missing
		}
		l.problem(missing, fmt.Sprintf("must be set because %s is set", set))
	}
	if ok(keyS3QuarantineBucket, keyS3CleanBucket) && c.Storage.QuarantineBucket == c.Storage.CleanBucket {
		l.problem(keyS3CleanBucket, fmt.Sprintf("must differ from %s (got %s)", keyS3QuarantineBucket, quote(c.Storage.CleanBucket)))
	}
	if ok(keyUploadsPutURLTTL, keyUploadsAbandonAfter) && c.Uploads.AbandonAfter < c.Uploads.PutURLTTL {
		l.problem(keyUploadsAbandonAfter, fmt.Sprintf("must be at least %s (%s) (got %s)",
			keyUploadsPutURLTTL, formatDuration(c.Uploads.PutURLTTL), quote(formatDuration(c.Uploads.AbandonAfter))))
	}
	if ok(keyPaymentsTestMode, keyStripeSecretKey) && c.Payments.TestMode && isLiveStripeKey(c.Payments.StripeSecretKey) {
		l.problem(keyPaymentsTestMode, "must not be true with a live "+keyStripeSecretKey+": test payments would confirm bookings that nobody paid")
	}
	if ok(keyPaymentsTestMode, keyStripeWebhookSecret) && c.Payments.TestMode && len(c.Payments.WebhookSecrets) == 0 {
		l.problem(keyPaymentsTestMode, "needs "+keyStripeWebhookSecret+": test payments sign their event with the first secret")
	}
	if !prod {
		return
	}
	const inProd = " when " + keyEnv + "=" + EnvProduction
	if ok(keyCursorSecret) {
		switch string(c.Cursor.Secret) {
		case "":
			l.problem(keyCursorSecret, fmt.Sprintf("is required%s; set it to at least %d random bytes", inProd, minCursorSecretBytes))
		case developmentCursorSecret:
			l.problem(keyCursorSecret, "must not be the public development key"+inProd)
		}
	}
	if ok(keyHTTPInternalAddr) && c.HTTP.InternalAddr == "" {
		l.problem(keyHTTPInternalAddr, "must not be empty"+inProd+", so /metrics and gRPC reflection stay off the public port")
	}
	if ok(keyAuthCaptchaProvider) && c.Auth.CaptchaProvider == captchaProviderTest {
		l.problem(keyAuthCaptchaProvider, fmt.Sprintf("must not be %s%s", quote(captchaProviderTest), inProd))
	}
	if ok(keyCORSAllowedOrigins) && slices.Contains(c.CORS.AllowedOrigins, "*") {
		l.problem(keyCORSAllowedOrigins, `must not be "*"`+inProd+"; list the allowed origins")
	}
	if ok(keyPaymentsTestMode) && c.Payments.TestMode {
		l.problem(keyPaymentsTestMode, "must not be true"+inProd+": test payments confirm bookings that nobody paid")
	}
	if ok(keyAuthCookieSecure) && !c.Auth.CookieSecure {
		l.problem(keyAuthCookieSecure, "must be true"+inProd+": session cookies must never travel over plain HTTP")
	}
}

// warnings returns advice about a valid Config. It must never quote a secret.
func warnings(c *Config) []string {
	var w []string
	if c.sources[keyCursorSecret] == sourceDefault && c.Env != EnvProduction {
		w = append(w, keyCursorSecret+" is not set: cursors are signed with the public development key; set it to at least 32 random bytes before exposing this server")
	}
	if c.sources[keyAuthCaptchaSecret] != sourceDefault && c.Auth.CaptchaSecret != "" &&
		c.Auth.CaptchaProvider != captchaProviderTurnstile && c.Auth.CaptchaProvider != captchaProviderHCaptcha {
		w = append(w, keyAuthCaptchaSecret+" is set but ignored: "+keyAuthCaptchaProvider+" is neither turnstile nor hcaptcha")
	}
	if c.Env != EnvProduction {
		return w
	}
	if c.sources[keyHTTPPublicURL] == sourceDefault {
		w = append(w, keyHTTPPublicURL+" is not set: derived "+c.HTTP.PublicURL+" from "+keyHTTPAddr)
	} else if u, err := url.Parse(c.HTTP.PublicURL); err == nil && u.Scheme == "http" {
		w = append(w, keyHTTPPublicURL+" uses http in production")
	}
	if !c.RateLimit.Enabled {
		w = append(w, keyRateLimitEnabled+" is false in production: nothing limits brute-force attempts")
	}
	return w
}

// sameListenAddr reports whether two host:port addresses would collide: the same port
// (other than 0, which picks a free one) on the same host, or on a wildcard host.
func sameListenAddr(a, b string) bool {
	ah, ap, err1 := net.SplitHostPort(a)
	bh, bp, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || ap != bp || ap == "0" {
		return false
	}
	wildcard := func(h string) bool {
		ip, err := netip.ParseAddr(h)
		return h == "" || (err == nil && ip.IsUnspecified())
	}
	return ah == bh || wildcard(ah) || wildcard(bh)
}

// quote renders a non-secret value for a message, shortened if long.
func quote(s string) string {
	const max = 80
	if len(s) <= max {
		return strconv.Quote(s)
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return strconv.Quote(s[:n]) + "..."
}

// safeKey returns a variable name as is when it is a plain identifier, and
// quoted otherwise, so that a problem always fits on one line.
func safeKey(k string) string {
	for _, c := range []byte(k) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return quote(k)
		}
	}
	if len(k) > 80 {
		return quote(k)
	}
	return k
}

// suggest returns "; did you mean X?" for the candidate closest to name, or
// "" when none is close.
func suggest(name string, candidates []string) string {
	if len(name) > 64 {
		return ""
	}
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); d < bestDist || (d == bestDist && best != "" && c < best) {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return "; did you mean " + best + "?"
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// isLiveStripeKey reports whether key is a live-mode Stripe secret or restricted key.
func isLiveStripeKey(key string) bool {
	return strings.HasPrefix(key, "sk_live_") || strings.HasPrefix(key, "rk_live_")
}
