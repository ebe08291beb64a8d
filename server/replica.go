package server

import (
	"context"
	"log/slog"
	"net/http"

	"connectrpc.com/connect"

	"github.com/tutorhub/tutorhub/internal/database"
)

// readYourWrites keeps a signed-in caller's reads consistent with their own writes when public
// reads go to a replica (Options.Reads): a read-only call (idempotency NO_SIDE_EFFECTS) is made
// for the caller (database.WithReader), and any other call that succeeds records the
// primary's WAL position as the caller's mark (Router.NoteWrite), so the caller's next reads
// stay on the primary until the replica has replayed it. Anonymous callers write nothing and
// read from the replica.
func readYourWrites(r *database.Router, log *slog.Logger) connect.Interceptor {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return aroundCall(func(ctx context.Context, spec connect.Spec, _ http.Header, next func(context.Context) error) error {
		c := CallerFrom(ctx)
		if c == nil || c.UserID == "" {
			return next(ctx)
		}
		if spec.IdempotencyLevel == connect.IdempotencyNoSideEffects {
			return next(database.WithReader(ctx, c.UserID))
		}
		if err := next(ctx); err != nil {
			return err
		}
		if err := r.NoteWrite(context.WithoutCancel(ctx), c.UserID); err != nil {
			// The write is done; only the caller's next reads may be stale, for at most the
			// replica's lag bound.
			log.WarnContext(ctx, "read-your-writes mark not recorded", "error", err.Error())
		}
		return nil
	})
}
