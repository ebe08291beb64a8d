import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Subject } from "@gen/tutorhub/v1/subject_pb";
import { DayOfWeek, type LessonMode, type Level, type Tutor, type TutorProfile, type TutorProfileSchema } from "@gen/tutorhub/v1/tutor_pb";
import { useEffect, useId, useRef, useState } from "preact/hooks";
import { tutorClient, userClient } from "../api";
import { allSubjects } from "../catalogue";
import { describe, fieldErrors, type FieldErrors } from "../errors";
import {
  currencies,
  dayLabels,
  inputToMinor,
  lessonModeLabels,
  levelLabels,
  localTimeZone,
  minorToInput,
  minuteToTime,
  timeToMinute,
  timeZones,
} from "../format";
import { Link } from "../router";
import { CheckboxGroup, FieldError, LoadError, Loading, Notice, SelectField, TextArea, TextField, useLoad, useTitle } from "../ui";
import { UploadField } from "../upload";

// The signed-in user's tutor profile id, as GetMe reports it (empty: none yet).
async function myTutorId(): Promise<string> {
  return (await userClient.getMe({})).user?.tutorId ?? "";
}

/** The profile as the form edits it: text the inputs hold, not yet API values. */
type Draft = {
  headline: string;
  bio: string;
  subjects: { subjectId: string; levels: Level[] }[];
  rate: string;
  currency: string;
  languages: string;
  lessonModes: LessonMode[];
  timeZone: string;
  availability: { day: DayOfWeek; start: string; end: string }[];
};

function draftFrom(p: TutorProfile | undefined): Draft {
  return {
    headline: p?.headline ?? "",
    bio: p?.bio ?? "",
    subjects: (p?.subjects ?? []).map((s) => ({ subjectId: s.subjectId, levels: [...s.levels] })),
    rate: p ? minorToInput(p.hourlyRateMinor, p.currency) : "",
    currency: p?.currency ?? "",
    languages: (p?.languages ?? []).join(", "),
    lessonModes: [...(p?.lessonModes ?? [])],
    timeZone: p?.timeZone || localTimeZone(),
    availability: (p?.availability ?? []).map((s) => ({ day: s.dayOfWeek, start: minuteToTime(s.startMinute), end: minuteToTime(s.endMinute) })),
  };
}

function profileFrom(d: Draft): MessageInitShape<typeof TutorProfileSchema> {
  return {
    headline: d.headline,
    bio: d.bio,
    subjects: d.subjects,
    hourlyRateMinor: inputToMinor(d.rate, d.currency),
    currency: d.currency,
    languages: d.languages
      .split(",")
      .map((l) => l.trim())
      .filter(Boolean),
    lessonModes: d.lessonModes,
    timeZone: d.timeZone,
    availability: d.availability.map((s) => ({ dayOfWeek: s.day, startMinute: timeToMinute(s.start), endMinute: timeToMinute(s.end, true) })),
  };
}

/** The profile fields (proto names) whose values differ between a draft and what is stored. */
function changedFields(d: Draft, stored: TutorProfile | undefined): string[] {
  const next = profileFrom(d);
  const before = profileFrom(draftFrom(stored));
  const same = (a: unknown, b: unknown) => JSON.stringify(a, (_, v) => (typeof v === "bigint" ? v.toString() : v)) === JSON.stringify(b, (_, v) => (typeof v === "bigint" ? v.toString() : v));
  const fields: [string, keyof typeof next][] = [
    ["headline", "headline"],
    ["bio", "bio"],
    ["subjects", "subjects"],
    ["hourly_rate_minor", "hourlyRateMinor"],
    ["currency", "currency"],
    ["languages", "languages"],
    ["lesson_modes", "lessonModes"],
    ["time_zone", "timeZone"],
    ["availability", "availability"],
  ];
  return fields.filter(([, key]) => !same(next[key], before[key])).map(([name]) => name);
}

