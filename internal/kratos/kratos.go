// Package kratos drives Ory Kratos's API (native) flows and admin API for tutorhub, and
// translates Kratos's answers into tutorhub's domain errors: field violations for form
// errors, EUNAUTHENTICATED for bad credentials or sessions, EUNAVAILABLE when Kratos cannot
// be reached in time. Callers never see Kratos's wire format.
//
// Nothing here logs, and no error text carries a password, session token or code.
package kratos

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"
	"time"

	ory "github.com/ory/client-go"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/internal/breaker"
)

// Kratos message ids tutorhub acts on (see deploy/kratos/README.md).
const (
	msgInvalidCredentials       = 4000006
	msgIdentifierExists         = 4000007
	msgRecoveryCodeInvalid      = 4060006
	msgVerifyCodeInvalid        = 4070006
	msgSchemaViolation          = 4000001
	msgPasswordTooSimilar       = 4000031
	msgPasswordTooShort         = 4000032
	stateSentEmail              = "sent_email"
	statePassedChallenge        = "passed_challenge"
	actionSetSessionToken       = "set_ory_session_token"
	actionShowVerification      = "show_verification_ui"
	actionShowSettings          = "show_settings_ui"
	errorSessionRefreshRequired = "session_refresh_required"
)

// Client talks to one Kratos deployment. It is safe for concurrent use.
type Client struct {
	public  *ory.APIClient
	admin   *ory.APIClient
	timeout time.Duration
}

// Options locate Kratos.
type Options struct {
	// PublicURL and AdminURL are the base URLs of the public and admin APIs.
	PublicURL, AdminURL string
	// Timeout bounds every call; an exceeded timeout is EUNAVAILABLE.
	Timeout time.Duration
	// Transport overrides the HTTP transport (tests); nil uses a dedicated one.
	Transport http.RoundTripper
	// Breaker, when set, guards every call: while it is open calls fail at once with
	// EUNAVAILABLE and the seconds until the next probe.
	Breaker *breaker.Breaker
}

// New returns a client for the Kratos at o's URLs.
func New(o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	transport := o.Transport
	if transport == nil {
		transport = &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: o.Timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        100,
			MaxIdleConnsPerHost: 100,
			IdleConnTimeout:     90 * time.Second,
		}
	}
	if o.Breaker != nil {
		transport = breaker.Transport(o.Breaker, transport)
	}
	hc := &http.Client{Transport: transport, Timeout: o.Timeout}
	mk := func(base string) *ory.APIClient {
		cfg := ory.NewConfiguration()
		cfg.Servers = ory.ServerConfigurations{{URL: strings.TrimSuffix(base, "/")}}
		cfg.HTTPClient = hc
		cfg.UserAgent = "tutorhub"
		return ory.NewAPIClient(cfg)
	}
	return &Client{public: mk(o.PublicURL), admin: mk(o.AdminURL), timeout: o.Timeout}
}

// Identity is what tutorhub needs of a Kratos identity.
type Identity struct {
	ID            string
	Email         string
	Name          string
	EmailVerified bool
}

// Session is a Kratos session and, when minted, its access token.
type Session struct {
	// Token is the session token (the refresh token); empty when not known.
	Token    string
	ID       string
	Identity Identity
	// AccessToken is the JWT minted from the session, with its expiry.
	AccessToken          string
	AccessTokenExpiresAt time.Time
}

// Registration is the outcome of a successful sign-up.
type Registration struct {
	Session Session
	// VerificationFlowID is the flow of the verification code already mailed.
	VerificationFlowID string
}

// Recovery is the outcome of a successful recovery code: a new session and the settings
// flow in which the password may be changed.
type Recovery struct {
	Session        Session
	SettingsFlowID string
}

func (c *Client) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.timeout)
}

