#!/usr/bin/env bash
# Walks every Kratos flow tutorhub's AuthService relies on, against a running local stack
# (deploy/local/up.sh), and fails on the first answer that differs from README.md.
# It leaves one throwaway identity behind (smoke-<random>@example.com).
#
# Usage: deploy/kratos/smoke.sh        needs curl and jq
# Environment: TUTORHUB_KRATOS_PUBLIC_PORT (4433) TUTORHUB_KRATOS_ADMIN_PORT (4434)
#              TUTORHUB_MAILPIT_HTTP_PORT (8025)
set -euo pipefail

public=http://127.0.0.1:${TUTORHUB_KRATOS_PUBLIC_PORT:-4433}
admin=http://127.0.0.1:${TUTORHUB_KRATOS_ADMIN_PORT:-4434}
mailpit=http://127.0.0.1:${TUTORHUB_MAILPIT_HTTP_PORT:-8025}
email=smoke-$(od -An -vtx1 -N6 /dev/urandom | tr -d ' \n')@example.com
password='correct horse battery staple'
new_password='a brand new passphrase 42'

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# call METHOD URL [BODY] [SESSION_TOKEN]: sets $status and $body. Accept: application/json
# matters: without it Kratos treats curl as a browser and answers some calls with 303.
call() {
  local args=(-sS -X "$1" -H 'Accept: application/json' -w '\n%{http_code}' "$2")
  [ -z "${3:-}" ] || args+=(-H 'Content-Type: application/json' -d "$3")
  [ -z "${4:-}" ] || args+=(-H "X-Session-Token: $4")
  local out
  out=$(curl "${args[@]}")
  status=${out##*$'\n'}
  body=${out%$'\n'*}
}

expect() { # STATUS JQ_FILTER: the filter must yield true on $body
  [ "$status" = "$1" ] || fail "expected HTTP $1, got $status: $body"
  [ "$(jq -r "$2" <<<"$body")" = true ] || fail "expected $2 on: $body"
}

new_flow() { # KIND [SESSION_TOKEN]: prints the id of a new API flow
  call GET "$public/self-service/$1/api" "" "${2:-}"
  expect 200 '.type == "api"'
  jq -r .id <<<"$body"
}

# mail_code SUBJECT: the code in the newest mail to $email with SUBJECT. Mailpit's to: is a
# substring match, so the address is checked exactly too.
mail_code() {
  local deadline=$((SECONDS + 10)) id
  while [ "$SECONDS" -lt "$deadline" ]; do
    id=$(curl -sS -G "$mailpit/api/v1/search" --data-urlencode "query=to:\"$email\" subject:\"$1\"" |
      jq -r --arg to "$email" '[.messages[] | select(any(.To[]; .Address == $to))][0].ID // empty')
    if [ -n "$id" ]; then
      curl -sS "$mailpit/api/v1/message/$id" | jq -r '.Text' | grep -oE '^[0-9]{6}' | head -n 1
      return
    fi
    sleep 0.2
  done
  fail "no mail \"$1\" to $email within 10s"
}

whoami_status() { # SESSION_TOKEN
  curl -sS -o /dev/null -w '%{http_code}' -H "X-Session-Token: $1" "$public/sessions/whoami"
}

login() { # PASSWORD: sets $token
  local flow
  flow=$(new_flow login)
  call POST "$public/self-service/login?flow=$flow" "$(jq -nc --arg i "$email" --arg p "$1" '{method:"password",identifier:$i,password:$p}')"
  expect 200 '.session_token | startswith("ory_st_")'
  token=$(jq -r .session_token <<<"$body")
}

step "registration with password returns a session token ($email)"
flow=$(new_flow registration)
call POST "$public/self-service/registration?flow=$flow" \
  "$(jq -nc --arg e "$email" --arg p "$password" '{method:"password",password:$p,traits:{email:$e,name:"Smoke Test"}}')"
expect 200 '.session_token != null and .identity.verifiable_addresses[0].verified == false'
identity=$(jq -r .identity.id <<<"$body")
registration_token=$(jq -r .session_token <<<"$body")
verification_flow=$(jq -r '.continue_with[] | select(.action == "show_verification_ui") | .flow.id' <<<"$body")
echo "identity $identity, verification flow $verification_flow"

step "duplicate email and weak passwords are rejected"
flow=$(new_flow registration)
call POST "$public/self-service/registration?flow=$flow" "$(jq -nc --arg e "$email" '{method:"password",password:"another fine passphrase",traits:{email:$e}}')"
expect 400 '.ui.messages[0].id == 4000007'
call POST "$public/self-service/registration?flow=$flow" '{"method":"password","password":"short","traits":{"email":"someone.else@example.com"}}'
expect 400 '[.ui.nodes[] | select(.attributes.name == "password") | .messages[].id] == [4000032]'

step "verification: the code mailed at registration completes the flow from continue_with"
code=$(mail_code "Please verify your email address")
call POST "$public/self-service/verification?flow=$verification_flow" '{"method":"code","code":"000000"}'
expect 200 '.state == "sent_email" and .ui.messages[0].id == 4070006'
call POST "$public/self-service/verification?flow=$verification_flow" "$(jq -nc --arg c "$code" '{method:"code",code:$c}')"
expect 200 '.state == "passed_challenge"'
call GET "$admin/admin/identities/$identity"
expect 200 '.verifiable_addresses[0].verified == true'

step "login: wrong password, then the right one"
flow=$(new_flow login)
call POST "$public/self-service/login?flow=$flow" "$(jq -nc --arg i "$email" '{method:"password",identifier:$i,password:"not the password"}')"
expect 400 '.ui.messages[0].id == 4000006'
login "$password"
login_token=$token

step "whoami mints an ES256 access token"
call GET "$public/sessions/whoami?tokenize_as=access_token" "" "$login_token"
expect 200 '.tokenized | split(".") | length == 3'
jwt_part() { jq -r --argjson i "$1" '.tokenized | split(".")[$i] | gsub("-"; "+") | gsub("_"; "/") | . + ("=" * ((4 - length % 4) % 4)) | @base64d' <<<"$body"; }
jwt_part 0 | jq -c .
claims=$(jwt_part 1)
jq -c . <<<"$claims"
[ "$(jq -r --arg e "$email" --arg s "$(jq -r .id <<<"$body")" \
  '.email == $e and .email_verified and .session_id == $s and .sid == $s and .exp - .iat == 600' <<<"$claims")" = true ] ||
  fail "unexpected claims"

step "recovery by code returns a session token and a settings flow"
flow=$(new_flow recovery)
call POST "$public/self-service/recovery?flow=$flow" "$(jq -nc --arg e "$email" '{method:"code",email:$e}')"
expect 200 '.state == "sent_email"'
code=$(mail_code "Recover access to your account")
call POST "$public/self-service/recovery?flow=$flow" "$(jq -nc --arg c "$code" '{method:"code",code:$c}')"
expect 200 '.state == "passed_challenge"'
recovery_token=$(jq -r '.continue_with[] | select(.action == "set_ory_session_token") | .ory_session_token' <<<"$body")
settings_flow=$(jq -r '.continue_with[] | select(.action == "show_settings_ui") | .flow.id' <<<"$body")
[ "$(whoami_status "$login_token")" = 401 ] || fail "recovery left other sessions active"

step "settings: set a new password with the recovery session"
call POST "$public/self-service/settings?flow=$settings_flow" "$(jq -nc --arg p "$new_password" '{method:"password",password:$p}')" "$recovery_token"
expect 200 '.state == "success"'
login "$new_password"

step "admin: list and revoke the identity's sessions"
call GET "$admin/admin/identities/$identity/sessions?active=true"
expect 200 'length >= 2'
call DELETE "$admin/admin/identities/$identity/sessions"
[ "$status" = 204 ] || fail "revoke sessions: HTTP $status $body"
[ "$(whoami_status "$token")" = 401 ] || fail "session survived revocation"
[ "$(whoami_status "$registration_token")" = 401 ] || fail "registration session survived revocation"

step "logout with the session token"
login "$new_password"
call DELETE "$public/self-service/logout/api" "$(jq -nc --arg t "$token" '{session_token:$t}')"
[ "$status" = 204 ] || fail "logout: HTTP $status $body"
[ "$(whoami_status "$token")" = 401 ] || fail "session survived logout"

printf '\nall Kratos flows behave as documented\n'
