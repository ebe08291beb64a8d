import { useState } from "preact/hooks";
import { Link, navigate } from "../router";
import { register } from "../session";
import { SubmitError, TextField, useSubmit, useTitle } from "../ui";

/**
 * Creating an account; the verification code is mailed, and the next page asks for it. The
 * account then logs in (registering signs nobody in, so it cannot tell whether an address
 * already had an account).
 */
export function RegisterPage() {
  useTitle("Create an account");
  const [displayName, setDisplayName] = useState("");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const submission = useSubmit(async () => {
    const flow = await register(email, password, displayName);
    navigate(`/verify?flow=${encodeURIComponent(flow)}&sent=1`, { replace: true });
  });
  const { errors, busy } = submission;
  return (
    <>
      <h1>Create an account</h1>
      <form onSubmit={submission.onSubmit} noValidate aria-busy={busy} class="narrow">
        <SubmitError submission={submission} />
        <TextField label="Your name" name="display_name" autoComplete="name" value={displayName} onValue={setDisplayName} errors={errors} hint="Shown to other users." />
        <TextField label="Email" name="email" type="email" autoComplete="email" required value={email} onValue={setEmail} errors={errors} />
        <TextField
          label="Password"
          name="password"
          type="password"
          autoComplete="new-password"
          required
          value={password}
          onValue={setPassword}
          errors={errors}
          hint="At least 8 characters, not similar to your email address."
        />
        <button type="submit" disabled={busy}>
          {busy ? "Creating your account…" : "Create account"}
        </button>
      </form>
      <p>
        Already have an account? <Link href="/login">Log in</Link>
      </p>
    </>
  );
}
