package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	validatepb "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/internal/database"
)

// codes maps each domain error code to its Connect code: the one table the API uses.
var codes = map[string]connect.Code{
	tutorhub.ECONFLICT:        connect.CodeAborted,
	tutorhub.EINTERNAL:        connect.CodeInternal,
	tutorhub.EINVALID:         connect.CodeInvalidArgument,
	tutorhub.ENOTFOUND:        connect.CodeNotFound,
	tutorhub.EEXISTS:          connect.CodeAlreadyExists,
	tutorhub.EUNAUTHENTICATED: connect.CodeUnauthenticated,
	tutorhub.EFORBIDDEN:       connect.CodePermissionDenied,
	tutorhub.EPRECONDITION:    connect.CodeFailedPrecondition,
	tutorhub.ERATELIMIT:       connect.CodeResourceExhausted,
	tutorhub.EUNAVAILABLE:     connect.CodeUnavailable,
}

// toConnectError translates any error a handler returns into the error the client sees.
// Domain errors keep their message and details; anything else is logged with the request id
// and returned as a bare Internal error, so no internals leak.
func toConnectError(ctx context.Context, log *slog.Logger, procedure string, err error) error {
	if err == nil {
		return nil
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		return err
	}
	var de *tutorhub.Error
	if !errors.As(err, &de) {
		if errors.Is(err, context.Canceled) {
			return connect.NewError(connect.CodeCanceled, errors.New("request canceled"))
		}
		if errors.Is(err, database.ErrPoolExhausted) {
			log.WarnContext(ctx, "database pool exhausted", "procedure", procedure)
			return overloaded()
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return connect.NewError(connect.CodeDeadlineExceeded, errors.New("deadline exceeded"))
		}
		if dependencyDown(err) {
			log.WarnContext(ctx, "dependency unavailable", "procedure", procedure, "error", err.Error())
			de = &tutorhub.Error{Code: tutorhub.EUNAVAILABLE, Message: "a dependency is unavailable; retry later", RetryAfterSeconds: max(1, breakerRetry(err))}
		} else {
			log.ErrorContext(ctx, "internal error", "procedure", procedure, "error", err.Error())
			return connect.NewError(connect.CodeInternal, errors.New("internal error"))
		}
	}
	code, ok := codes[de.Code]
	if !ok {
		code = connect.CodeInternal
	}
	if code == connect.CodeInternal {
		log.ErrorContext(ctx, "internal error", "procedure", procedure, "error", err.Error())
		return connect.NewError(connect.CodeInternal, errors.New("internal error"))
	}
	out := connect.NewError(code, errors.New(de.Message))
	if len(de.Violations) > 0 {
		addDetail(out, violationsProto(de.Violations))
	}
	if de.RetryAfterSeconds > 0 {
		addDetail(out, &errdetails.RetryInfo{RetryDelay: durationpb.New(secondsDuration(de.RetryAfterSeconds))})
		out.Meta().Set("Retry-After", strconv.Itoa(de.RetryAfterSeconds))
	}
	return out
}

func addDetail(e *connect.Error, m proto.Message) {
	if d, err := connect.NewErrorDetail(m); err == nil {
		e.AddDetail(d)
	}
}

// violationsProto renders domain violations as the one detail type every InvalidArgument
// error carries: buf.validate.Violations, the same message protovalidate produces.
func violationsProto(vs []tutorhub.Violation) *validatepb.Violations {
	out := &validatepb.Violations{}
	for _, v := range vs {
		out.Violations = append(out.Violations, &validatepb.Violation{
			Field:   fieldPath(v.Field),
			RuleId:  proto.String(v.Rule),
			Message: proto.String(v.Message),
		})
	}
	return out
}