// Register creates an identity with a password and returns its first session.
func (c *Client) Register(ctx context.Context, email, password, name string) (*Registration, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	flow, res, err := c.public.FrontendAPI.CreateNativeRegistrationFlow(ctx).Execute()
	if err != nil {
		return nil, translate("create registration flow", res, err)
	}
	traits := map[string]any{"email": email}
	if name != "" {
		traits["name"] = name
	}
	body := ory.UpdateRegistrationFlowWithPasswordMethodAsUpdateRegistrationFlowBody(
		ory.NewUpdateRegistrationFlowWithPasswordMethod("password", password, traits))
	out, res, err := c.public.FrontendAPI.UpdateRegistrationFlow(ctx).Flow(flow.Id).UpdateRegistrationFlowBody(body).Execute()
	if err != nil {
		return nil, translate("register", res, err)
	}
	reg := &Registration{Session: Session{Token: out.GetSessionToken(), Identity: identityOf(&out.Identity)}}
	if s, ok := out.GetSessionOk(); ok {
		reg.Session.ID = s.Id
	}
	for _, cw := range out.ContinueWith {
		if v := cw.ContinueWithVerificationUi; v != nil {
			reg.VerificationFlowID = v.Flow.Id
		}
	}
	if reg.Session.Token == "" {
		return nil, errors.New("register: kratos returned no session token (is the session hook configured?)")
	}
	return reg, nil
}

// Login checks a password and opens a session. Bad credentials, for an unknown email as for
// a wrong password, are EUNAUTHENTICATED.
func (c *Client) Login(ctx context.Context, email, password string) (*Session, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	flow, res, err := c.public.FrontendAPI.CreateNativeLoginFlow(ctx).Execute()
	if err != nil {
		return nil, translate("create login flow", res, err)
	}
	return c.submitLogin(ctx, flow.Id, email, password, "")
}

// Reauthenticate checks the password of the session's identity and refreshes the session's
// authentication time, as privileged changes (the password) require.
func (c *Client) Reauthenticate(ctx context.Context, sessionToken, email, password string) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	flow, res, err := c.public.FrontendAPI.CreateNativeLoginFlow(ctx).Refresh(true).XSessionToken(sessionToken).Execute()
	if err != nil {
		return translate("create refresh login flow", res, err)
	}
	_, err = c.submitLogin(ctx, flow.Id, email, password, sessionToken)
	return err
}

func (c *Client) submitLogin(ctx context.Context, flowID, email, password, sessionToken string) (*Session, error) {
	body := ory.UpdateLoginFlowWithPasswordMethodAsUpdateLoginFlowBody(
		ory.NewUpdateLoginFlowWithPasswordMethod(email, "password", password))
	req := c.public.FrontendAPI.UpdateLoginFlow(ctx).Flow(flowID).UpdateLoginFlowBody(body)
	if sessionToken != "" {
		req = req.XSessionToken(sessionToken)
	}
	out, res, err := req.Execute()
	if err != nil {
		return nil, translate("login", res, err)
	}
	s := &Session{Token: out.GetSessionToken(), ID: out.Session.Id}
	if id, ok := out.Session.GetIdentityOk(); ok {
		s.Identity = identityOf(id)
	}
	return s, nil
}

// AccessToken checks that the session is alive and mints an access token from it with the
// tokenizer template. A dead or unknown session is EUNAUTHENTICATED.
func (c *Client) AccessToken(ctx context.Context, sessionToken, template string) (*Session, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	out, res, err := c.public.FrontendAPI.ToSession(ctx).XSessionToken(sessionToken).TokenizeAs(template).Execute()
	if err != nil {
		return nil, translate("whoami", res, err)
	}
	if !out.GetActive() {
		return nil, tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "session is not active")
	}
	s := &Session{Token: sessionToken, ID: out.Id, AccessToken: out.GetTokenized()}
	if id, ok := out.GetIdentityOk(); ok {
		s.Identity = identityOf(id)
	}
	if s.AccessToken == "" {
		return nil, errors.New("whoami: kratos returned no tokenized session")
	}
	exp, err := tokenExpiry(s.AccessToken)
	if err != nil {
		return nil, err
	}
	s.AccessTokenExpiresAt = exp
	return s, nil
}

