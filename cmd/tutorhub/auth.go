package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/internal/accesstoken"
	"github.com/tutorhub/tutorhub/internal/breaker"
	"github.com/tutorhub/tutorhub/internal/captcha"
	"github.com/tutorhub/tutorhub/internal/config"
	"github.com/tutorhub/tutorhub/internal/database"
	"github.com/tutorhub/tutorhub/internal/kratos"
	"github.com/tutorhub/tutorhub/internal/mail"
	"github.com/tutorhub/tutorhub/server"
)

// tokenLeeway is the clock skew tolerated on access-token times.
const tokenLeeway = 30 * time.Second

// authOptions builds the API's authentication from the configuration; revocations of
// access tokens live in rdb.
func authOptions(cfg *config.Config, rdb redis.UniversalClient, breakers *breaker.Group) (server.AuthOptions, error) {
	tokens, err := accesstoken.NewVerifier(accesstoken.Options{
		JWKSPath: cfg.Auth.AccessTokenJWKSURL,
		// Kratos signs with its configured public base_url, whatever URL the API reaches it at.
		Issuer:      cfg.Auth.TokenIssuer,
		Audience:    cfg.Auth.TokenAudience,
		MaxLifetime: cfg.Auth.TokenLifetime,
		Leeway:      tokenLeeway,
	})
	if err != nil {
		return server.AuthOptions{}, fmt.Errorf("access tokens: %w", err)
	}
	verifier, err := captcha.New(cfg.Auth.CaptchaProvider, cfg.Auth.CaptchaSecret, nil)
	if err != nil {
		return server.AuthOptions{}, err
	}
	mailer, err := mail.New(cfg.SMTP.URL, cfg.SMTP.From, mail.WithBreaker(guardOf(breakers, breakerSMTP)))
	if err != nil {
		return server.AuthOptions{}, fmt.Errorf("mail: %w", err)
	}
	return server.AuthOptions{
		Kratos: newKratos(cfg, guardOf(breakers, breakerKratos)),
		Tokens: tokens,
		// Kept until every token a revocation covers has expired, leeway included.
		Revocations:      accesstoken.NewRevocations(rdb, cfg.Redis.KeyPrefix, cfg.Auth.TokenLifetime+tokenLeeway+time.Second, nil),
		CSRFKey:          server.DeriveKey(cfg.Cursor.Secret, "tutorhub csrf key v1"),
		TokenizeTemplate: cfg.Auth.TokenizeTemplate,
		CookieSecure:     cfg.Auth.CookieSecure,
		Lockout: server.LockoutPolicy{
			Threshold:    cfg.Auth.LockoutThreshold,
			Window:       cfg.Auth.LockoutWindow,
			Base:         cfg.Auth.LockoutBase,
			Max:          cfg.Auth.LockoutMax,
			CaptchaAfter: cfg.Auth.CaptchaAfterFailures,
		},
		Captcha:           verifier,
		CaptchaOnRegister: cfg.Auth.CaptchaOnRegister,
		Limits: server.AuthRateLimits{
			Enabled: cfg.RateLimit.Enabled,
			IP:      rate(cfg.RateLimit.Auth),
			Account: rate(cfg.RateLimit.AuthAccount),
			Global:  rate(cfg.RateLimit.AuthGlobal),

			Recovery:        rate(cfg.RateLimit.Recovery),
			RecoveryAccount: rate(cfg.RateLimit.RecoveryAccount),
			IPv6Prefix:      cfg.RateLimit.IPv6Prefix,
		},
		UniformResponse: cfg.Auth.UniformResponse,
		Mail:            mailer,
		PublicURL:       cfg.HTTP.PublicURL,
	}, nil
}

// newKratos is the Kratos client; b, when set, is its circuit breaker.
func newKratos(cfg *config.Config, b *breaker.Breaker) *kratos.Client {
	return kratos.New(kratos.Options{PublicURL: cfg.Kratos.PublicURL, AdminURL: cfg.Kratos.AdminURL, Timeout: cfg.Kratos.Timeout, Breaker: b})
}

const adminUsage = `usage: tutorhub admin grant-role EMAIL ROLE
       tutorhub admin disable-user EMAIL

grant-role grants ROLE (student, tutor or admin) to the user whose sign-in email is EMAIL,
looked up in Kratos. disable-user stops that user from signing in, ends every session and
refuses the user's access tokens at once. Both are recorded in the audit log.
`

// admin runs operator commands.
func admin(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "disable-user" {
		return disableUser(ctx, args[1:], environ, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "grant-role" {
		fmt.Fprint(stderr, adminUsage)
		return exitCode(2)
	}
	fs := flag.NewFlagSet("admin grant-role", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 2 {
		fmt.Fprint(stderr, adminUsage)
		return exitCode(2)
	}
	email, role := fs.Arg(0), fs.Arg(1)
	if !slices.Contains(accounts.Roles, role) {
		fmt.Fprintf(stderr, "tutorhub: unknown role %q (student, tutor or admin)\n", role)
		return exitCode(2)
	}
	cfg, err := loadConfig(environ, stderr)
	if err != nil {
		return err
	}
	identity, err := newKratos(cfg, nil).FindIdentityByEmail(ctx, email)
	if err != nil {
		return fmt.Errorf("find %s in kratos: %w", email, err)
	}
	pool, err := database.Open(ctx, cfg.Database.URL, database.PoolOptions{MaxConns: 2})
	if err != nil {
		return err
	}
	defer pool.Close()
	id := uuid.MustParse(identity.ID)
	roles, err := accounts.New(pool, accounts.Options{}).GrantRole(ctx, id, identity.Email, role,
		map[string]string{"via": "cli", "operator": operator()})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "granted %s to %s (%s); roles now %v\n", role, email, id, roles)
	return nil
}

// disableUser runs `admin disable-user EMAIL`.
func disableUser(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admin disable-user", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprint(stderr, adminUsage)
		return exitCode(2)
	}
	email := fs.Arg(0)
	cfg, err := loadConfig(environ, stderr)
	if err != nil {
		return err
	}
	k := newKratos(cfg, nil)
	identity, err := k.FindIdentityByEmail(ctx, email)
	if err != nil {
		return fmt.Errorf("find %s in kratos: %w", email, err)
	}
	rdb, err := openRedis(cfg.Redis, nil)
	if err != nil {
		return err
	}
	defer rdb.Close()
	pool, err := database.Open(ctx, cfg.Database.URL, database.PoolOptions{MaxConns: 2})
	if err != nil {
		return err
	}
	defer pool.Close()
	revocations := accesstoken.NewRevocations(rdb, cfg.Redis.KeyPrefix, cfg.Auth.TokenLifetime+tokenLeeway+time.Second, nil)
	if err := accounts.DisableUser(ctx, k, revocations, pool, identity.ID, map[string]string{"via": "cli", "operator": operator()}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "disabled %s (%s): signed out everywhere\n", email, identity.ID)
	return nil
}

// operator names the OS account running the command, for the audit log.
func operator() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	if n := os.Getenv("USER"); n != "" {
		return n
	}
	return "unknown"
}
