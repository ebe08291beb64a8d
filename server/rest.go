package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// wireError is the one JSON error shape every HTTP client of the API sees, REST or Connect:
// Connect's own error format, so Connect clients decode REST errors too.
type wireError struct {
	Code    string       `json:"code"`
	Message string       `json:"message,omitempty"`
	Details []wireDetail `json:"details,omitempty"`
}

// wireDetail is one error detail: its protobuf type, its binary value (base64), and the same
// value as JSON for readers without the schema.
type wireDetail struct {
	Type  string          `json:"type"`
	Value string          `json:"value"`
	Debug json.RawMessage `json:"debug,omitempty"`
}

// restErrors rewrites the google.rpc.Status bodies the REST transcoder writes for errors into
// the API's error shape, keeping the HTTP status.
func restErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rw := &errorRewriter{ResponseWriter: w}
		next.ServeHTTP(rw, r)
		rw.finish()
	})
}

type errorRewriter struct {
	http.ResponseWriter
	status    int
	buffering bool
	buf       bytes.Buffer
}

func (e *errorRewriter) WriteHeader(code int) {
	if e.status != 0 {
		return
	}
	e.status = code
	if code >= 400 {
		e.buffering = true
		return
	}
	e.ResponseWriter.WriteHeader(code)
}

func (e *errorRewriter) Write(b []byte) (int, error) {
	if e.status == 0 {
		e.WriteHeader(http.StatusOK)
	}
	if e.buffering {
		return e.buf.Write(b)
	}
	return e.ResponseWriter.Write(b)
}

func (e *errorRewriter) Flush() {
	if e.buffering {
		return
	}
	if f, ok := e.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (e *errorRewriter) Unwrap() http.ResponseWriter { return e.ResponseWriter }

func (e *errorRewriter) finish() {
	if !e.buffering {
		return
	}
	body := e.buf.Bytes()
	var st status.Status
	if err := protojson.Unmarshal(body, &st); err == nil && st.GetCode() != 0 {
		out := wireError{Code: connect.Code(st.GetCode()).String(), Message: st.GetMessage()}
		for _, a := range st.GetDetails() {
			d := wireDetail{
				Type:  strings.TrimPrefix(a.GetTypeUrl(), "type.googleapis.com/"),
				Value: base64.RawStdEncoding.EncodeToString(a.GetValue()),
			}
			if m, err := a.UnmarshalNew(); err == nil {
				if js, err := protojson.Marshal(m); err == nil {
					d.Debug = js
				}
			}
			out.Details = append(out.Details, d)
		}
		if b, err := json.Marshal(out); err == nil {
			body = append(b, '\n')
		}
	} else if !json.Valid(body) {
		// Plain-text errors from the router (405 and the like) get the same JSON shape.
		out := wireError{Code: codeForHTTPStatus(e.status).String(), Message: strings.TrimSpace(string(body))}
		if b, err := json.Marshal(out); err == nil {
			body = append(b, '\n')
		}
		e.Header().Set("Content-Type", "application/json")
	}
	e.Header().Set("Content-Length", strconv.Itoa(len(body)))
	e.Header().Del("Content-Encoding")
	e.ResponseWriter.WriteHeader(e.status)
	_, _ = e.ResponseWriter.Write(body)
}
