// Claims of the short-lived access token Kratos mints from a session
// (GET /sessions/whoami?tokenize_as=access_token). Kratos already sets
// jti, iss, sub (identity id), sid (session id), iat, nbf and exp.
local claims = std.extVar('claims');
local session = std.extVar('session');
local email = session.identity.traits.email;
local verified = [
  a for a in std.get(session.identity, 'verifiable_addresses', [])
  if a.via == 'email' && std.asciiLower(a.value) == std.asciiLower(email) && a.verified
];

{
  claims: claims {
    session_id: session.id,
    email: email,
    email_verified: std.length(verified) > 0,
    aal: session.authenticator_assurance_level,
  },
}
