import { Code, ConnectError } from "@connectrpc/connect";
import { tutorClient } from "../api";
import { allSubjects } from "../catalogue";
import { dayLabels, formatMoney, labelOf, languageName, lessonModeLabels, levelLabels, minuteToTime } from "../format";
import { Link } from "../router";
import { LoadError, Loading, Notice, useLoad, useTitle } from "../ui";
import { Avatar } from "../upload";
import { useSession } from "../use-session";
import { BookLesson } from "./bookings";

/** A tutor's public page. */
export function TutorPage({ id }: { id: string }) {
  const [tutor, retry] = useLoad(async () => (await tutorClient.getTutor({ tutorId: id })).tutor!, [id]);
  const [subjects] = useLoad(allSubjects, []);
  const session = useSession();
  useTitle(tutor.status === "ok" ? tutor.data.displayName || "Tutor" : "Tutor");

  if (tutor.status === "loading") return <Loading what="Loading the tutor" />;
  if (tutor.status === "error") {
    const code = ConnectError.from(tutor.error).code;
    if (code === Code.NotFound || code === Code.InvalidArgument) {
      return (
        <>
          <h1>Tutor not found</h1>
          <p>
            This tutor does not exist or is not listed at the moment. <Link href="/tutors">Find another tutor</Link>.
          </p>
        </>
      );
    }
    return (
      <>
        <h1>Tutor</h1>
        <LoadError error={tutor.error} retry={retry} />
      </>
    );
  }
  const t = tutor.data;
  const p = t.profile;
  const subjectNames = new Map(subjects.status === "ok" ? subjects.data.map((s) => [s.id, s.name]) : []);
  const byDay = dayLabels
    .map(([day, label]) => ({ label, slots: (p?.availability ?? []).filter((s) => s.dayOfWeek === day).sort((a, b) => a.startMinute - b.startMinute) }))
    .filter((d) => d.slots.length > 0);
  return (
    <article class="tutor-page">
      {t.avatarUploadId && <Avatar uploadId={t.avatarUploadId} alt={`Photo of ${t.displayName || "the tutor"}`} size={128} />}
      <h1>{t.displayName || "A tutor"}</h1>
      {!t.published && (
        <Notice kind="info">
          <p>This profile is not published: only you can see it.</p>
        </Notice>
      )}
      {p?.headline && <p class="lead">{p.headline}</p>}
      {p && p.hourlyRateMinor > 0n && (
        <p class="price">
          {formatMoney(p.hourlyRateMinor, p.currency)} <span class="muted">per hour</span>
        </p>
      )}
      {p?.bio && (
        <section aria-labelledby="about">
          <h2 id="about">About</h2>
          <p class="bio">{p.bio}</p>
        </section>
      )}
      <section aria-labelledby="teaches">
        <h2 id="teaches">Teaches</h2>
        {p && p.subjects.length > 0 ? (
          <ul>
            {p.subjects.map((s) => (
              <li key={s.subjectId}>
                {subjectNames.get(s.subjectId) ?? "Subject"}: {s.levels.map((l) => labelOf(levelLabels, l)).join(", ")}
              </li>
            ))}
          </ul>
        ) : (
          <p class="empty">No subjects listed.</p>
        )}
      </section>
      <dl class="facts">
        <dt>Languages</dt>
        <dd>{p?.languages.length ? p.languages.map(languageName).join(", ") : "Not listed"}</dd>
        <dt>Lessons</dt>
        <dd>{p?.lessonModes.length ? p.lessonModes.map((m) => labelOf(lessonModeLabels, m)).join(", ") : "Not listed"}</dd>
        <dt>Time zone</dt>
        <dd>{p?.timeZone || "Not listed"}</dd>
      </dl>
      <section aria-labelledby="availability">
        <h2 id="availability">Weekly availability</h2>
        {byDay.length > 0 ? (
          <table>
            <caption class="visually-hidden">Weekly availability in {p?.timeZone || "the tutor's time zone"}</caption>
            <thead>
              <tr>
                <th scope="col">Day</th>
                <th scope="col">Times ({p?.timeZone})</th>
              </tr>
            </thead>
            <tbody>
              {byDay.map((d) => (
                <tr key={d.label}>
                  <th scope="row">{d.label}</th>
                  <td>{d.slots.map((s) => `${minuteToTime(s.startMinute)}–${minuteToTime(s.endMinute)}`).join(", ")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p class="empty">No availability listed.</p>
        )}
      </section>
      {t.published && session.status === "signed-in" && <BookLesson tutorId={t.id} timeZone={p?.timeZone || "UTC"} />}
      {t.published && session.status === "signed-out" && (
        <p>
          <Link href={`/login?next=${encodeURIComponent(`/tutors/${t.id}`)}`}>Log in</Link> to book a lesson.
        </p>
      )}
      <p>
        <Link href="/tutors">Back to all tutors</Link>
      </p>
    </article>
  );
}
