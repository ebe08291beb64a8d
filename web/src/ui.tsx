// The building blocks every page uses: labelled fields that show their API violation,
// loading/error/empty states, and hooks for loading data and submitting forms.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useId, useRef, useState } from "preact/hooks";
import { describe, errorFor, fieldErrors, type FieldErrors } from "./errors";

/** A field's error message, referenced by the control's aria-describedby. */
export function FieldError({ id, message }: { id: string; message?: string }) {
  if (!message) return null;
  return (
    <p class="field-error" id={id} data-field-error>
      {message}
    </p>
  );
}

type InputProps = {
  label: string;
  name: string;
  value: string;
  onValue: (v: string) => void;
  errors: FieldErrors;
  hint?: string;
  type?: "text" | "email" | "password" | "time" | "search";
  autoComplete?: string;
  inputMode?: "text" | "numeric" | "decimal" | "email";
  maxLength?: number;
  required?: boolean;
};

/** A labelled text input whose API violation (by name) appears beneath it. */
export function TextField({ label, name, value, onValue, errors, hint, type = "text", ...rest }: InputProps) {
  const id = useId();
  const error = errorFor(errors, name);
  const describedBy = [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(" ") || undefined;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      <input
        {...rest}
        // Preact types each input type's attributes apart; these props suit all of them.
        type={type as "text"}
        id={id}
        name={name}
        value={value}
        onInput={(e) => onValue(e.currentTarget.value)}
        aria-invalid={error ? "true" : undefined}
        aria-describedby={describedBy}
      />
      <FieldError id={`${id}-error`} message={error} />
    </div>
  );
}

/** A labelled multi-line text input. */
export function TextArea({
  label,
  name,
  value,
  onValue,
  errors,
  hint,
  rows = 6,
  maxLength,
}: {
  label: string;
  name: string;
  value: string;
  onValue: (v: string) => void;
  errors: FieldErrors;
  hint?: string;
  rows?: number;
  maxLength?: number;
}) {
  const id = useId();
  const error = errorFor(errors, name);
  const describedBy = [hint && `${id}-hint`, error && `${id}-error`].filter(Boolean).join(" ") || undefined;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {hint && (
        <p class="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      <textarea
        id={id}
        name={name}
        rows={rows}
        maxLength={maxLength}
        value={value}
        onInput={(e) => onValue(e.currentTarget.value)}
        aria-invalid={error ? "true" : undefined}
        aria-describedby={describedBy}
      />
      <FieldError id={`${id}-error`} message={error} />
    </div>
  );
}

/** A labelled select. */
export function SelectField({
  label,
  name,
  value,
  onValue,
  errors,
  options,
  disabled,
}: {
  label: string;
  name: string;
  value: string;
  onValue: (v: string) => void;
  errors: FieldErrors;
  options: { value: string; label: string }[];
  disabled?: boolean;
}) {
  const id = useId();
  const error = errorFor(errors, name);
  return (
    <div class="field">
      <label for={id}>{label}</label>
      <select
        id={id}
        name={name}
        value={value}
        disabled={disabled}
        onChange={(e) => onValue(e.currentTarget.value)}
        aria-invalid={error ? "true" : undefined}
        aria-describedby={error ? `${id}-error` : undefined}
      >
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      <FieldError id={`${id}-error`} message={error} />
    </div>
  );
}

/** A group of checkboxes under one legend, with the group's violation beneath it. */
export function CheckboxGroup<T extends string | number>({
  legend,
  name,
  options,
  selected,
  onChange,
  errors,
}: {
  legend: string;
  name: string;
  options: { value: T; label: string }[];
  selected: T[];
  onChange: (next: T[]) => void;
  errors: FieldErrors;
}) {
  const id = useId();
  const error = errorFor(errors, name);
  return (
    <fieldset class="field checkbox-group" aria-describedby={error ? `${id}-error` : undefined} aria-invalid={error ? "true" : undefined}>
      <legend>{legend}</legend>
      {options.map((o) => (
        <label key={String(o.value)} class="checkbox">
          <input
            type="checkbox"
            name={name}
            value={String(o.value)}
            checked={selected.includes(o.value)}
            onChange={(e) =>
              onChange(e.currentTarget.checked ? [...selected, o.value] : selected.filter((v) => v !== o.value))
            }
          />
          {o.label}
        </label>
      ))}
      <FieldError id={`${id}-error`} message={error} />
    </fieldset>
  );
}

/** A form-level message: an error (announced) or a confirmation. */
export function Notice({ kind, children }: { kind: "error" | "success" | "info"; children: ComponentChildren }) {
  return (
    <div class={`notice notice-${kind}`} role={kind === "error" ? "alert" : "status"}>
      {children}
    </div>
  );
}

/** The loading state of a page or a section. */
export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <p class="loading" role="status" aria-live="polite">
      {what}…
    </p>
  );
}

/** A failed load, with a way to try again. */
export function LoadError({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <Notice kind="error">
      <p>{describe(error)}</p>
      {retry && (
        <button type="button" onClick={retry}>
          Try again
        </button>
      )}
    </Notice>
  );
}

/** What a load is doing: still running, failed, or done with data. */
export type Load<T> = { status: "loading" } | { status: "error"; error: unknown } | { status: "ok"; data: T };

/**
 * Runs load when the component mounts and whenever deps change; a later run supersedes an
 * earlier one still in flight. Returns the state and a function that runs it again.
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): [Load<T>, () => void] {
  const [state, setState] = useState<Load<T>>({ status: "loading" });
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    let current = true;
    setState({ status: "loading" });
    load().then(
      (data) => current && setState({ status: "ok", data }),
      (error) => current && setState({ status: "error", error }),
    );
    return () => {
      current = false;
    };
  }, [...deps, attempt]);
  return [state, useCallback(() => setAttempt((a) => a + 1), [])];
}

/** The state of a form submission. */
export type Submission = {
  busy: boolean;
  errors: FieldErrors;
  error: unknown;
  onSubmit: (e: Event) => void;
  clear: () => void;
};

/**
 * Submits a form through action: the submission is busy meanwhile, and an API error leaves
 * its message and field violations (with prefix stripped) for the form to show. The first
 * invalid field receives focus.
 */
export function useSubmit(action: () => Promise<void>, prefix = ""): Submission {
  const [busy, setBusy] = useState(false);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState<unknown>(undefined);
  const form = useRef<HTMLFormElement | null>(null);
  useEffect(() => {
    form.current?.querySelector<HTMLElement>("[aria-invalid=true]")?.focus();
  }, [errors]);
  const onSubmit = (e: Event) => {
    e.preventDefault();
    if (busy) return;
    form.current = e.currentTarget as HTMLFormElement;
    setBusy(true);
    setErrors({});
    setError(undefined);
    action().then(
      () => setBusy(false),
      (err) => {
        setBusy(false);
        setError(err);
        setErrors(fieldErrors(err, prefix));
      },
    );
  };
  const clear = () => {
    setErrors({});
    setError(undefined);
  };
  return { busy, errors, error, onSubmit, clear };
}

/** The message of a failed submission, if any. */
export function SubmitError({ submission }: { submission: Submission }) {
  if (submission.error === undefined) return null;
  return (
    <Notice kind="error">
      <p>{describe(submission.error)}</p>
    </Notice>
  );
}

/** Sets the document title while the page is shown. */
export function useTitle(title: string) {
  useEffect(() => {
    document.title = title ? `${title} · tutorhub` : "tutorhub";
  }, [title]);
}
