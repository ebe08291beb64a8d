// The whole subject catalogue, read once per page load and shared by every page that
// names subjects (it is small and changes rarely).
import type { Subject } from "@gen/tutorhub/v1/subject_pb";
import { subjectClient } from "./api";

let cached: Promise<Subject[]> | undefined;

/** Every subject, ordered by name. A failed read is retried by the next call. */
export function allSubjects(): Promise<Subject[]> {
  cached ??= (async () => {
    const subjects: Subject[] = [];
    let pageToken = "";
    do {
      const res = await subjectClient.listSubjects({ pageSize: 100, pageToken });
      subjects.push(...res.subjects);
      pageToken = res.nextPageToken;
    } while (pageToken);
    return subjects;
  })().catch((err: unknown) => {
    cached = undefined;
    throw err;
  });
  return cached;
}
