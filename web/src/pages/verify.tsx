import { useState } from "preact/hooks";
import { userClient } from "../api";
import { Link, navigate, useLocation } from "../router";
import { publicAuth } from "../session";
import { Notice, SubmitError, TextField, useSubmit, useTitle } from "../ui";
import { useSession } from "../use-session";

/** Entering the mailed verification code; or asking for a new one. */
export function VerifyPage() {
  useTitle("Verify your email");
  const loc = useLocation();
  const flow = loc.searchParams.get("flow") ?? "";
  const [code, setCode] = useState("");
  const [verified, setVerified] = useState(false);
  const session = useSession();
  const verify = useSubmit(async () => {
    await publicAuth.completeVerification({ flowId: flow, code: code.trim() });
    setVerified(true);
  });

  if (verified) {
    return (
      <>
        <h1>Email verified</h1>
        <Notice kind="success">
          <p>Your email address is verified.</p>
        </Notice>
        {session.status === "signed-in" ? (
          <p>
            <Link href="/me">Go to your profile</Link> or <Link href="/me/tutor">become a tutor</Link>.
          </p>
        ) : (
          <p>
            <Link href="/login?next=%2Fme">Log in</Link> with your email and password.
          </p>
        )}
      </>
    );
  }
  return (
    <>
      <h1>Verify your email</h1>
      {flow ? (
        <>
          {loc.searchParams.get("sent") && (
            <Notice kind="info">
              <p>A mail is on its way to your address: enter the six-digit code from it below.</p>
            </Notice>
          )}
          <form onSubmit={verify.onSubmit} noValidate aria-busy={verify.busy} class="narrow">
            <SubmitError submission={verify} />
            <TextField
              label="Verification code"
              name="code"
              inputMode="numeric"
              autoComplete="one-time-code"
              maxLength={6}
              required
              value={code}
              onValue={setCode}
              errors={verify.errors}
            />
            <button type="submit" disabled={verify.busy}>
              {verify.busy ? "Verifying…" : "Verify"}
            </button>
          </form>
        </>
      ) : (
        <p>Ask for a verification code below; it is valid for a limited time.</p>
      )}
      <ResendCode />
    </>
  );
}

/** Mails a new code and moves the page to its flow. */
function ResendCode() {
  const session = useSession();
  const [email, setEmail] = useState("");
  const resend = useSubmit(async () => {
    let address = email;
    if (!address && session.status === "signed-in") {
      address = (await userClient.getMe({})).user?.email ?? "";
    }
    const res = await publicAuth.startVerification({ email: address });
    navigate(`/verify?flow=${encodeURIComponent(res.flowId)}&sent=1`, { replace: true });
  });
  return (
    <section aria-labelledby="resend-heading">
      <h2 id="resend-heading">Need a new code?</h2>
      <form onSubmit={resend.onSubmit} noValidate aria-busy={resend.busy} class="narrow">
        <SubmitError submission={resend} />
        {session.status !== "signed-in" && (
          <TextField label="Email" name="email" type="email" autoComplete="email" value={email} onValue={setEmail} errors={resend.errors} />
        )}
        <button type="submit" class="secondary" disabled={resend.busy}>
          {resend.busy ? "Sending…" : "Send a new code"}
        </button>
      </form>
    </section>
  );
}