// Session returns the active session of sessionToken without minting an access token. A
// dead or unknown session is EUNAUTHENTICATED.
func (c *Client) Session(ctx context.Context, sessionToken string) (*Session, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	out, res, err := c.public.FrontendAPI.ToSession(ctx).XSessionToken(sessionToken).Execute()
	if err != nil {
		return nil, translate("whoami", res, err)
	}
	if !out.GetActive() {
		return nil, tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "session is not active")
	}
	s := &Session{Token: sessionToken, ID: out.Id}
	if id, ok := out.GetIdentityOk(); ok {
		s.Identity = identityOf(id)
	}
	return s, nil
}

// Logout revokes the session of sessionToken. An already revoked session is not an error;
// a token that never existed is EUNAUTHENTICATED.
func (c *Client) Logout(ctx context.Context, sessionToken string) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	res, err := c.public.FrontendAPI.PerformNativeLogout(ctx).PerformNativeLogoutBody(*ory.NewPerformNativeLogoutBody(sessionToken)).Execute()
	if err != nil {
		return translate("logout", res, err)
	}
	return nil
}

// RevokeSession revokes one session by id (admin API).
func (c *Client) RevokeSession(ctx context.Context, sessionID string) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	res, err := c.admin.IdentityAPI.DisableSession(ctx, sessionID).Execute()
	if err != nil && !(res != nil && res.StatusCode == http.StatusNotFound) {
		return translate("disable session", res, err)
	}
	return nil
}

// RevokeAllSessions revokes every session of an identity (admin API).
func (c *Client) RevokeAllSessions(ctx context.Context, identityID string) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	res, err := c.admin.IdentityAPI.DeleteIdentitySessions(ctx, identityID).Execute()
	// 404: the identity has no active session left, which is the goal.
	if err != nil && !(res != nil && res.StatusCode == http.StatusNotFound) {
		return translate("delete identity sessions", res, err)
	}
	return nil
}

// DisableIdentity marks an identity inactive (admin API): it can no longer sign in, and its
// sessions stop being accepted. It revokes nothing by itself: see RevokeAllSessions.
func (c *Client) DisableIdentity(ctx context.Context, identityID string) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	patch := ory.NewJsonPatch("replace", "/state")
	patch.SetValue("inactive")
	_, res, err := c.admin.IdentityAPI.PatchIdentity(ctx, identityID).JsonPatch([]ory.JsonPatch{*patch}).Execute()
	if err != nil {
		return translate("disable identity", res, err)
	}
	return nil
}

// StartRecovery mails a recovery code to email if it belongs to an identity; the answer is
// the same when it does not.
func (c *Client) StartRecovery(ctx context.Context, email string) (flowID string, err error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	flow, res, err := c.public.FrontendAPI.CreateNativeRecoveryFlow(ctx).Execute()
	if err != nil {
		return "", translate("create recovery flow", res, err)
	}
	m := ory.NewUpdateRecoveryFlowWithCodeMethod("code")
	m.SetEmail(email)
	_, res, err = c.public.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(flow.Id).
		UpdateRecoveryFlowBody(ory.UpdateRecoveryFlowWithCodeMethodAsUpdateRecoveryFlowBody(m)).Execute()
	if err != nil {
		return "", translate("send recovery code", res, err)
	}
	return flow.Id, nil
}

// CompleteRecovery submits a recovery code. A wrong, used or expired code is EINVALID on
// field "code"; a burnt flow is EPRECONDITION.
func (c *Client) CompleteRecovery(ctx context.Context, flowID, code string) (*Recovery, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	m := ory.NewUpdateRecoveryFlowWithCodeMethod("code")
	m.SetCode(code)
	out, res, err := c.public.FrontendAPI.UpdateRecoveryFlow(ctx).Flow(flowID).
		UpdateRecoveryFlowBody(ory.UpdateRecoveryFlowWithCodeMethodAsUpdateRecoveryFlowBody(m)).Execute()
	if err != nil {
		return nil, translate("submit recovery code", res, err)
	}
	if out.State != statePassedChallenge {
		return nil, flowMessagesError(out.Ui.Messages, out.Ui.Nodes)
	}
	rec := &Recovery{}
	for _, cw := range out.ContinueWith {
		if v := cw.ContinueWithSetOrySessionToken; v != nil {
			rec.Session.Token = v.OrySessionToken
		}
		if v := cw.ContinueWithSettingsUi; v != nil {
			rec.SettingsFlowID = v.Flow.Id
		}
	}
	if rec.Session.Token == "" || rec.SettingsFlowID == "" {
		return nil, errors.New("submit recovery code: kratos returned no session or settings flow (is use_continue_with_transitions on?)")
	}
	return rec, nil
}

