import type { Subject } from "@gen/tutorhub/v1/subject_pb";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ListTutorsRequestSchema, Tutor } from "@gen/tutorhub/v1/tutor_pb";
import { useState } from "preact/hooks";
import { tutorClient } from "../api";
import { allSubjects } from "../catalogue";
import { fieldErrors } from "../errors";
import { currencies, formatMoney, inputToMinor, labelOf, languageName, lessonModeLabels, levelLabels } from "../format";
import { Link, setQuery, useLocation } from "../router";
import { LoadError, Loading, Notice, SelectField, TextField, useLoad, useTitle } from "../ui";

const pageSize = 10;

/** The filters of the list, as the URL's query string holds them. */
type Filters = {
  subject: string;
  level: string;
  min: string;
  max: string;
  currency: string;
  language: string;
  mode: string;
};

const filterNames: (keyof Filters)[] = ["subject", "level", "min", "max", "currency", "language", "mode"];

function filtersFrom(query: URLSearchParams): Filters {
  const f = {} as Filters;
  for (const name of filterNames) f[name] = query.get(name) ?? "";
  return f;
}

function requestFor(f: Filters, pageToken: string): MessageInitShape<typeof ListTutorsRequestSchema> {
  return {
    pageSize,
    pageToken,
    subjectId: f.subject,
    level: Number(f.level) || 0,
    minHourlyRateMinor: f.min ? inputToMinor(f.min, f.currency) : 0n,
    maxHourlyRateMinor: f.max ? inputToMinor(f.max, f.currency) : 0n,
    currency: f.currency,
    language: f.language.trim(),
    lessonMode: Number(f.mode) || 0,
  };
}

/** Published tutors, cheapest first, with filters and a cursor to load more. */
export function TutorsPage() {
  useTitle("Find a tutor");
  const query = useLocation().searchParams;
  const applied = filtersFrom(query);
  const key = filterNames.map((n) => applied[n]).join("\u0000");
  const [subjects] = useLoad(allSubjects, []);
  const [more, setMore] = useState<{ tutors: Tutor[]; token: string; busy: boolean; error?: unknown }>({ tutors: [], token: "", busy: false });
  const [first, retry] = useLoad(async () => {
    const res = await tutorClient.listTutors(requestFor(applied, ""));
    setMore({ tutors: [], token: res.nextPageToken, busy: false });
    return res.tutors;
  }, [key]);

  const loadMore = async () => {
    setMore({ ...more, busy: true, error: undefined });
    try {
      const res = await tutorClient.listTutors(requestFor(applied, more.token));
      setMore({ tutors: [...more.tutors, ...res.tutors], token: res.nextPageToken, busy: false });
    } catch (error) {
      setMore({ ...more, busy: false, error });
    }
  };

  const subjectNames = new Map(subjects.status === "ok" ? subjects.data.map((s) => [s.id, s.name]) : []);
  const tutors = first.status === "ok" ? [...first.data, ...more.tutors] : [];
  const filterErrors = first.status === "error" ? fieldErrors(first.error) : {};

  return (
    <>
      <h1>Find a tutor</h1>
      <FilterForm key={key} applied={applied} subjects={subjects.status === "ok" ? subjects.data : []} errors={filterErrors} />
      {first.status === "loading" && <Loading what="Finding tutors" />}
      {first.status === "error" && <LoadError error={first.error} retry={Object.keys(filterErrors).length ? undefined : retry} />}
      {first.status === "ok" && tutors.length === 0 && (
        <p class="empty" data-testid="no-tutors">
          No published tutors match these filters.
        </p>
      )}
      {tutors.length > 0 && (
        <ul class="cards" aria-label="Tutors">
          {tutors.map((t) => (
            <TutorCard key={t.id} tutor={t} subjectNames={subjectNames} />
          ))}
        </ul>
      )}
      {more.error !== undefined && <LoadError error={more.error} retry={loadMore} />}
      {first.status === "ok" && more.token && (
        <button type="button" class="secondary" onClick={loadMore} disabled={more.busy}>
          {more.busy ? "Loading…" : "Show more tutors"}
        </button>
      )}
    </>
  );
}

function FilterForm({ applied, subjects, errors }: { applied: Filters; subjects: Subject[]; errors: Record<string, string> }) {
  const [f, setF] = useState(applied);
  const set = (name: keyof Filters) => (value: string) => setF({ ...f, [name]: value, ...(name === "subject" && !value ? { level: "" } : {}) });
  const apply = (e: Event) => {
    e.preventDefault();
    setQuery(f);
  };
  const formError = errors[""];
  return (
    <form class="filters" role="search" aria-label="Filter tutors" onSubmit={apply} noValidate>
      {formError && <Notice kind="error">{formError}</Notice>}
      <SelectField
        label="Subject"
        name="subject_id"
        value={f.subject}
        onValue={set("subject")}
        errors={errors}
        options={[{ value: "", label: "Any subject" }, ...subjects.map((s) => ({ value: s.id, label: s.name }))]}
      />
      <SelectField
        label="Level"
        name="level"
        value={f.level}
        onValue={set("level")}
        errors={errors}
        disabled={!f.subject}
        options={[{ value: "", label: "Any level" }, ...levelLabels.map(([v, l]) => ({ value: String(v), label: l }))]}
      />
      <SelectField
        label="Currency"
        name="currency"
        value={f.currency}
        onValue={set("currency")}
        errors={errors}
        options={[{ value: "", label: "Any currency" }, ...currencies.map((c) => ({ value: c, label: c }))]}
      />
      <TextField label="Minimum hourly rate" name="min_hourly_rate_minor" inputMode="decimal" value={f.min} onValue={set("min")} errors={errors} />
      <TextField label="Maximum hourly rate" name="max_hourly_rate_minor" inputMode="decimal" value={f.max} onValue={set("max")} errors={errors} />
      <TextField label="Language" name="language" value={f.language} onValue={set("language")} errors={errors} hint='A language tag, e.g. "en".' />
      <SelectField
        label="Lesson mode"
        name="lesson_mode"
        value={f.mode}
        onValue={set("mode")}
        errors={errors}
        options={[{ value: "", label: "Any" }, ...lessonModeLabels.map(([v, l]) => ({ value: String(v), label: l }))]}
      />
      <div class="filter-actions">
        <button type="submit">Search</button>
        <button type="button" class="secondary" onClick={() => setQuery({})}>
          Clear filters
        </button>
      </div>
    </form>
  );
}

function TutorCard({ tutor, subjectNames }: { tutor: Tutor; subjectNames: Map<string, string> }) {
  const p = tutor.profile;
  return (
    <li class="card" data-testid="tutor-card">
      <h2 class="card-title">
        <Link href={`/tutors/${tutor.id}`}>{tutor.displayName || "A tutor"}</Link>
      </h2>
      {p?.headline && <p>{p.headline}</p>}
      {p && p.hourlyRateMinor > 0n && (
        <p class="price">
          {formatMoney(p.hourlyRateMinor, p.currency)} <span class="muted">per hour</span>
        </p>
      )}
      {p && p.subjects.length > 0 && <p class="muted">{p.subjects.map((s) => subjectNames.get(s.subjectId) ?? "Subject").join(" · ")}</p>}
      {p && (
        <p class="muted">
          {[...p.languages.map(languageName), ...p.lessonModes.map((m) => labelOf(lessonModeLabels, m))].join(" · ")}
        </p>
      )}
    </li>
  );
}