/** Becoming a tutor, editing the tutor profile, and publishing or hiding it. */
export function TutorEditPage() {
  useTitle("Tutor profile");
  const [loaded, reload] = useLoad(async (): Promise<Tutor | null> => {
    const tutorId = await myTutorId();
    if (!tutorId) return null;
    try {
      return (await tutorClient.getTutor({ tutorId })).tutor!;
    } catch (err) {
      if (ConnectError.from(err).code === Code.NotFound) return null;
      throw err;
    }
  }, []);
  const [subjects] = useLoad(allSubjects, []);

  return (
    <>
      <h1>Tutor profile</h1>
      {(loaded.status === "loading" || subjects.status === "loading") && <Loading what="Loading your tutor profile" />}
      {loaded.status === "error" && <LoadError error={loaded.error} retry={reload} />}
      {subjects.status === "error" && <LoadError error={subjects.error} />}
      {loaded.status === "ok" && subjects.status === "ok" && (
        <TutorEditor
          key={loaded.data?.id ?? "new"}
          initial={loaded.data}
          catalogue={subjects.data}
          onReload={reload}
        />
      )}
      {loaded.status === "ok" && loaded.data && (
        <section aria-labelledby="credentials-heading">
          <h2 id="credentials-heading">Credentials</h2>
          <p>Send a diploma or certificate. Once it has passed the virus check, an administrator reviews it; only you and administrators can see it.</p>
          <UploadField purpose="credential_document" name="credential" label="Credential document" />
        </section>
      )}
    </>
  );
}

