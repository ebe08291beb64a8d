// Package logging builds tutorhub's structured logger: slog, JSON by default, with the
// request id (and, when tracing is on, the trace id) of the context added to every record
// logged with a context, so an operator can follow one request across every line it caused.
package logging

import (
	"context"
	"io"
	"log/slog"
)

type ctxKey int

const requestIDKey ctxKey = iota

// WithRequestID returns ctx carrying the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// ContextAttrs, when set, adds attributes taken from a record's context (the trace id, for
// example). It is a hook for observability packages; nil adds nothing.
type ContextAttrs func(context.Context) []slog.Attr

// New returns a logger writing to w at level, as JSON (format "json") or logfmt-like text
// ("text"). extra adds attributes from each record's context.
func New(w io.Writer, level slog.Leveler, format string, extra ContextAttrs) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(&contextHandler{Handler: h, extra: extra})
}

type contextHandler struct {
	slog.Handler
	extra ContextAttrs
}

func (h *contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	if h.extra != nil {
		r.AddAttrs(h.extra(ctx)...)
	}
	return h.Handler.Handle(ctx, r)
}

func (h *contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &contextHandler{Handler: h.Handler.WithAttrs(attrs), extra: h.extra}
}

func (h *contextHandler) WithGroup(name string) slog.Handler {
	return &contextHandler{Handler: h.Handler.WithGroup(name), extra: h.extra}
}
