package database

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrPoolExhausted is the error of a query that got no pooled connection within the pool's
// acquire timeout while its own deadline had not passed: the instance has more work for the
// database than connections, and the caller may retry shortly. It matches
// context.DeadlineExceeded too, so code that only knows deadlines still sees one.
var ErrPoolExhausted error = poolExhausted{}

type poolExhausted struct{}

func (poolExhausted) Error() string {
	return "database pool exhausted: no connection within the acquire timeout"
}

func (poolExhausted) Is(target error) bool { return target == context.DeadlineExceeded }

// acquireBudget bounds every wait for a pooled connection (Query, Exec, QueryRow, Begin,
// SendBatch, CopyFrom and Acquire all start with one) at d, or the caller's deadline when
// that is sooner. pgxpool calls TraceAcquireStart before Acquire and runs the acquire under
// the context it returns; the query itself runs under the caller's context. A connection
// being dialled for the pool goes on in the background and serves the next caller.
type acquireBudget struct{ d time.Duration }

type acquireCancelKey struct{}

func (b acquireBudget) TraceAcquireStart(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireStartData) context.Context {
	bctx, cancel := context.WithTimeout(ctx, b.d)
	return budgetCtx{Context: context.WithValue(bctx, acquireCancelKey{}, cancel), parent: ctx}
}

func (acquireBudget) TraceAcquireEnd(ctx context.Context, _ *pgxpool.Pool, _ pgxpool.TraceAcquireEndData) {
	if cancel, ok := ctx.Value(acquireCancelKey{}).(context.CancelFunc); ok {
		cancel()
	}
}

// budgetCtx reports the end of the acquire budget, rather than of the caller's deadline, as
// ErrPoolExhausted.
type budgetCtx struct {
	context.Context
	parent context.Context
}

func (c budgetCtx) Err() error {
	err := c.Context.Err()
	if err == context.DeadlineExceeded && c.parent.Err() == nil {
		return ErrPoolExhausted
	}
	return err
}

// TraceQueryStart and TraceQueryEnd complete pgx.QueryTracer, which a connection's tracer
// must be; queries are not traced here.
func (acquireBudget) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (acquireBudget) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