// StartVerification mails a verification code to email if it belongs to an identity; the
// answer is the same when it does not.
func (c *Client) StartVerification(ctx context.Context, email string) (flowID string, err error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	flow, res, err := c.public.FrontendAPI.CreateNativeVerificationFlow(ctx).Execute()
	if err != nil {
		return "", translate("create verification flow", res, err)
	}
	m := ory.NewUpdateVerificationFlowWithCodeMethod("code")
	m.SetEmail(email)
	_, res, err = c.public.FrontendAPI.UpdateVerificationFlow(ctx).Flow(flow.Id).
		UpdateVerificationFlowBody(ory.UpdateVerificationFlowWithCodeMethodAsUpdateVerificationFlowBody(m)).Execute()
	if err != nil {
		return "", translate("send verification code", res, err)
	}
	return flow.Id, nil
}

// NewVerificationFlow starts a verification flow and mails nothing: a flow id that looks
// like one StartVerification returns, for answers that must not tell whether an address has
// an account. Any code submitted to it is refused like a wrong code.
func (c *Client) NewVerificationFlow(ctx context.Context) (flowID string, err error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	flow, res, err := c.public.FrontendAPI.CreateNativeVerificationFlow(ctx).Execute()
	if err != nil {
		return "", translate("create verification flow", res, err)
	}
	return flow.Id, nil
}

// CompleteVerification submits a verification code. A wrong or used code is EINVALID on
// field "code"; a burnt or finished flow is EPRECONDITION.
func (c *Client) CompleteVerification(ctx context.Context, flowID, code string) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	m := ory.NewUpdateVerificationFlowWithCodeMethod("code")
	m.SetCode(code)
	out, res, err := c.public.FrontendAPI.UpdateVerificationFlow(ctx).Flow(flowID).
		UpdateVerificationFlowBody(ory.UpdateVerificationFlowWithCodeMethodAsUpdateVerificationFlowBody(m)).Execute()
	if err != nil {
		return translate("submit verification code", res, err)
	}
	if out.GetState() != statePassedChallenge {
		return flowMessagesError(out.Ui.Messages, out.Ui.Nodes)
	}
	return nil
}

// SetPassword sets a new password through a settings flow of the session; settingsFlowID
// may be empty to start one. The session must be privileged (recent login or recovery):
// EPRECONDITION otherwise. A password the policy refuses is EINVALID on field "password".
func (c *Client) SetPassword(ctx context.Context, sessionToken, settingsFlowID, password string) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	if settingsFlowID == "" {
		flow, res, err := c.public.FrontendAPI.CreateNativeSettingsFlow(ctx).XSessionToken(sessionToken).Execute()
		if err != nil {
			return translate("create settings flow", res, err)
		}
		settingsFlowID = flow.Id
	}
	body := ory.UpdateSettingsFlowWithPasswordMethodAsUpdateSettingsFlowBody(ory.NewUpdateSettingsFlowWithPasswordMethod("password", password))
	out, res, err := c.public.FrontendAPI.UpdateSettingsFlow(ctx).Flow(settingsFlowID).XSessionToken(sessionToken).UpdateSettingsFlowBody(body).Execute()
	if err != nil {
		return translate("set password", res, err)
	}
	if out.State != "success" {
		return flowMessagesError(out.Ui.Messages, out.Ui.Nodes)
	}
	return nil
}

