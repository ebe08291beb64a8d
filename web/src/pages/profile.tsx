import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import type { User } from "@gen/tutorhub/v1/user_pb";
import { useState } from "preact/hooks";
import { userClient } from "../api";
import { changePassword } from "../session";
import { Link, useLocation } from "../router";
import { LoadError, Loading, Notice, SelectField, SubmitError, TextArea, TextField, useLoad, useSubmit, useTitle } from "../ui";
import { timeZones } from "../format";
import { Avatar, UploadField } from "../upload";

/** The signed-in user's own record: what others see of them, and their settings. */
export function ProfilePage() {
  useTitle("My profile");
  const [me, reload] = useLoad(async () => (await userClient.getMe({})).user!, []);
  const recovered = useLocation().searchParams.get("recovered");
  return (
    <>
      <h1>My profile</h1>
      {recovered && (
        <Notice kind="success">
          <p>Your new password is set and you are signed in.</p>
        </Notice>
      )}
      {me.status === "loading" && <Loading what="Loading your profile" />}
      {me.status === "error" && <LoadError error={me.error} retry={reload} />}
      {me.status === "ok" && (
        <>
          <dl class="facts">
            <dt>Email</dt>
            <dd data-testid="email">{me.data.email}</dd>
            <dt>Roles</dt>
            <dd>{me.data.roles.length ? me.data.roles.join(", ") : "none yet"}</dd>
          </dl>
          <p>
            Teaching? <Link href="/me/tutor">{me.data.roles.includes("tutor") ? "Edit your tutor profile" : "Become a tutor"}</Link>. Not verified yet?{" "}
            <Link href="/verify">Verify your email</Link>.
          </p>
          <AvatarSection user={me.data} />
          <ProfileForm user={me.data} />
          <PasswordForm />
        </>
      )}
    </>
  );
}

/** The user's avatar: the current one, and a picker that uploads a new one. */
function AvatarSection({ user }: { user: User }) {
  const [avatar, setAvatar] = useState(user.avatarUploadId);
  return (
    <section aria-labelledby="avatar-heading">
      <h2 id="avatar-heading">Photo</h2>
      {avatar ? <Avatar uploadId={avatar} alt="Your photo" /> : <p class="empty">No photo yet.</p>}
      <UploadField purpose="avatar" name="avatar" label="New photo" onClean={(u) => setAvatar(u.id)} />
    </section>
  );
}

function ProfileForm({ user }: { user: User }) {
  const [displayName, setDisplayName] = useState(user.displayName);
  const [bio, setBio] = useState(user.bio);
  const [timezone, setTimezone] = useState(user.timezone);
  const [locale, setLocale] = useState(user.locale);
  const [saved, setSaved] = useState<User | null>(null);
  const base = saved ?? user;
  const submission = useSubmit(async () => {
    setSaved(null);
    const paths: string[] = [];
    if (displayName !== base.displayName) paths.push("display_name");
    if (bio !== base.bio) paths.push("bio");
    if (timezone !== base.timezone) paths.push("timezone");
    if (locale !== base.locale) paths.push("locale");
    if (paths.length === 0) {
      setSaved(base);
      return;
    }
    const res = await userClient.updateMe({
      profile: { displayName, bio, timezone, locale },
      updateMask: create(FieldMaskSchema, { paths }),
    });
    setSaved(res.user!);
  }, "profile.");
  const { errors, busy } = submission;
  return (
    <section aria-labelledby="profile-heading">
      <h2 id="profile-heading">Public profile</h2>
      <form onSubmit={submission.onSubmit} noValidate aria-busy={busy}>
        <SubmitError submission={submission} />
        {saved && (
          <Notice kind="success">
            <p>Profile saved.</p>
          </Notice>
        )}
        <TextField label="Display name" name="display_name" autoComplete="name" value={displayName} onValue={setDisplayName} errors={errors} />
        <TextArea label="About you" name="bio" rows={4} value={bio} onValue={setBio} errors={errors} />
        <SelectField
          label="Time zone"
          name="timezone"
          value={timezone}
          onValue={setTimezone}
          errors={errors}
          options={[{ value: "", label: "Not set" }, ...timeZones(timezone).map((z) => ({ value: z, label: z }))]}
        />
        <TextField label="Language" name="locale" value={locale} onValue={setLocale} errors={errors} hint='A language tag, such as "en" or "pt-BR".' />
        <button type="submit" disabled={busy}>
          {busy ? "Saving…" : "Save profile"}
        </button>
      </form>
    </section>
  );
}

function PasswordForm() {
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [done, setDone] = useState(false);
  const submission = useSubmit(async () => {
    setDone(false);
    await changePassword(current, next);
    setCurrent("");
    setNext("");
    setDone(true);
  });
  const { errors, busy } = submission;
  return (
    <section aria-labelledby="password-heading">
      <h2 id="password-heading">Password</h2>
      <form onSubmit={submission.onSubmit} noValidate aria-busy={busy} class="narrow">
        <SubmitError submission={submission} />
        {done && (
          <Notice kind="success">
            <p>Password changed. Your other sessions have ended.</p>
          </Notice>
        )}
        <TextField label="Current password" name="current_password" type="password" autoComplete="current-password" value={current} onValue={setCurrent} errors={errors} />
        <TextField label="New password" name="new_password" type="password" autoComplete="new-password" value={next} onValue={setNext} errors={errors} />
        <button type="submit" disabled={busy}>
          {busy ? "Changing…" : "Change password"}
        </button>
      </form>
    </section>
  );
}
