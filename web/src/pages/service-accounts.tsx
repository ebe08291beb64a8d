import { timestampDate, timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { ServiceAccount, ServiceAccountKey } from "@gen/tutorhub/v1/service_account_pb";
import { useState } from "preact/hooks";
import { serviceAccountClient } from "../api";
import { describe } from "../errors";
import { CheckboxGroup, LoadError, Loading, Notice, SubmitError, TextField, useLoad, useSubmit, useTitle } from "../ui";

/** The scopes a key can hold, as ServiceAccountService documents them. */
const scopes = [
  { value: "tutors:read", label: "tutors:read: read published tutor profiles" },
  { value: "search:read", label: "search:read: search tutors" },
  { value: "subjects:read", label: "subjects:read: read the subject catalogue" },
  { value: "users:read", label: "users:read: read public user profiles" },
  { value: "uploads:write", label: "uploads:write: reserved" },
];

const when = (t?: Timestamp) => (t ? timestampDate(t).toLocaleString() : "");

/** Admins create service accounts and their API keys, list them and revoke them. */
export function ServiceAccountsPage() {
  useTitle("Service accounts");
  const [load, reload] = useLoad(() => serviceAccountClient.listServiceAccounts({ pageSize: 100 }), []);
  return (
    <>
      <h1>Service accounts</h1>
      <p class="muted">
        Backend services call the API with a service account's key, sent as <code>Authorization: Bearer thk_…</code>.
      </p>
      <CreateAccount onCreated={reload} />
      {load.status === "loading" && <Loading what="Loading service accounts" />}
      {load.status === "error" && <LoadError error={load.error} retry={reload} />}
      {load.status === "ok" && load.data.serviceAccounts.length === 0 && <p class="empty">No service accounts yet.</p>}
      {load.status === "ok" && (
        <ul class="cards" aria-label="Service accounts">
          {load.data.serviceAccounts.map((a) => (
            <Account key={a.id} account={a} onChange={reload} />
          ))}
        </ul>
      )}
    </>
  );
}

function CreateAccount({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState("");
  const [perMinute, setPerMinute] = useState("");
  const submit = useSubmit(async () => {
    await serviceAccountClient.createServiceAccount({ name, requestsPerMinute: perMinute ? Number(perMinute) : 0 });
    setName("");
    setPerMinute("");
    onCreated();
  });
  return (
    <form onSubmit={submit.onSubmit} aria-label="New service account">
      <h2>New service account</h2>
      <TextField label="Name" name="name" value={name} onValue={setName} errors={submit.errors} maxLength={100} required />
      <TextField
        label="Requests per minute, per key"
        name="requests_per_minute"
        hint="Empty for the default (600)."
        value={perMinute}
        onValue={setPerMinute}
        errors={submit.errors}
        inputMode="numeric"
      />
      <SubmitError submission={submit} />
      <button type="submit" disabled={submit.busy}>
        {submit.busy ? "Creating…" : "Create service account"}
      </button>
    </form>
  );
}

function Account({ account, onChange }: { account: ServiceAccount; onChange: () => void }) {
  const [error, setError] = useState<unknown>(undefined);
  const disable = async () => {
    if (!confirm(`Disable ${account.name}? All its keys stop working.`)) return;
    try {
      await serviceAccountClient.disableServiceAccount({ serviceAccountId: account.id });
      onChange();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <li class="card">
      <h2 class="card-title">{account.name}</h2>
      <p class="muted">
        {account.disableTime ? `Disabled ${when(account.disableTime)}` : "Enabled"} · {account.requestsPerMinute} requests per
        minute per key · created {when(account.createTime)}
      </p>
      {error !== undefined && <Notice kind="error">{describe(error)}</Notice>}
      {!account.disableTime && (
        <button type="button" class="secondary" onClick={disable}>
          Disable
        </button>
      )}
      <Keys account={account} />
    </li>
  );
}

function Keys({ account }: { account: ServiceAccount }) {
  const [load, reload] = useLoad(() => serviceAccountClient.listKeys({ serviceAccountId: account.id, pageSize: 100 }), [account.id]);
  const [error, setError] = useState<unknown>(undefined);
  const revoke = async (k: ServiceAccountKey) => {
    if (!confirm(`Revoke the key thk_${k.prefix}_…? It stops working within seconds.`)) return;
    try {
      await serviceAccountClient.revokeKey({ serviceAccountId: account.id, keyId: k.id });
      reload();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section aria-label={`Keys of ${account.name}`}>
      <h3>Keys</h3>
      {load.status === "loading" && <Loading what="Loading keys" />}
      {load.status === "error" && <LoadError error={load.error} retry={reload} />}
      {error !== undefined && <Notice kind="error">{describe(error)}</Notice>}
      {load.status === "ok" && load.data.keys.length === 0 && <p class="empty">No keys yet.</p>}
      {load.status === "ok" && load.data.keys.length > 0 && (
        <ul aria-label={`Keys of ${account.name}`}>
          {load.data.keys.map((k) => (
            <li key={k.id}>
              <code>thk_{k.prefix}_…</code> {k.scopes.join(", ")}
              {k.expireTime && ` · expires ${when(k.expireTime)}`}
              {k.lastUseTime ? ` · last used ${when(k.lastUseTime)} from ${k.lastUseIp}` : " · never used"}
              {k.revokeTime ? (
                ` · revoked ${when(k.revokeTime)}`
              ) : (
                <button type="button" class="link-button" onClick={() => revoke(k)}>
                  Revoke
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
      {!account.disableTime && <CreateKey account={account} onCreated={reload} />}
    </section>
  );
}

function CreateKey({ account, onCreated }: { account: ServiceAccount; onCreated: () => void }) {
  const [chosen, setChosen] = useState<string[]>(["tutors:read"]);
  const [days, setDays] = useState("");
  const [secret, setSecret] = useState("");
  const [copied, setCopied] = useState(false);
  const submit = useSubmit(async () => {
    const expireTime = days ? timestampFromDate(new Date(Date.now() + Number(days) * 86_400_000)) : undefined;
    const res = await serviceAccountClient.createKey({ serviceAccountId: account.id, scopes: chosen, expireTime });
    setSecret(res.secret);
    setCopied(false);
    onCreated();
  });
  const copy = async () => {
    await navigator.clipboard.writeText(secret);
    setCopied(true);
  };
  return (
    <>
      {secret && (
        <Notice kind="success">
          <p>The new key is shown only now: store it in the service's secret store.</p>
          <p>
            <code data-secret>{secret}</code>
          </p>
          <button type="button" onClick={copy}>
            {copied ? "Copied" : "Copy key"}
          </button>{" "}
          <button type="button" class="secondary" onClick={() => setSecret("")}>
            Done
          </button>
        </Notice>
      )}
      <form onSubmit={submit.onSubmit} aria-label={`New key for ${account.name}`}>
        <CheckboxGroup legend="Scopes" name="scopes" options={scopes} selected={chosen} onChange={setChosen} errors={submit.errors} />
        <TextField
          label="Expires in days"
          name="expire_time"
          hint="Empty for a key that does not expire."
          value={days}
          onValue={setDays}
          errors={submit.errors}
          inputMode="numeric"
        />
        <SubmitError submission={submit} />
        <button type="submit" disabled={submit.busy}>
          {submit.busy ? "Creating…" : "Create key"}
        </button>
      </form>
    </>
  );
}