// FindIdentityByEmail looks an identity up by its email identifier (admin API); ENOTFOUND
// when none has it.
func (c *Client) FindIdentityByEmail(ctx context.Context, email string) (*Identity, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	out, res, err := c.admin.IdentityAPI.ListIdentities(ctx).CredentialsIdentifier(strings.ToLower(strings.TrimSpace(email))).Execute()
	if err != nil {
		return nil, translate("list identities", res, err)
	}
	if len(out) == 0 {
		return nil, tutorhub.Errorf(tutorhub.ENOTFOUND, "no identity with that email")
	}
	id := identityOf(&out[0])
	return &id, nil
}

func identityOf(id *ory.Identity) Identity {
	out := Identity{ID: id.Id}
	if traits, ok := id.Traits.(map[string]any); ok {
		out.Email, _ = traits["email"].(string)
		out.Name, _ = traits["name"].(string)
	}
	for _, a := range id.VerifiableAddresses {
		if strings.EqualFold(a.Value, out.Email) && a.Verified {
			out.EmailVerified = true
		}
	}
	return out
}

// tokenExpiry reads the exp claim of a JWT without verifying it: the token comes straight
// from Kratos, and the expiry is only reported to the client.
func tokenExpiry(jwt string) (time.Time, error) {
	claims, err := unverifiedClaims(jwt)
	if err != nil {
		return time.Time{}, fmt.Errorf("access token from kratos: %w", err)
	}
	return time.Unix(claims.Exp, 0).UTC(), nil
}

// --- error translation -------------------------------------------------------------------

// wireMessage is a ui message of a flow.
type wireMessage struct {
	ID      int64          `json:"id"`
	Text    string         `json:"text"`
	Type    string         `json:"type"`
	Context map[string]any `json:"context"`
}

// wireBody is every shape of a Kratos error answer: a flow with ui messages, or an error.
type wireBody struct {
	UI struct {
		Messages []wireMessage `json:"messages"`
		Nodes    []struct {
			Attributes struct {
				Name string `json:"name"`
			} `json:"attributes"`
			Messages []wireMessage `json:"messages"`
		} `json:"nodes"`
	} `json:"ui"`
	Error struct {
		ID     string `json:"id"`
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	} `json:"error"`
}

// translate turns a failed client-go call into a domain error. The text of wrapped internal
// errors names the call and status only.
func translate(op string, res *http.Response, err error) error {
	var open *breaker.OpenError
	if errors.As(err, &open) {
		return &tutorhub.Error{Code: tutorhub.EUNAVAILABLE, Message: "identity service unavailable; retry later",
			RetryAfterSeconds: max(1, int(math.Ceil(open.RetryAfter.Seconds())))}
	}
	var netErr net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		// A second is a hint, not a promise: by then the breaker may be open and say how long.
		return &tutorhub.Error{Code: tutorhub.EUNAVAILABLE, Message: "identity service did not answer in time", RetryAfterSeconds: 1}
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	if res == nil {
		// No HTTP answer at all: connection refused, DNS failure, reset.
		return &tutorhub.Error{Code: tutorhub.EUNAVAILABLE, Message: "identity service unavailable", RetryAfterSeconds: 1}
	}
	var body []byte
	var oe *ory.GenericOpenAPIError
	if errors.As(err, &oe) {
		body = oe.Body()
	} else {
		var ov ory.GenericOpenAPIError
		if errors.As(err, &ov) {
			body = ov.Body()
		}
	}
	var w wireBody
	_ = json.Unmarshal(body, &w)
	status := res.StatusCode
	switch {
	case status >= 500:
		return &tutorhub.Error{Code: tutorhub.EUNAVAILABLE, Message: "identity service unavailable"}
	case status == http.StatusGone:
		return tutorhub.Errorf(tutorhub.EPRECONDITION, "the flow has expired or was used up; start over")
	case status == http.StatusUnauthorized:
		return tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "the session is invalid, expired or revoked")
	case status == http.StatusForbidden && w.Error.ID == errorSessionRefreshRequired:
		return tutorhub.Errorf(tutorhub.EPRECONDITION, "the sign-in is too old for this change; sign in again")
	case status == http.StatusForbidden && strings.Contains(op, "logout"):
		return tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "the session is invalid, expired or revoked")
	case status == http.StatusNotFound && (strings.Contains(op, "code") || strings.Contains(op, "flow")):
		return tutorhub.Invalid("flow_id", "flow.exists", "no such flow; start over")
	case status == http.StatusBadRequest && len(body) > 0 && (len(w.UI.Messages) > 0 || len(w.UI.Nodes) > 0):
		return flowError(w)
	case status == http.StatusBadRequest && strings.Contains(w.Error.Reason, "flow query parameter"):
		return tutorhub.Invalid("flow_id", "flow.exists", "no such flow; start over")
	}
	return fmt.Errorf("kratos %s: unexpected status %d (%s)", op, status, w.Error.ID)
}

