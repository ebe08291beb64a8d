package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
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

// restRequests is the gate in front of the REST transcoder. Calls that change state (POST,
// PUT, PATCH, DELETE) must declare Content-Type application/json (parameters such as charset
// allowed), even with an empty body: a browser sends anything else (text/plain, a form,
// multipart, or no Content-Type at all) from another site without a CORS preflight, so
// refusing it with 415 keeps other sites from making a visitor's browser call the API.
// A gzip request body is inflated here, before the transcoder (which would inflate it with
// no limit), and refused with 413 as soon as it inflates past maxBodyBytes; any other
// Content-Encoding gets 415. An empty POST, PUT or PATCH body stands for the empty message
// `{}`. Errors are in the API's JSON error shape.
func restRequests(maxBodyBytes int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
			if !isJSONContentType(r.Header.Get("Content-Type")) {
				writeJSONErrorStatus(w, http.StatusUnsupportedMediaType, connect.CodeInvalidArgument,
					"Content-Type must be application/json for "+r.Method+" requests")
				return
			}
		}
		// The transcoder buffers the whole body anyway; reading it here, within the limit,
		// lets an oversized one get the same 413 whether it came compressed or not.
		var body []byte
		var err error
		switch enc := strings.Join(r.Header.Values("Content-Encoding"), ","); strings.ToLower(strings.TrimSpace(enc)) {
		case "", "identity":
			body, err = readBounded(r.Body, maxBodyBytes)
		case "gzip":
			body, err = inflateGzip(r.Body, maxBodyBytes)
			if err != nil && !errors.Is(err, errInflatedTooLarge) && !isMaxBytesError(err) {
				writeJSONErrorStatus(w, http.StatusBadRequest, connect.CodeInvalidArgument, "request body is not valid gzip")
				return
			}
		default:
			writeJSONErrorStatus(w, http.StatusUnsupportedMediaType, connect.CodeInvalidArgument,
				"unsupported Content-Encoding "+strconv.Quote(enc)+": send gzip or an uncompressed body")
			return
		}
		switch {
		case errors.Is(err, errInflatedTooLarge) || isMaxBytesError(err):
			if r.ProtoMajor == 1 {
				// The rest of the body is not worth reading. (Over HTTP/2 this header would
				// make the server close the whole, possibly shared, connection.)
				w.Header().Set("Connection", "close")
			}
			writeJSONErrorStatus(w, http.StatusRequestEntityTooLarge, connect.CodeResourceExhausted, "request body too large")
			return
		case err != nil:
			writeJSONErrorStatus(w, http.StatusBadRequest, connect.CodeInvalidArgument, "request body could not be read")
			return
		}
		if len(body) == 0 && (r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch) {
			// An empty JSON body means an empty message; the transcoder would refuse it as
			// invalid JSON. Every POST, PUT and PATCH rule of this API takes a body.
			body = []byte("{}")
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Del("Content-Encoding")
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
		next.ServeHTTP(w, r)
	})
}

// isJSONContentType reports whether ct names application/json, with any parameters.
func isJSONContentType(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
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