function TutorEditor({
  initial,
  catalogue,
  onReload,
}: {
  initial: Tutor | null;
  catalogue: Subject[];
  onReload: () => void;
}) {
  const [tutor, setTutor] = useState(initial);
  const [draft, setDraft] = useState(() => draftFrom(initial?.profile));
  const [busy, setBusy] = useState<"" | "save" | "publish" | "unpublish">("");
  const [errors, setErrors] = useState<FieldErrors>({});
  const [problem, setProblem] = useState<{ conflict: boolean; message: string } | null>(null);
  const [done, setDone] = useState("");
  const dirty = !tutor || changedFields(draft, tutor.profile).length > 0;

  const set = <K extends keyof Draft>(key: K) => (value: Draft[K]) => {
    setDraft((d) => ({ ...d, [key]: value }));
    setDone("");
  };

  const fail = (err: unknown) => {
    const e = ConnectError.from(err);
    setErrors(fieldErrors(e, "profile."));
    if (e.code === Code.Aborted) {
      setProblem({ conflict: true, message: "This profile was changed elsewhere (in another tab or on another device) since you opened it, so your changes were not saved." });
    } else if (e.code === Code.FailedPrecondition && Object.keys(fieldErrors(e)).length > 0) {
      setProblem({ conflict: false, message: "Complete the fields marked below to publish your profile." });
    } else if (e.code === Code.AlreadyExists) {
      setProblem({ conflict: false, message: "You already have a tutor profile: reload this page to edit it." });
    } else {
      setProblem({ conflict: false, message: describe(e) });
    }
  };

  // Take the keyboard to the problem: the first invalid field, else the message.
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => {
    if (!problem) return;
    (form.current?.querySelector<HTMLElement>("[aria-invalid=true]") ?? form.current?.querySelector<HTMLElement>("[role=alert] p"))?.focus();
  }, [problem]);

  /** Saves the draft; returns the stored tutor, or null when the save failed. */
  const save = async (): Promise<Tutor | null> => {
    if (!tutor) {
      const res = await tutorClient.createTutorProfile({ profile: profileFrom(draft) });
      setTutor(res.tutor!);
      return res.tutor!;
    }
    const paths = changedFields(draft, tutor.profile);
    if (paths.length === 0) return tutor;
    const res = await tutorClient.updateTutorProfile({
      tutorId: tutor.id,
      profile: profileFrom(draft),
      updateMask: create(FieldMaskSchema, { paths }),
      version: tutor.version,
    });
    setTutor(res.tutor!);
    setDraft(draftFrom(res.tutor!.profile));
    return res.tutor!;
  };

  const run = async (what: "save" | "publish" | "unpublish", action: () => Promise<string>) => {
    if (busy) return;
    setBusy(what);
    setErrors({});
    setProblem(null);
    setDone("");
    try {
      setDone(await action());
    } catch (err) {
      fail(err);
    } finally {
      setBusy("");
    }
  };

  /** Refuses a rate that is not a number before asking the API, which would only say "out of range". */
  const rateIsNumber = () => {
    if (inputToMinor(draft.rate, draft.currency) >= 0n) return true;
    setErrors({ hourly_rate_minor: "Enter an amount, such as 35 or 35.50." });
    setProblem({ conflict: false, message: "Please correct the fields marked below." });
    return false;
  };

  const onSave = (e: Event) => {
    e.preventDefault();
    if (!rateIsNumber()) return;
    void run("save", async () => {
      const wasNew = !tutor;
      await save();
      return wasNew ? "Your tutor profile is created. Publish it when it is complete." : "Changes saved.";
    });
  };
  const onPublish = () =>
    rateIsNumber() &&
    run("publish", async () => {
      const saved = await save();
      const res = await tutorClient.publishTutorProfile({ tutorId: saved!.id });
      setTutor(res.tutor!);
      return "Your profile is published: students can find it now.";
    });
  const onUnpublish = () =>
    run("unpublish", async () => {
      const res = await tutorClient.unpublishTutorProfile({ tutorId: tutor!.id });
      setTutor(res.tutor!);
      return "Your profile is hidden: only you can see it.";
    });

  return (
    <form ref={form} class="tutor-form" onSubmit={onSave} noValidate aria-busy={busy !== ""}>
      {tutor ? (
        <p data-testid="publication-status">
          Status: <strong>{tutor.published ? "published" : "not published"}</strong>
          {tutor.published && (
            <>
              {" "}
              · <Link href={`/tutors/${tutor.id}`}>View your public page</Link>
            </>
          )}
        </p>
      ) : (
        <p>Become a tutor: fill in what you can now and save it as a draft; publish it once it is complete.</p>
      )}
      {problem && (
        <Notice kind="error">
          <p tabIndex={-1}>{problem.message}</p>
          {problem.conflict && (
            <button type="button" onClick={onReload}>
              Reload the latest version
            </button>
          )}
        </Notice>
      )}
      {done && <Notice kind="success">{done}</Notice>}

      <TextField label="Headline" name="headline" maxLength={120} value={draft.headline} onValue={set("headline")} errors={errors} hint="One line shown in the list of tutors." />
      <TextArea label="About you" name="bio" rows={6} value={draft.bio} onValue={set("bio")} errors={errors} hint="Plain text; line breaks are kept." />
      <SubjectsEditor catalogue={catalogue} value={draft.subjects} onChange={set("subjects")} errors={errors} />
      <div class="row">
        <TextField label="Hourly rate" name="hourly_rate_minor" inputMode="decimal" value={draft.rate} onValue={set("rate")} errors={errors} hint="For example 35 or 35.50." />
        <SelectField
          label="Currency"
          name="currency"
          value={draft.currency}
          onValue={set("currency")}
          errors={errors}
          options={[{ value: "", label: "Choose a currency" }, ...currencies.map((c) => ({ value: c, label: c }))]}
        />
      </div>
      <TextField label="Languages you teach in" name="languages" value={draft.languages} onValue={set("languages")} errors={errors} hint='Language tags separated by commas, e.g. "en, pt-BR".' />
      <CheckboxGroup
        legend="Lesson modes"
        name="lesson_modes"
        options={lessonModeLabels.map(([value, label]) => ({ value, label }))}
        selected={draft.lessonModes}
        onChange={set("lessonModes")}
        errors={errors}
      />
      <SelectField label="Time zone" name="time_zone" value={draft.timeZone} onValue={set("timeZone")} errors={errors} options={timeZones(draft.timeZone).map((z) => ({ value: z, label: z }))} />
      <AvailabilityEditor value={draft.availability} onChange={set("availability")} errors={errors} />

      <div class="actions">
        <button type="submit" disabled={busy !== ""}>
          {busy === "save" ? "Saving…" : tutor ? "Save changes" : "Create tutor profile"}
        </button>
        {tutor && !tutor.published && (
          <button type="button" onClick={onPublish} disabled={busy !== ""}>
            {busy === "publish" ? "Publishing…" : dirty ? "Save and publish" : "Publish"}
          </button>
        )}
        {tutor?.published && (
          <button type="button" class="secondary" onClick={onUnpublish} disabled={busy !== ""}>
            {busy === "unpublish" ? "Unpublishing…" : "Unpublish"}
          </button>
        )}
      </div>
    </form>
  );
}

