// The tutor search page. With words in the query box it asks SearchService.SearchTutors (the
// search index: relevance or price order, facet counts); without words it browses with
// TutorService.ListTutors (cheapest first), since a search needs text. Either way the filters
// are the same and the whole search lives in the URL's query string, so it can be linked,
// bookmarked and reloaded.
import type { MessageInitShape } from "@bufbuild/protobuf";
import { SearchFacet, SearchSort, type FacetCounts, type SearchTutorsRequestSchema, type TutorSearchHit } from "@gen/tutorhub/v1/search_pb";
import type { Subject } from "@gen/tutorhub/v1/subject_pb";
import { LessonMode, Level, type ListTutorsRequestSchema, type Tutor, type TutorSubject } from "@gen/tutorhub/v1/tutor_pb";
import { useEffect, useRef, useState } from "preact/hooks";
import { searchClient, tutorClient } from "../api";
import { allSubjects } from "../catalogue";
import { fieldErrors, type FieldErrors } from "../errors";
import { currencies, formatMoney, inputToMinor, labelOf, languageName, lessonModeLabels, levelLabels } from "../format";
import { Link, navigate, useLocation } from "../router";
import { LoadError, Loading, Notice, SelectField, TextField, useLoad, useTitle } from "../ui";

const pageSize = 10;

/** A search as the URL's query string holds it; "" is unset. */
export type SearchState = {
  /** The words to search for; empty browses instead. */
  q: string;
  /** A subject id. */
  subject: string;
  /** A Level, as its number. */
  level: string;
  /** A BCP 47 language tag. */
  language: string;
  /** A LessonMode, as its number. */
  mode: string;
  /** An ISO 4217 code; the rates are in its unit. */
  currency: string;
  /** The lowest hourly rate, as typed ("35.50"). */
  min: string;
  /** The highest hourly rate, as typed. */
  max: string;
  /** "price" for cheapest first; empty for best match (searches only). */
  sort: string;
};

const stateNames: (keyof SearchState)[] = ["q", "subject", "level", "language", "mode", "currency", "min", "max", "sort"];

/** Reads a search from a query string; unknown parameters are ignored. */
export function searchStateFrom(query: URLSearchParams): SearchState {
  const s = {} as SearchState;
  for (const name of stateNames) s[name] = query.get(name) ?? "";
  return s;
}

/** The address of a search on path: the set parameters, always in the same order. */
export function searchHref(path: string, s: SearchState): string {
  const query = new URLSearchParams();
  for (const name of stateNames) if (s[name] !== "") query.set(name, s[name]);
  const search = query.toString();
  return path + (search ? `?${search}` : "");
}

const facetKinds = [SearchFacet.SUBJECT, SearchFacet.LEVEL, SearchFacet.LANGUAGE, SearchFacet.LESSON_MODE];

function searchRequest(s: SearchState, pageToken: string): MessageInitShape<typeof SearchTutorsRequestSchema> {
  return {
    query: s.q.trim(),
    subjectId: s.subject,
    level: Number(s.level) || 0,
    language: s.language.trim(),
    lessonMode: Number(s.mode) || 0,
    currency: s.currency,
    minHourlyRateMinor: s.min ? inputToMinor(s.min, s.currency) : 0n,
    maxHourlyRateMinor: s.max ? inputToMinor(s.max, s.currency) : 0n,
    sort: s.sort === "price" ? SearchSort.PRICE : SearchSort.RELEVANCE,
    // Counts are over every match, so the first page's are the search's.
    facets: pageToken ? [] : facetKinds,
    pageSize,
    pageToken,
  };
}

function listRequest(s: SearchState, pageToken: string): MessageInitShape<typeof ListTutorsRequestSchema> {
  return {
    pageSize,
    pageToken,
    subjectId: s.subject,
    level: Number(s.level) || 0,
    minHourlyRateMinor: s.min ? inputToMinor(s.min, s.currency) : 0n,
    maxHourlyRateMinor: s.max ? inputToMinor(s.max, s.currency) : 0n,
    currency: s.currency,
    language: s.language.trim(),
    lessonMode: Number(s.mode) || 0,
  };
}

/** A tutor as a result card shows it, from a search hit or a listed profile. */
type Card = {
  id: string;
  name: string;
  headline: string;
  bio: string;
  rateMinor: bigint;
  currency: string;
  subjects: TutorSubject[];
  languages: string[];
  modes: LessonMode[];
};

function cardOfHit(h: TutorSearchHit): Card {
  return {
    id: h.tutorId,
    name: h.displayName,
    headline: h.headline,
    bio: h.bio,
    rateMinor: h.hourlyRateMinor,
    currency: h.currency,
    subjects: h.subjects,
    languages: h.languages,
    modes: h.lessonModes,
  };
}

