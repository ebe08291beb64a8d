// Claims of the short-lived access token Kratos mints from a session
// (GET /sessions/whoami?tokenize_as=access_token). Kratos already sets
// jti, iss (its public base_url), sub (identity id), sid (session id), iat, nbf and exp.
// aud names the API the token is for; it must equal TUTORHUB_AUTH_TOKEN_AUDIENCE (Kratos's
// sandboxed jsonnet reads no environment, so the value is written here once).
local claims = std.extVar('claims');
local session = std.extVar('session');
local email = session.identity.traits.email;
local verified = [
  a for a in std.get(session.identity, 'verifiable_addresses', [])
  if a.via == 'email' && std.asciiLower(a.value) == std.asciiLower(email) && a.verified
];

{
  claims: claims {
    aud: 'tutorhub',
    session_id: session.id,
    email: email,
    email_verified: std.length(verified) > 0,
    aal: session.authenticator_assurance_level,
  },
}
