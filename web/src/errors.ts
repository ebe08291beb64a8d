// Turning API errors into what a person can act on: a message for the form, and each field
// violation (buf.validate.Violations, see docs/errors.md) next to the field it names.
import { Code, ConnectError } from "@connectrpc/connect";
import { ViolationsSchema, type FieldPath } from "@gen/buf/validate/validate_pb";

/** Error messages keyed by field path ("email", "profile.subjects[0].levels"). */
export type FieldErrors = Record<string, string>;

/** Writes a violation's field path the way forms name their fields: a.b[0].c, m["k"]. */
export function fieldPathString(path: FieldPath | undefined): string {
  let out = "";
  for (const el of path?.elements ?? []) {
    out += (out ? "." : "") + el.fieldName;
    switch (el.subscript.case) {
      case "index":
      case "intKey":
      case "uintKey":
        out += `[${el.subscript.value}]`;
        break;
      case "stringKey":
        out += `[${JSON.stringify(el.subscript.value)}]`;
        break;
      case "boolKey":
        out += `[${el.subscript.value}]`;
        break;
    }
  }
  return out;
}

// Wordings for rules whose API message names the field, which the form already labels.
const messages: Record<string, string> = {
  "publish.required": "Required to publish.",
  required: "Required.",
};

/**
 * The field violations an error carries, keyed by field path with prefix removed (so a form
 * for CreateTutorProfileRequest.profile can strip "profile."). The first message per field
 * wins; a violation of the whole message is keyed "".
 */
export function fieldErrors(err: unknown, prefix = ""): FieldErrors {
  const out: FieldErrors = {};
  if (!(err instanceof ConnectError)) return out;
  for (const detail of err.findDetails(ViolationsSchema)) {
    for (const v of detail.violations) {
      let path = fieldPathString(v.field);
      if (prefix && path.startsWith(prefix)) path = path.slice(prefix.length);
      out[path] ??= messages[v.ruleId ?? ""] ?? v.message;
    }
  }
  return out;
}

/** The errors for one field of a form: its own and those of its elements (name[0], name.x). */
export function errorFor(errors: FieldErrors, name: string): string | undefined {
  if (errors[name]) return errors[name];
  for (const [path, message] of Object.entries(errors)) {
    if (path.startsWith(`${name}[`) || path.startsWith(`${name}.`)) return message;
  }
  return undefined;
}

/** A sentence about an error that a person can read, with the request id when it helps. */
export function describe(err: unknown): string {
  const e = ConnectError.from(err);
  const requestId = e.metadata.get("x-request-id");
  switch (e.code) {
    case Code.Unavailable:
      return "The service is unavailable right now. Please try again in a moment.";
    case Code.Internal:
    case Code.Unknown:
    case Code.DataLoss:
      return `Something went wrong on our side${requestId ? ` (request ${requestId})` : ""}. Please try again.`;
    case Code.Canceled:
    case Code.DeadlineExceeded:
      return "The request took too long or was interrupted. Please check your connection and try again.";
    case Code.ResourceExhausted: {
      const retryAfter = e.metadata.get("retry-after");
      return `Too many attempts. Please wait${retryAfter ? ` ${retryAfter} seconds` : " a moment"} and try again.`;
    }
    case Code.InvalidArgument:
      if (e.findDetails(ViolationsSchema).length > 0) return "Please correct the fields marked below.";
      return e.rawMessage;
    case Code.Unauthenticated:
      return e.rawMessage || "Please sign in again.";
    case Code.PermissionDenied:
      return e.rawMessage || "You are not allowed to do this.";
    case Code.NotFound:
      return e.rawMessage || "Not found.";
    default:
      return e.rawMessage || e.message;
  }
}