// fieldPath parses "a.b[2].c" or `a["key"]` into a FieldPath with names and subscripts.
func fieldPath(s string) *validatepb.FieldPath {
	fp := &validatepb.FieldPath{}
	for _, part := range strings.Split(s, ".") {
		name, sub, hasSub := strings.Cut(part, "[")
		el := &validatepb.FieldPathElement{FieldName: proto.String(name)}
		if hasSub {
			sub = strings.TrimSuffix(sub, "]")
			if i, err := strconv.ParseUint(sub, 10, 64); err == nil {
				el.Subscript = &validatepb.FieldPathElement_Index{Index: i}
			} else {
				el.Subscript = &validatepb.FieldPathElement_StringKey{StringKey: strings.Trim(sub, `"`)}
			}
		}
		fp.Elements = append(fp.Elements, el)
	}
	return fp
}

// validationError turns a protovalidate failure into the API's InvalidArgument error.
func validationError(err error) error {
	var ve *protovalidate.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	pb := ve.ToProto()
	parts := make([]string, 0, len(pb.GetViolations()))
	for _, v := range pb.GetViolations() {
		parts = append(parts, protovalidate.FieldPathString(v.GetField())+": "+v.GetMessage())
	}
	out := connect.NewError(connect.CodeInvalidArgument, errors.New("invalid request: "+strings.Join(parts, "; ")))
	addDetail(out, pb)
	return out
}

// writeJSONError writes a plain-HTTP error (routes outside Connect: unknown paths, oversized
// bodies, panics in middleware) in the Connect JSON error shape, so every error a client sees
// has the same form.
func writeJSONError(w http.ResponseWriter, code connect.Code, message string) {
	writeJSONErrorStatus(w, connectHTTPStatus(code), code, message)
}

// writeJSONErrorStatus is writeJSONError with an explicit HTTP status, for the few edge
// errors HTTP has a more precise status for (413 for an oversized body).
func writeJSONErrorStatus(w http.ResponseWriter, status int, code connect.Code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"code":` + strconv.Quote(code.String()) + `,"message":` + strconv.Quote(message) + "}\n"))
}

// httpStatuses is the one table between Connect codes and HTTP statuses, as the Connect
// protocol assigns them. Where codes share a status, the first listed is the one that status
// maps back to.
var httpStatuses = []struct {
	code   connect.Code
	status int
}{
	{connect.CodeCanceled, 499},
	{connect.CodeInvalidArgument, http.StatusBadRequest},
	{connect.CodeOutOfRange, http.StatusBadRequest},
	{connect.CodeFailedPrecondition, http.StatusBadRequest},
	{connect.CodeDeadlineExceeded, http.StatusGatewayTimeout},
	{connect.CodeNotFound, http.StatusNotFound},
	{connect.CodeAborted, http.StatusConflict},
	{connect.CodeAlreadyExists, http.StatusConflict},
	{connect.CodePermissionDenied, http.StatusForbidden},
	{connect.CodeResourceExhausted, http.StatusTooManyRequests},
	{connect.CodeUnimplemented, http.StatusNotImplemented},
	{connect.CodeUnavailable, http.StatusServiceUnavailable},
	{connect.CodeUnauthenticated, http.StatusUnauthorized},
}

// httpStatusAliases are error statuses HTTP routers produce that the table has no code for,
// with the status of the nearest code.
var httpStatusAliases = map[int]int{
	http.StatusUnsupportedMediaType:  http.StatusBadRequest,
	http.StatusMethodNotAllowed:      http.StatusNotImplemented,
	http.StatusRequestEntityTooLarge: http.StatusTooManyRequests,
}

// connectHTTPStatus is the HTTP status the Connect protocol assigns to code; 500 for any code
// the table does not list.
func connectHTTPStatus(code connect.Code) int {
	for _, e := range httpStatuses {
		if e.code == code {
			return e.status
		}
	}
	return http.StatusInternalServerError
}

// codeForHTTPStatus is the Connect code closest to an HTTP error status (connectHTTPStatus
// read backwards); Internal for any other status.
func codeForHTTPStatus(status int) connect.Code {
	if alias, ok := httpStatusAliases[status]; ok {
		status = alias
	}
	for _, e := range httpStatuses {
		if e.status == status {
			return e.code
		}
	}
	return connect.CodeInternal
}

func secondsDuration(s int) time.Duration { return time.Duration(s) * time.Second }