// flowMessagesError is flowError for a flow client-go already decoded.
func flowMessagesError(msgs []ory.UiText, nodes []ory.UiNode) error {
	var w wireBody
	for _, m := range msgs {
		w.UI.Messages = append(w.UI.Messages, wireMessage{ID: m.Id, Text: m.Text, Type: m.Type})
	}
	for _, n := range nodes {
		name := ""
		if a := n.Attributes.UiNodeInputAttributes; a != nil {
			name = a.Name
		}
		var nm []wireMessage
		for _, m := range n.Messages {
			nm = append(nm, wireMessage{ID: m.Id, Text: m.Text, Type: m.Type})
		}
		w.UI.Nodes = append(w.UI.Nodes, struct {
			Attributes struct {
				Name string `json:"name"`
			} `json:"attributes"`
			Messages []wireMessage `json:"messages"`
		}{Attributes: struct {
			Name string `json:"name"`
		}{Name: name}, Messages: nm})
	}
	return flowError(w)
}

// fieldNames maps Kratos form fields to the API's request fields.
var fieldNames = map[string]string{
	"traits.email": "email",
	"email":        "email",
	"identifier":   "email",
	"password":     "password",
	"traits.name":  "display_name",
	"code":         "code",
}

// flowError maps the messages of a refused flow submission to one domain error.
func flowError(w wireBody) error {
	var violations []tutorhub.Violation
	for _, n := range w.UI.Nodes {
		for _, m := range n.Messages {
			if m.Type != "error" && m.Type != "" {
				continue
			}
			field, ok := fieldNames[n.Attributes.Name]
			if !ok {
				field = n.Attributes.Name
			}
			violations = append(violations, tutorhub.Violation{Field: field, Rule: ruleOf(m.ID), Message: m.Text})
		}
	}
	for _, m := range w.UI.Messages {
		if m.Type != "error" && m.Type != "" {
			continue
		}
		switch m.ID {
		case msgInvalidCredentials:
			return tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "the email or password is wrong")
		case msgIdentifierExists:
			return tutorhub.Errorf(tutorhub.EEXISTS, "this email cannot be registered; sign in or recover the account")
		case msgRecoveryCodeInvalid, msgVerifyCodeInvalid:
			violations = append(violations, tutorhub.Violation{Field: "code", Rule: "code.valid", Message: "the code is wrong, expired or already used"})
		default:
			violations = append(violations, tutorhub.Violation{Field: "", Rule: ruleOf(m.ID), Message: m.Text})
		}
	}
	if len(violations) == 0 {
		return fmt.Errorf("kratos: flow refused without an error message")
	}
	return &tutorhub.Error{Code: tutorhub.EINVALID, Message: "invalid request", Violations: violations}
}

func ruleOf(id int64) string {
	switch id {
	case msgPasswordTooShort:
		return "password.min_len"
	case msgPasswordTooSimilar:
		return "password.similar_to_identifier"
	case msgSchemaViolation:
		return "schema"
	case msgRecoveryCodeInvalid, msgVerifyCodeInvalid:
		return "code.valid"
	}
	return fmt.Sprintf("kratos.%d", id)
}

type jwtClaims struct {
	Exp int64 `json:"exp"`
}

func unverifiedClaims(jwt string) (*jwtClaims, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("jwt payload: %w", err)
	}
	var c jwtClaims
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("jwt payload: %w", err)
	}
	return &c, nil
}