function cardOfTutor(t: Tutor): Card {
  const p = t.profile;
  return {
    id: t.id,
    name: t.displayName,
    headline: p?.headline ?? "",
    bio: p?.bio ?? "",
    rateMinor: p?.hourlyRateMinor ?? 0n,
    currency: p?.currency ?? "",
    subjects: p?.subjects ?? [],
    languages: p?.languages ?? [],
    modes: p?.lessonModes ?? [],
  };
}

/** One page of results. */
type ResultPage = { cards: Card[]; token: string; facets: FacetCounts[] };

async function fetchPage(s: SearchState, pageToken: string): Promise<ResultPage> {
  if (s.q.trim()) {
    const res = await searchClient.searchTutors(searchRequest(s, pageToken));
    return { cards: res.hits.map(cardOfHit), token: res.nextPageToken, facets: res.facets };
  }
  const res = await tutorClient.listTutors(listRequest(s, pageToken));
  return { cards: res.tutors.map(cardOfTutor), token: res.nextPageToken, facets: [] };
}

/**
 * Finding a tutor: a query box, filters (facet lists with counts while searching), price
 * range within a currency, sort, and a cursor to load more.
 */
export function TutorsPage() {
  useTitle("Find a tutor");
  const loc = useLocation();
  const applied = searchStateFrom(loc.searchParams);
  const searching = applied.q.trim() !== "";
  const key = searchHref("", applied);
  const [subjects] = useLoad(allSubjects, []);
  const [more, setMore] = useState<{ cards: Card[]; token: string; busy: boolean; error?: unknown }>({ cards: [], token: "", busy: false });
  const [first, retry] = useLoad(async () => {
    const page = await fetchPage(applied, "");
    setMore({ cards: [], token: page.token, busy: false });
    return page;
  }, [key]);

  const loadMore = async () => {
    setMore({ ...more, busy: true, error: undefined });
    try {
      const page = await fetchPage(applied, more.token);
      setMore({ cards: [...more.cards, ...page.cards], token: page.token, busy: false });
    } catch (error) {
      setMore({ ...more, busy: false, error });
    }
  };

  // Submitting runs the search again even when it is the one shown (results may have
  // changed since); a changed search is a new history entry.
  const focusInvalid = useRef(false);
  const submit = (next: SearchState) => {
    focusInvalid.current = true;
    const href = searchHref(loc.pathname, next);
    if (href === loc.pathname + loc.search) retry();
    else navigate(href);
  };
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => {
    if (first.status === "loading") return;
    if (first.status === "error" && focusInvalid.current) form.current?.querySelector<HTMLElement>("[aria-invalid=true]")?.focus();
    focusInvalid.current = false;
  }, [first]);

  const subjectList = subjects.status === "ok" ? subjects.data : [];
  const subjectNames = new Map(subjectList.map((s) => [s.id, s.name]));
  const cards = first.status === "ok" ? [...first.data.cards, ...more.cards] : [];
  const errors = first.status === "error" ? fieldErrors(first.error) : {};
  // While a search shows its counts, the facet lists stand in for the subject, level,
  // language and lesson mode fields; a failed search shows the fields, with their errors.
  const facets = searching && first.status === "ok" ? first.data.facets : undefined;

  return (
    <>
      <h1>Find a tutor</h1>
      <SearchForm
        key={key}
        formRef={form}
        applied={applied}
        searching={searching}
        withFacetFields={!searching || first.status === "error"}
        subjects={subjectList}
        errors={errors}
        onSearch={submit}
      />
      <div class={facets ? "search-results with-facets" : "search-results"}>
        {facets && <FacetPanel facets={facets} applied={applied} path={loc.pathname} subjectNames={subjectNames} />}
        <section aria-label="Results" aria-busy={first.status === "loading" ? "true" : "false"} data-testid="results">
          {first.status === "loading" && <Loading what={searching ? "Searching" : "Finding tutors"} />}
          {first.status === "error" && <LoadError error={first.error} retry={Object.keys(errors).length ? undefined : retry} />}
          {first.status === "ok" && cards.length === 0 && (
            <p class="empty" data-testid="no-tutors">
              {searching ? `No published tutors match “${applied.q.trim()}” with these filters.` : "No published tutors match these filters."}
            </p>
          )}
          {cards.length > 0 && (
            <>
              <p class="muted" role="status">
                {cards.length === 1 ? "1 tutor" : `${cards.length} tutors`}
                {more.token ? " shown; more below." : "."}
                {searching && (applied.sort === "price" ? " Cheapest first." : " Best match first.")}
              </p>
              <ul class="cards" aria-label="Tutors">
                {cards.map((c) => (
                  <TutorCard key={c.id} card={c} subjectNames={subjectNames} />
                ))}
              </ul>
            </>
          )}
          {more.error !== undefined && <LoadError error={more.error} retry={loadMore} />}
          {first.status === "ok" && more.token && (
            <button type="button" class="secondary" onClick={loadMore} disabled={more.busy}>
              {more.busy ? "Loading…" : "Show more tutors"}
            </button>
          )}
        </section>
      </div>
    </>
  );
}

