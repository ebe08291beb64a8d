import type { Subject } from "@gen/tutorhub/v1/subject_pb";
import { useState } from "preact/hooks";
import { subjectClient } from "../api";
import { Link, setQuery, useLocation } from "../router";
import { LoadError, Loading, SelectField, useLoad, useTitle } from "../ui";

const categories = ["STEM", "Languages", "Humanities", "Social Sciences", "Arts", "Exam Skills"];

/** The subject catalogue, by category, a page at a time. */
export function SubjectsPage() {
  useTitle("Subjects");
  const category = useLocation().searchParams.get("category") ?? "";
  const [pages, setPages] = useState<{ token: string; subjects: Subject[] }[]>([]);
  const [first, retry] = useLoad(async () => {
    const res = await subjectClient.listSubjects({ pageSize: 12, category });
    setPages([]);
    return res;
  }, [category]);
  const [more, setMore] = useState<{ busy: boolean; error?: unknown }>({ busy: false });

  const subjects = first.status === "ok" ? [...first.data.subjects, ...pages.flatMap((p) => p.subjects)] : [];
  const nextToken = pages.length ? pages[pages.length - 1].token : first.status === "ok" ? first.data.nextPageToken : "";
  const loadMore = async () => {
    setMore({ busy: true });
    try {
      const res = await subjectClient.listSubjects({ pageSize: 12, category, pageToken: nextToken });
      setPages([...pages, { token: res.nextPageToken, subjects: res.subjects }]);
      setMore({ busy: false });
    } catch (error) {
      setMore({ busy: false, error });
    }
  };

  return (
    <>
      <h1>Subjects</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()} role="search" aria-label="Filter subjects">
        <SelectField
          label="Category"
          name="category"
          value={category}
          onValue={(v) => setQuery({ category: v })}
          errors={{}}
          options={[{ value: "", label: "All categories" }, ...categories.map((c) => ({ value: c, label: c }))]}
        />
      </form>
      {first.status === "loading" && <Loading what="Loading subjects" />}
      {first.status === "error" && <LoadError error={first.error} retry={retry} />}
      {first.status === "ok" && subjects.length === 0 && <p class="empty">No subjects in this category yet.</p>}
      {subjects.length > 0 && (
        <ul class="cards" aria-label="Subjects">
          {subjects.map((s) => (
            <li key={s.id} class="card">
              <h2 class="card-title">{s.name}</h2>
              <p class="muted">{s.category}</p>
              <Link href={`/tutors?subject=${encodeURIComponent(s.id)}`}>Find {s.name} tutors</Link>
            </li>
          ))}
        </ul>
      )}
      {more.error !== undefined && <LoadError error={more.error} retry={loadMore} />}
      {nextToken && (
        <button type="button" class="secondary" onClick={loadMore} disabled={more.busy}>
          {more.busy ? "Loading…" : "Show more subjects"}
        </button>
      )}
    </>
  );
}