function SubjectsEditor({
  catalogue,
  value,
  onChange,
  errors,
}: {
  catalogue: Subject[];
  value: Draft["subjects"];
  onChange: (v: Draft["subjects"]) => void;
  errors: FieldErrors;
}) {
  const id = useId();
  const [adding, setAdding] = useState("");
  const names = new Map(catalogue.map((s) => [s.id, s.name]));
  const available = catalogue.filter((s) => !value.some((v) => v.subjectId === s.id));
  const groupError = errors["subjects"];
  const add = () => {
    const subjectId = adding || available[0]?.id;
    if (!subjectId) return;
    onChange([...value, { subjectId, levels: [] }]);
    setAdding("");
  };
  return (
    <fieldset class="field" aria-describedby={groupError ? `${id}-error` : undefined}>
      <legend>Subjects</legend>
      {value.length === 0 && <p class="hint">No subjects yet. Add the subjects you teach and the levels you teach them at.</p>}
      {value.map((s, i) => (
        <div class="subject" key={s.subjectId}>
          <CheckboxGroup
            legend={`${names.get(s.subjectId) ?? "Unknown subject"}: levels`}
            name={`subjects[${i}]`}
            options={levelLabels.map(([v, label]) => ({ value: v, label }))}
            selected={s.levels}
            onChange={(levels) => onChange(value.map((x, j) => (j === i ? { ...x, levels } : x)))}
            errors={errors}
          />
          <button type="button" class="secondary" onClick={() => onChange(value.filter((_, j) => j !== i))}>
            Remove {names.get(s.subjectId) ?? "subject"}
          </button>
        </div>
      ))}
      {available.length > 0 && (
        <div class="row add-row">
          <SelectField label="Subject to add" name="subject_to_add" value={adding || available[0].id} onValue={setAdding} errors={{}} options={available.map((s) => ({ value: s.id, label: s.name }))} />
          <button type="button" class="secondary" onClick={add}>
            Add subject
          </button>
        </div>
      )}
      <FieldError id={`${id}-error`} message={groupError} />
    </fieldset>
  );
}

function AvailabilityEditor({
  value,
  onChange,
  errors,
}: {
  value: Draft["availability"];
  onChange: (v: Draft["availability"]) => void;
  errors: FieldErrors;
}) {
  const id = useId();
  const groupError = errors["availability"];
  const update = (i: number, patch: Partial<Draft["availability"][number]>) => onChange(value.map((s, j) => (j === i ? { ...s, ...patch } : s)));
  return (
    <fieldset class="field" aria-describedby={groupError ? `${id}-error` : undefined}>
      <legend>Weekly availability</legend>
      <p class="hint">Times are in your profile's time zone.</p>
      {value.length === 0 && <p class="hint">No time slots yet.</p>}
      {value.map((s, i) => {
        // A rule about the slot as a whole (e.g. an overlap) names the slot, not a field of it.
        const error = errors[`availability[${i}]`];
        return (
          <div class="slot" key={i}>
            <SelectField
              label={`Slot ${i + 1} day`}
              name={`availability[${i}].day_of_week`}
              value={String(s.day)}
              onValue={(v) => update(i, { day: Number(v) as DayOfWeek })}
              errors={errors}
              options={dayLabels.map(([d, label]) => ({ value: String(d), label }))}
            />
            <TextField label={`Slot ${i + 1} from`} name={`availability[${i}].start_minute`} type="time" value={s.start} onValue={(v) => update(i, { start: v })} errors={errors} />
            <TextField label={`Slot ${i + 1} until`} name={`availability[${i}].end_minute`} type="time" value={s.end} onValue={(v) => update(i, { end: v })} errors={errors} />
            <button type="button" class="secondary" onClick={() => onChange(value.filter((_, j) => j !== i))}>
              Remove slot {i + 1}
            </button>
            <FieldError id={`${id}-slot-${i}-error`} message={error} />
          </div>
        );
      })}
      <button type="button" class="secondary" onClick={() => onChange([...value, { day: DayOfWeek.MONDAY, start: "17:00", end: "19:00" }])}>
        Add a time slot
      </button>
      <FieldError id={`${id}-error`} message={groupError} />
    </fieldset>
  );
}