// The form's fields by the request field whose violations they show.
const fieldOf: Record<string, string> = {
  query: "Keywords",
  subject_id: "Subject",
  level: "Level",
  language: "Language",
  lesson_mode: "Lesson mode",
  currency: "Currency",
  min_hourly_rate_minor: "Minimum hourly rate",
  max_hourly_rate_minor: "Maximum hourly rate",
  sort: "Sort by",
};

function SearchForm({
  formRef,
  applied,
  searching,
  withFacetFields,
  subjects,
  errors,
  onSearch,
}: {
  formRef: { current: HTMLFormElement | null };
  applied: SearchState;
  searching: boolean;
  withFacetFields: boolean;
  subjects: Subject[];
  errors: FieldErrors;
  onSearch: (next: SearchState) => void;
}) {
  const [f, setF] = useState(applied);
  // Level filters of a listing need a subject; a search takes a level alone.
  const set = (name: keyof SearchState) => (value: string) =>
    setF({ ...f, [name]: value, ...(name === "subject" && !value && !searching ? { level: "" } : {}) });
  const submit = (e: Event) => {
    e.preventDefault();
    onSearch(f);
  };
  const clear = () => onSearch({ ...searchStateFrom(new URLSearchParams()), q: f.q, sort: f.sort });
  // Violations of fields this form does not show (or of the whole request) go on top.
  const shown = new Set(["query", "currency", "min_hourly_rate_minor", "max_hourly_rate_minor", ...(searching ? ["sort"] : [])]);
  if (withFacetFields) for (const n of ["subject_id", "level", "language", "lesson_mode"]) shown.add(n);
  const unplaced = Object.entries(errors).filter(([path]) => !shown.has(path));
  return (
    <form ref={formRef} class="filters" role="search" aria-label="Search tutors" onSubmit={submit} noValidate>
      {unplaced.length > 0 && (
        <Notice kind="error">
          {unplaced.map(([path, message]) => (
            <p key={path}>{path ? `${fieldOf[path] ?? path}: ${message}` : message}</p>
          ))}
        </Notice>
      )}
      <div class="query-field">
        <TextField
          label="Keywords"
          name="query"
          type="search"
          value={f.q}
          onValue={set("q")}
          errors={errors}
          maxLength={200}
          hint="Words from a tutor's name, headline, subjects or bio. Leave empty to browse every tutor, cheapest first."
        />
      </div>
      {withFacetFields && (
        <>
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
            disabled={!searching && !f.subject && !f.level}
            options={[{ value: "", label: "Any level" }, ...levelLabels.map(([v, l]) => ({ value: String(v), label: l }))]}
          />
          <TextField label="Language" name="language" value={f.language} onValue={set("language")} errors={errors} hint='A language tag, e.g. "en".' />
          <SelectField
            label="Lesson mode"
            name="lesson_mode"
            value={f.mode}
            onValue={set("mode")}
            errors={errors}
            options={[{ value: "", label: "Any" }, ...lessonModeLabels.map(([v, l]) => ({ value: String(v), label: l }))]}
          />
        </>
      )}
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
      {searching && (
        <SelectField
          label="Sort by"
          name="sort"
          value={f.sort}
          onValue={set("sort")}
          errors={errors}
          options={[
            { value: "", label: "Best match" },
            { value: "price", label: "Price, lowest first" },
          ]}
        />
      )}
      <div class="filter-actions">
        <button type="submit">Search</button>
        <button type="button" class="secondary" onClick={clear}>
          Clear filters
        </button>
      </div>
    </form>
  );
}

/** A facet value with a label, as its list shows it. */
type FacetOption = { value: string; label: string; count?: bigint };

const levelByName = (name: string) => Level[name.replace(/^LEVEL_/, "") as keyof typeof Level];
const modeByName = (name: string) => LessonMode[name.replace(/^LESSON_MODE_/, "") as keyof typeof LessonMode];

/** The label of an enum value as the URL holds it (its number); the value itself if unknown. */
function enumLabel(labels: [number, string][], value: string): string {
  return labels.find(([v]) => String(v) === value)?.[1] ?? value;
}

