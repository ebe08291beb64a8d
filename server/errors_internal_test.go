package server

import (
	"net/http"
	"testing"

	"connectrpc.com/connect"
)

// One table maps codes to statuses and back; these are the statuses the Connect protocol
// specifies, and the reverse lookup agrees with it.
func TestConnectHTTPStatusTable(t *testing.T) {
	t.Parallel()
	for code, want := range map[connect.Code]int{
		connect.CodeCanceled: 499, connect.CodeUnknown: 500, connect.CodeInvalidArgument: 400,
		connect.CodeDeadlineExceeded: 504, connect.CodeNotFound: 404, connect.CodeAlreadyExists: 409,
		connect.CodePermissionDenied: 403, connect.CodeResourceExhausted: 429, connect.CodeFailedPrecondition: 400,
		connect.CodeAborted: 409, connect.CodeOutOfRange: 400, connect.CodeUnimplemented: 501,
		connect.CodeInternal: 500, connect.CodeUnavailable: 503, connect.CodeDataLoss: 500,
		connect.CodeUnauthenticated: 401,
	} {
		if got := connectHTTPStatus(code); got != want {
			t.Errorf("%v: status %d, want %d", code, got, want)
		}
	}
	for status, want := range map[int]connect.Code{
		400: connect.CodeInvalidArgument, 401: connect.CodeUnauthenticated, 403: connect.CodePermissionDenied,
		404: connect.CodeNotFound, 405: connect.CodeUnimplemented, 409: connect.CodeAborted,
		413: connect.CodeResourceExhausted, 415: connect.CodeInvalidArgument, 429: connect.CodeResourceExhausted,
		501: connect.CodeUnimplemented, 503: connect.CodeUnavailable, 504: connect.CodeDeadlineExceeded,
		http.StatusTeapot: connect.CodeInternal, 500: connect.CodeInternal,
	} {
		if got := codeForHTTPStatus(status); got != want {
			t.Errorf("status %d: %v, want %v", status, got, want)
		}
	}
	for _, e := range httpStatuses {
		if got := connectHTTPStatus(codeForHTTPStatus(e.status)); got != e.status {
			t.Errorf("status %d does not round-trip (%d)", e.status, got)
		}
	}
}
