// The signed-in session. The refresh token (the identity server's session token) lives only
// in the API's HttpOnly tutorhub_session cookie; this module holds the short-lived access
// token in memory, renews it silently before it expires, and attaches it to API calls.
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { AuthService, type Tokens } from "@gen/tutorhub/v1/auth_pb";

/** Where the session stands, for the pages to render. */
export type SessionState =
  | { status: "loading" }
  | { status: "signed-out" }
  | { status: "signed-in"; userId: string };

let state: SessionState = { status: "loading" };
let accessToken = "";
let expiresAt = 0; // ms since the epoch
let renewTimer: ReturnType<typeof setTimeout> | undefined;
let renewing: Promise<boolean> | undefined;
const listeners = new Set<() => void>();

/** The session's current state. */
export function sessionState(): SessionState {
  return state;
}

/** Calls listener whenever the session state changes; returns the unsubscribe function. */
export function onSessionChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function setState(next: SessionState) {
  state = next;
  for (const listener of listeners) listener();
}

/**
 * The value of the readable CSRF cookie the API pairs with its session cookie: named
 * __Host-tutorhub_csrf when the API sets secure cookies (production), tutorhub_csrf otherwise.
 */
function csrfToken(): string {
  for (const part of document.cookie.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === "__Host-tutorhub_csrf" || name === "tutorhub_csrf") return decodeURIComponent(value.join("="));
  }
  return "";
}

/**
 * Echoes the CSRF cookie in the X-CSRF-Token header, which the API requires whenever its
 * session cookie stands in for a session token (double-submit defence).
 */
export const csrfInterceptor: Interceptor = (next) => async (req) => {
  const token = csrfToken();
  if (token) req.header.set("X-CSRF-Token", token);
  return next(req);
};

/** Calls that must not wait for, or trigger, a renewal of the access token. */
const unauthenticatedProcedures = new Set(
  ["Register", "Login", "Refresh", "StartRecovery", "CompleteRecovery", "StartVerification", "CompleteVerification"].map(
    (m) => `/${AuthService.typeName}/${m}`,
  ),
);

/**
 * Sends the access token as a bearer token, renewing it first when it is about to expire,
 * and once more after an UNAUTHENTICATED answer (the token may have been revoked early).
 */
export const authInterceptor: Interceptor = (next) => async (req) => {
  if (unauthenticatedProcedures.has(new URL(req.url).pathname)) return next(req);
  if (accessToken && Date.now() > expiresAt - 10_000) await renew();
  if (accessToken) req.header.set("Authorization", `Bearer ${accessToken}`);
  try {
    return await next(req);
  } catch (err) {
    if (!accessToken || ConnectError.from(err).code !== Code.Unauthenticated) throw err;
    if (!(await renew())) throw err;
    req.header.set("Authorization", `Bearer ${accessToken}`);
    return next(req);
  }
};

// Same-origin fetches carry the session cookie by default.
const auth = createClient(AuthService, createConnectTransport({ baseUrl: location.origin, interceptors: [csrfInterceptor] }));

function accept(userId: string, token: string, expires: Timestamp | undefined) {
  accessToken = token;
  expiresAt = expires ? timestampDate(expires).getTime() : Date.now() + 60_000;
  scheduleRenewal();
  if (state.status !== "signed-in" || state.userId !== userId) setState({ status: "signed-in", userId });
}

function forget() {
  accessToken = "";
  expiresAt = 0;
  clearTimeout(renewTimer);
  if (state.status !== "signed-out") setState({ status: "signed-out" });
}

// Renew at four fifths of the token's remaining life, so a slow network still beats expiry.
function scheduleRenewal() {
  clearTimeout(renewTimer);
  const delay = Math.max(5_000, (expiresAt - Date.now()) * 0.8);
  renewTimer = setTimeout(() => void renew(), delay);
}

/** The user id carried in an access token (its "sub" claim); the token is not verified here. */
function subjectOf(token: string): string {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return String(JSON.parse(atob(payload)).sub ?? "");
  } catch {
    return "";
  }
}

/**
 * Mints a new access token from the session cookie. Resolves false, and signs out, when the
 * session is gone; concurrent callers share one request.
 */
export function renew(): Promise<boolean> {
  renewing ??= (async () => {
    try {
      const res = await auth.refresh({});
      accept(subjectOf(res.accessToken), res.accessToken, res.accessTokenExpiresAt);
      return true;
    } catch (err) {
      const code = ConnectError.from(err).code;
      if (code === Code.Unauthenticated || code === Code.InvalidArgument || code === Code.PermissionDenied) {
        forget();
        return false;
      }
      // A network failure or an outage is not a sign-out: keep the state and retry later.
      if (state.status === "loading") setState({ status: "signed-out" });
      else renewTimer = setTimeout(() => void renew(), 15_000);
      return false;
    } finally {
      renewing = undefined;
    }
  })();
  return renewing;
}

/**
 * Resumes the session of a previous page load. Without the CSRF cookie, which the API sets
 * together with the session cookie, there is no session to resume and nothing to ask.
 */
export function resume(): Promise<boolean> {
  if (!csrfToken()) {
    setState({ status: "signed-out" });
    return Promise.resolve(false);
  }
  return renew();
}

// A tab that slept past the renewal time renews as soon as it is visible again.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && accessToken && Date.now() > expiresAt - 30_000) void renew();
});

function signIn(userId: string, tokens: Tokens | undefined) {
  accept(userId, tokens?.accessToken ?? "", tokens?.accessTokenExpiresAt);
}

/** Signs in with a password; the API sets the session cookie. */
export async function login(email: string, password: string) {
  const res = await auth.login({ email, password, useCookie: true });
  signIn(res.userId, res.tokens);
}

/**
 * Creates an account; returns the verification flow of the mailed code. It signs nobody in:
 * the API answers alike whether or not the address already has an account, so the new
 * account logs in with its password afterwards.
 */
export async function register(email: string, password: string, displayName: string): Promise<string> {
  const res = await auth.register({ email, password, displayName, useCookie: true });
  return res.verificationFlowId;
}

/** Sets a new password with a mailed recovery code, which signs the account in. */
export async function completeRecovery(flowId: string, code: string, newPassword: string) {
  const res = await auth.completeRecovery({ flowId, code, newPassword, useCookie: true });
  signIn(res.userId, res.tokens);
}

/**
 * Replaces the password; the API ends every other session and returns a new access token
 * for this one.
 */
export async function changePassword(currentPassword: string, newPassword: string) {
  if (accessToken && Date.now() > expiresAt - 10_000) await renew();
  const res = await auth.changePassword(
    { currentPassword, newPassword },
    { headers: { Authorization: `Bearer ${accessToken}` } },
  );
  if (state.status === "signed-in") accept(state.userId, res.accessToken, res.accessTokenExpiresAt);
}

/** Ends the session: the API revokes it and clears the cookie. */
export async function logout() {
  try {
    await auth.logout({}, accessToken ? { headers: { Authorization: `Bearer ${accessToken}` } } : {});
  } finally {
    forget();
  }
}

/** The unauthenticated AuthService calls (recovery and verification codes). */
export const publicAuth = auth;
