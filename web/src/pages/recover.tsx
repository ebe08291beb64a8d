import { useState } from "preact/hooks";
import { Link, navigate } from "../router";
import { completeRecovery, publicAuth } from "../session";
import { Notice, SubmitError, TextField, useSubmit, useTitle } from "../ui";

/** Recovering an account: a code is mailed, then the code and a new password sign in. */
export function RecoverPage() {
  useTitle("Recover your password");
  const [email, setEmail] = useState("");
  const [flow, setFlow] = useState("");
  const [code, setCode] = useState("");
  const [password, setPassword] = useState("");
  const start = useSubmit(async () => {
    const res = await publicAuth.startRecovery({ email });
    setFlow(res.flowId);
  });
  const complete = useSubmit(async () => {
    await completeRecovery(flow, code.trim(), password);
    navigate("/me?recovered=1", { replace: true });
  });

  return (
    <>
      <h1>Recover your password</h1>
      {!flow ? (
        <form onSubmit={start.onSubmit} noValidate aria-busy={start.busy} class="narrow">
          <SubmitError submission={start} />
          <p>Enter your email address and we will mail you a code to set a new password.</p>
          <TextField label="Email" name="email" type="email" autoComplete="email" required value={email} onValue={setEmail} errors={start.errors} />
          <button type="submit" disabled={start.busy}>
            {start.busy ? "Sending…" : "Send code"}
          </button>
        </form>
      ) : (
        <form onSubmit={complete.onSubmit} noValidate aria-busy={complete.busy} class="narrow">
          <Notice kind="info">
            <p>If {email} has an account, a six-digit code is on its way.</p>
          </Notice>
          <SubmitError submission={complete} />
          <TextField label="Recovery code" name="code" inputMode="numeric" autoComplete="one-time-code" maxLength={6} required value={code} onValue={setCode} errors={complete.errors} />
          <TextField label="New password" name="new_password" type="password" autoComplete="new-password" required value={password} onValue={setPassword} errors={complete.errors} />
          <button type="submit" disabled={complete.busy}>
            {complete.busy ? "Saving…" : "Set new password"}
          </button>
          <button type="button" class="secondary" onClick={() => setFlow("")}>
            Use another address
          </button>
        </form>
      )}
      <p>
        Remembered it? <Link href="/login">Log in</Link>
      </p>
    </>
  );
}