/** The facet lists of a search: each value with its count, a link that filters by it. */
function FacetPanel({
  facets,
  applied,
  path,
  subjectNames,
}: {
  facets: FacetCounts[];
  applied: SearchState;
  path: string;
  subjectNames: Map<string, string>;
}) {
  const values = (kind: SearchFacet) => facets.find((f) => f.facet === kind)?.values ?? [];
  const enumOptions = (kind: SearchFacet, byName: (n: string) => number | undefined, labels: [number, string][]): FacetOption[] =>
    values(kind).flatMap((v) => {
      const n = byName(v.value);
      return n === undefined ? [] : [{ value: String(n), label: labelOf(labels, n), count: v.count }];
    });
  return (
    <aside class="facets" aria-label="Refine the results">
      <FacetList
        title="Subject"
        anyLabel="Any subject"
        name="subject"
        applied={applied}
        path={path}
        options={values(SearchFacet.SUBJECT).map((v) => ({ value: v.value, label: subjectNames.get(v.value) ?? "Subject", count: v.count }))}
        labelOf={(v) => subjectNames.get(v) ?? "Subject"}
      />
      <FacetList
        title="Level"
        anyLabel="Any level"
        name="level"
        applied={applied}
        path={path}
        options={enumOptions(SearchFacet.LEVEL, levelByName, levelLabels)}
        labelOf={(v) => enumLabel(levelLabels, v)}
      />
      <FacetList
        title="Language"
        anyLabel="Any language"
        name="language"
        applied={applied}
        path={path}
        options={values(SearchFacet.LANGUAGE).map((v) => ({ value: v.value, label: languageName(v.value), count: v.count }))}
        labelOf={languageName}
        // A filter on "en-GB" counts under its primary subtag, "en".
        sameValue={(a, b) => a.toLowerCase() === b.toLowerCase()}
      />
      <FacetList
        title="Lesson mode"
        anyLabel="Any lesson mode"
        name="mode"
        applied={applied}
        path={path}
        options={enumOptions(SearchFacet.LESSON_MODE, modeByName, lessonModeLabels)}
        labelOf={(v) => enumLabel(lessonModeLabels, v)}
      />
    </aside>
  );
}

/**
 * One facet: "any" and every value the matches hold, with its count, each a link to the
 * search filtered by it; the applied value is marked as current (and listed even when the
 * counts do not name it).
 */
function FacetList({
  title,
  anyLabel,
  name,
  applied,
  path,
  options,
  labelOf: label,
  sameValue = (a, b) => a === b,
}: {
  title: string;
  anyLabel: string;
  name: keyof SearchState;
  applied: SearchState;
  path: string;
  options: FacetOption[];
  labelOf: (value: string) => string;
  sameValue?: (a: string, b: string) => boolean;
}) {
  const id = `facet-${name}`;
  const current = applied[name];
  const listed = current && !options.some((o) => sameValue(o.value, current)) ? [{ value: current, label: label(current) }, ...options] : options;
  return (
    <section class="facet">
      <h2 id={id}>{title}</h2>
      <ul aria-labelledby={id}>
        <li>
          <Link href={searchHref(path, { ...applied, [name]: "" })} aria-current={current ? undefined : "true"}>
            {anyLabel}
          </Link>
        </li>
        {listed.map((o: FacetOption) => (
          <li key={o.value}>
            <Link
              href={searchHref(path, { ...applied, [name]: o.value })}
              aria-current={current && sameValue(o.value, current) ? "true" : undefined}
              // Read as "Mathematics, 3 tutors" rather than "Mathematics (3)".
              aria-label={o.count === undefined ? undefined : `${o.label}, ${o.count === 1n ? "1 tutor" : `${o.count} tutors`}`}
            >
              {o.label}
              {o.count !== undefined && <span class="count">{` (${o.count})`}</span>}
            </Link>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** At most max characters of text, cut at a word with an ellipsis. */
function excerpt(text: string, max = 180): string {
  const flat = text.replace(/\s+/g, " ").trim();
  if (flat.length <= max) return flat;
  const cut = flat.slice(0, max);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(" "), max / 2))}…`;
}

function TutorCard({ card: c, subjectNames }: { card: Card; subjectNames: Map<string, string> }) {
  return (
    <li class="card" data-testid="tutor-card">
      <h2 class="card-title">
        <Link href={`/tutors/${c.id}`}>{c.name || "A tutor"}</Link>
      </h2>
      {c.headline && <p>{c.headline}</p>}
      {c.rateMinor > 0n && (
        <p class="price">
          {formatMoney(c.rateMinor, c.currency)} <span class="muted">per hour</span>
        </p>
      )}
      {c.subjects.length > 0 && <p class="muted">{c.subjects.map((s) => subjectNames.get(s.subjectId) ?? "Subject").join(" · ")}</p>}
      {c.languages.length + c.modes.length > 0 && (
        <p class="muted">{[...c.languages.map(languageName), ...c.modes.map((m) => labelOf(lessonModeLabels, m))].join(" · ")}</p>
      )}
      {c.bio && <p class="excerpt">{excerpt(c.bio)}</p>}
    </li>
  );
}
