// Uploads: the file goes from the browser straight to storage with the presigned PUT that
// CreateUpload returns (the API never sees its bytes), then CompleteUpload starts the scan and
// the page polls GetUpload until the scan has a verdict.
import { type Upload, UploadStatus } from "@gen/tutorhub/v1/upload_pb";
import { useEffect, useState } from "preact/hooks";
import { uploadClient } from "./api";
import { describe } from "./errors";
import { Notice } from "./ui";

/** What a purpose accepts: the types and largest size the API allows (docs/uploads.md). */
export const purposes = {
  avatar: { accept: "image/png,image/jpeg,image/webp", types: ["image/png", "image/jpeg", "image/webp"], maxBytes: 5 << 20, label: "a PNG, JPEG or WebP image" },
  credential_document: {
    accept: "application/pdf,image/png,image/jpeg",
    types: ["application/pdf", "image/png", "image/jpeg"],
    maxBytes: 20 << 20,
    label: "a PDF, PNG or JPEG file",
  },
} as const;
export type Purpose = keyof typeof purposes;

/** How often and how long the page polls a scan. */
const pollEveryMs = 1000;
const pollForMs = 3 * 60_000;

/** Headers a page may not set: the browser sends them itself (the length from the body). */
const browserHeaders = new Set(["content-length", "host"]);

/** A failure of the upload itself (not of an API call), told in words for people. */
export class UploadError extends Error {}

const settled = new Set([UploadStatus.CLEAN, UploadStatus.INFECTED, UploadStatus.REJECTED, UploadStatus.EXPIRED]);

/** Words for an upload's status, for people. */
export function statusText(u: Upload): string {
  switch (u.status) {
    case UploadStatus.PENDING:
      return "Uploading…";
    case UploadStatus.SCANNING:
      return "Checking the file for viruses…";
    case UploadStatus.CLEAN:
      return "The file passed the check.";
    case UploadStatus.INFECTED:
      return `The file was refused: the virus scanner found ${u.reason ? `"${u.reason}"` : "malware"} in it, so it was deleted. Check your computer with an up-to-date virus scanner.`;
    case UploadStatus.REJECTED:
      return `The file was refused: ${u.reason || "it is not what it says it is"}. Choose another file.`;
    case UploadStatus.EXPIRED:
      return "The upload took too long and was discarded. Please try again.";
    default:
      return "Unknown state.";
  }
}

/**
 * Sends file for purpose: CreateUpload, the PUT to storage, CompleteUpload, then GetUpload
 * every second until a verdict (or the deadline). onUpdate sees every state on the way.
 */
export async function sendFile(file: File, purpose: Purpose, onUpdate: (u: Upload) => void): Promise<Upload> {
  const created = await uploadClient.createUpload({ purpose, contentType: file.type, sizeBytes: BigInt(file.size) });
  let upload = created.upload!;
  onUpdate(upload);
  const headers = new Headers();
  for (const [k, v] of Object.entries(created.uploadHeaders)) {
    if (!browserHeaders.has(k.toLowerCase())) headers.set(k, v);
  }
  let res: Response;
  try {
    res = await fetch(created.uploadUrl, { method: created.uploadMethod || "PUT", headers, body: file });
  } catch (err) {
    console.error("PUT to storage failed:", err);
    throw new UploadError("The file could not be sent to storage. Check your connection and try again.");
  }
  if (!res.ok) throw new UploadError(`Storage refused the file (${res.status}). Please try again.`);
  upload = (await uploadClient.completeUpload({ id: upload.id })).upload!;
  onUpdate(upload);
  const deadline = Date.now() + pollForMs;
  while (!settled.has(upload.status)) {
    if (Date.now() > deadline) throw new UploadError("The check is taking longer than usual. Reload the page later to see the result.");
    await new Promise((r) => setTimeout(r, pollEveryMs));
    upload = (await uploadClient.getUpload({ id: upload.id })).upload!;
    onUpdate(upload);
  }
  return upload;
}

/** A file picker that uploads what is chosen and shows the scan's progress and verdict. */
export function UploadField({ purpose, label, name, onClean }: { purpose: Purpose; label: string; name: string; onClean?: (u: Upload) => void }) {
  const spec = purposes[purpose];
  const [state, setState] = useState<{ upload?: Upload; error?: string; busy: boolean }>({ busy: false });
  const choose = (e: Event) => {
    const input = e.currentTarget as HTMLInputElement;
    const file = input.files?.[0];
    if (!file) return;
    if (!(spec.types as readonly string[]).includes(file.type)) {
      setState({ busy: false, error: `Choose ${spec.label}.` });
      return;
    }
    if (file.size === 0 || file.size > spec.maxBytes) {
      setState({ busy: false, error: `Choose a file of at most ${spec.maxBytes >> 20} MB.` });
      return;
    }
    setState({ busy: true });
    sendFile(file, purpose, (upload) => setState({ busy: true, upload })).then(
      (upload) => {
        setState({ busy: false, upload });
        if (upload.status === UploadStatus.CLEAN) onClean?.(upload);
      },
      (err) => setState((s) => ({ busy: false, upload: s.upload, error: err instanceof UploadError ? err.message : describe(err) })),
    );
    input.value = "";
  };
  const verdict = state.upload && settled.has(state.upload.status) ? state.upload : undefined;
  return (
    <div class="field upload-field">
      <label for={`${name}-file`}>{label}</label>
      <input id={`${name}-file`} name={name} type="file" accept={spec.accept} onChange={choose} disabled={state.busy} />
      <p class="hint">Choose {spec.label} of at most {spec.maxBytes >> 20} MB. Every file is checked for viruses before anyone sees it.</p>
      <div aria-live="polite" data-testid={`${name}-status`} data-status={state.upload ? UploadStatus[state.upload.status].toLowerCase() : state.error ? "error" : ""}>
        {state.error && (
          <Notice kind="error">
            <p>{state.error}</p>
          </Notice>
        )}
        {!state.error && state.upload && !verdict && <p>{statusText(state.upload)}</p>}
        {!state.error && verdict && (
          <Notice kind={verdict.status === UploadStatus.CLEAN ? "success" : "error"}>
            <p>{statusText(verdict)}</p>
          </Notice>
        )}
      </div>
    </div>
  );
}

/** A user's avatar (a clean upload), through a short-lived download URL; nothing when none. */
export function Avatar({ uploadId, alt, size = 96 }: { uploadId: string; alt: string; size?: number }) {
  const [url, setUrl] = useState<string | null>(null);
  useEffect(() => {
    let current = true;
    setUrl(null);
    if (uploadId) {
      uploadClient.getDownloadURL({ id: uploadId }).then(
        (res) => current && setUrl(res.url),
        () => current && setUrl(null), // no avatar shown rather than a broken image
      );
    }
    return () => {
      current = false;
    };
  }, [uploadId]);
  if (!url) return null;
  return <img class="avatar" src={url} alt={alt} width={size} height={size} data-testid="avatar" />;
}
