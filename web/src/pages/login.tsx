import { useState } from "preact/hooks";
import { Link, navigate } from "../router";
import { login } from "../session";
import { SubmitError, TextField, useSubmit, useTitle } from "../ui";

/** Where to go after signing in: the page that asked for it, if it is one of ours. */
export function nextPath(fallback: string): string {
  const next = new URLSearchParams(location.search).get("next") ?? "";
  return next.startsWith("/") && !next.startsWith("//") ? next : fallback;
}

/** Signing in with email and password. */
export function LoginPage() {
  useTitle("Log in");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const submission = useSubmit(async () => {
    await login(email, password);
    navigate(nextPath("/me"), { replace: true });
  });
  const { errors, busy } = submission;
  return (
    <>
      <h1>Log in</h1>
      <form onSubmit={submission.onSubmit} noValidate aria-busy={busy} class="narrow">
        <SubmitError submission={submission} />
        <TextField label="Email" name="email" type="email" autoComplete="username" required value={email} onValue={setEmail} errors={errors} />
        <TextField label="Password" name="password" type="password" autoComplete="current-password" required value={password} onValue={setPassword} errors={errors} />
        <button type="submit" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
      </form>
      <p>
        <Link href="/recover">Forgot your password?</Link> · New here? <Link href="/register">Create an account</Link>
      </p>
    </>
  );
}
