// Package tutorhub holds the domain vocabulary every layer shares: error codes, field
// violations, and the one implementation of each shared input rule (rules.go: plain text,
// time zones, languages, field masks). It carries no assets: the web client is embedded by
// package web, the OpenAPI document by gen/openapi.
//
// The domain speaks plain Go errors; the edges (Connect, REST, SQL) translate them at the
// boundary, in one place each (server/errors.go for the API).
package tutorhub

import (
	"errors"
	"fmt"
	"strings"
)

// Error codes. Each maps to exactly one Connect code and HTTP status in server/errors.go.
const (
	ECONFLICT        = "conflict"          // stale version or duplicate: the caller must re-read
	EINTERNAL        = "internal"          // a bug or an unexpected failure; never shown in detail
	EINVALID         = "invalid"           // bad input; Violations say which fields
	ENOTFOUND        = "not_found"         // no such resource, or the caller may not know it exists
	EEXISTS          = "already_exists"    // creating something that exists
	EUNAUTHENTICATED = "unauthenticated"   // no or bad credentials
	EFORBIDDEN       = "permission_denied" // authenticated, but not allowed
	EPRECONDITION    = "failed_precondition"
	ERATELIMIT       = "rate_limited" // RetryAfter says when to come back
	EUNAVAILABLE     = "unavailable"  // a dependency is down; retrying later may succeed
)

// Violation names one invalid field: its path as the client sent it (e.g. "page_token",
// "availability[2].start"), a stable machine-readable rule id and a human-readable message.
type Violation struct {
	Field   string
	Rule    string
	Message string
}

// Error is a domain error with a code callers can branch on and a message safe to show.
type Error struct {
	Code       string
	Message    string
	Violations []Violation
	// RetryAfterSeconds is set on ERATELIMIT errors, and on EUNAVAILABLE errors when a
	// dependency's circuit breaker says when it will be tried again.
	RetryAfterSeconds int
}

// Error implements error.
func (e *Error) Error() string {
	if len(e.Violations) == 0 {
		return fmt.Sprintf("%s: %s", e.Code, e.Message)
	}
	parts := make([]string, 0, len(e.Violations))
	for _, v := range e.Violations {
		parts = append(parts, v.Field+": "+v.Message)
	}
	return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, strings.Join(parts, "; "))
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error for one field.
func Invalid(field, rule, message string) *Error {
	return &Error{Code: EINVALID, Message: "invalid request", Violations: []Violation{{Field: field, Rule: rule, Message: message}}}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other
// non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}
