package database

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Router sends reads that may be slightly stale (public tutor profiles and lists, search) to a
// streaming replica, and everything else to the primary. It guarantees:
//
//   - read-your-writes: after NoteWrite(ctx, subject), reads made under WithReader(ctx,
//     subject) go to the primary until the replica has replayed the primary's WAL up to the
//     position NoteWrite saw (the mark lives in Redis, so every API replica honours it);
//   - a replica that is down, no longer in recovery, or further behind than MaxLag serves
//     nothing: its state is measured every CheckInterval (never per request), and a read
//     that fails on the replica for want of a connection is retried on the primary and
//     takes the replica out until the next check finds it well;
//   - its lag, in bytes and seconds, is exported (RegisterMetrics).
//
// Router implements the sqlc DBTX interface (Exec, Query, QueryRow), so a domain package's
// read queries run through it unchanged. It never opens transactions: writes and
// read-check-write transactions stay on the primary pool.
type Router struct {
	primary *pgxpool.Pool
	replica *pgxpool.Pool
	o       RouterOptions

	state atomic.Pointer[ReplicaState]
	reads [2]atomic.Int64 // by target: 0 primary, 1 replica

	mu      sync.Mutex // guards samples (Check)
	samples []lsnSample
}

// RouterOptions tune a Router; zero fields take the defaults named on each.
type RouterOptions struct {
	// MaxLag is the replication lag beyond which reads go to the primary (default 5s).
	MaxLag time.Duration
	// CheckInterval is how often Run measures the replica (default 1s).
	CheckInterval time.Duration
	// Redis keeps the read-your-writes marks, under KeyPrefix; nil sends every read made
	// under WithReader to the primary.
	Redis     redis.UniversalClient
	KeyPrefix string
	// Logger logs the replica going in and out of service; nil discards.
	Logger *slog.Logger
}

// ReplicaState is the replica as the last check found it.
type ReplicaState struct {
	// Usable says reads may go to the replica.
	Usable bool
	// Reason says why not, when not.
	Reason string
	// ReplayLSN is the WAL position the replica has applied, in bytes.
	ReplayLSN int64
	// LagBytes is how far the replica's replay is behind the primary's WAL.
	LagBytes int64
	// Lag is how long ago the primary was where the replica is now (0 when caught up).
	Lag time.Duration
	// CheckedAt is when the check ran.
	CheckedAt time.Time
}

type lsnSample struct {
	at  time.Time
	lsn int64
}

// Read targets, as counted by Reads.
const (
	TargetPrimary = "primary"
	TargetReplica = "replica"
)

// NewRouter returns a Router over the primary and replica pools. Until the first Check,
// every read goes to the primary. A nil replica makes it send every read to the primary.
func NewRouter(primary, replica *pgxpool.Pool, o RouterOptions) *Router {
	if o.MaxLag <= 0 {
		o.MaxLag = 5 * time.Second
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Router{primary: primary, replica: replica, o: o}
	r.state.Store(&ReplicaState{Reason: "not checked yet"})
	return r
}

// OpenReplica returns a pool on the replica at dsn without waiting for it to answer: the
// Router's checks decide whether it is used, so an API starts while its replica is down.
func OpenReplica(dsn string, opts PoolOptions) (*pgxpool.Pool, error) {
	cfg, err := poolConfig(dsn, opts)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("open replica pool: %w", err)
	}
	return pool, nil
}

// State returns the replica's state as of the last check.
func (r *Router) State() ReplicaState { return *r.state.Load() }

// Reads returns how many reads went to target (TargetPrimary or TargetReplica).
func (r *Router) Reads(target string) int64 {
	if target == TargetReplica {
		return r.reads[1].Load()
	}
	return r.reads[0].Load()
}

// Run checks the replica every CheckInterval until ctx ends.
func (r *Router) Run(ctx context.Context) {
	t := time.NewTicker(r.o.CheckInterval)
	defer t.Stop()
	for {
		r.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check measures the replica once: whether it answers and is in recovery, its replay position
// and its lag behind the primary; and decides whether it serves reads.
func (r *Router) Check(ctx context.Context) ReplicaState {
	if r.replica == nil {
		return r.set(ReplicaState{Reason: "no replica configured", CheckedAt: time.Now()})
	}
	ctx, cancel := context.WithTimeout(ctx, max(r.o.CheckInterval, 2*time.Second))
	defer cancel()
	var primaryLSN int64
	if err := r.primary.QueryRow(ctx, "SELECT (pg_current_wal_lsn() - '0/0')::bigint").Scan(&primaryLSN); err != nil {
		// Without the primary there is nothing to compare with, and reads fail either way.
		return r.State()
	}
	now := time.Now()
	var (
		inRecovery bool
		replay     int64
	)
	err := r.replica.QueryRow(ctx, "SELECT pg_is_in_recovery(), coalesce((pg_last_wal_replay_lsn() - '0/0')::bigint, 0)").Scan(&inRecovery, &replay)
	st := ReplicaState{CheckedAt: now, ReplayLSN: replay}
	r.mu.Lock()
	r.samples = append(r.samples, lsnSample{at: now, lsn: primaryLSN})
	// Samples older than twice the bound are of no use: the lag is over the bound anyway.
	for len(r.samples) > 1 && now.Sub(r.samples[0].at) > 2*r.o.MaxLag+r.o.CheckInterval {
		r.samples = r.samples[1:]
	}
	if err == nil {
		st.LagBytes = max(0, primaryLSN-replay)
		st.Lag = lagOf(r.samples, replay, now)
	}
	r.mu.Unlock()
	switch {
	case err != nil:
		st.Reason = "replica unreachable: " + err.Error()
	case !inRecovery:
		st.Reason = "the replica is not in recovery (promoted?)"
	case st.Lag > r.o.MaxLag:
		st.Reason = fmt.Sprintf("replica lag %s is over the bound %s", st.Lag.Round(time.Millisecond), r.o.MaxLag)
	default:
		st.Usable = true
	}
	return r.set(st)
}

// lagOf is how long ago the primary first wrote beyond replay: now minus the time of the
// earliest sample ahead of the replica; zero when no sample is.
func lagOf(samples []lsnSample, replay int64, now time.Time) time.Duration {
	for _, s := range samples {
		if s.lsn > replay {
			return now.Sub(s.at)
		}
	}
	return 0
}

func (r *Router) set(st ReplicaState) ReplicaState {
	prev := r.state.Swap(&st)
	if prev.Usable != st.Usable {
		if st.Usable {
			r.o.Logger.Info("read replica in service", "lag_bytes", st.LagBytes, "lag_seconds", st.Lag.Seconds())
		} else {
			r.o.Logger.Warn("read replica out of service; reads go to the primary", "reason", st.Reason)
		}
	}
	return st
}

// markDown takes the replica out of service until the next check.
func (r *Router) markDown(err error) {
	st := r.State()
	if !st.Usable {
		return
	}
	st.Usable = false
	st.Reason = "a read failed on the replica: " + err.Error()
	r.set(st)
}

type readerKey struct{}

// WithReader returns ctx whose reads are made for subject (a user id): they honour that
// subject's read-your-writes mark.
func WithReader(ctx context.Context, subject string) context.Context {
	return context.WithValue(ctx, readerKey{}, subject)
}

func (r *Router) markKey(subject string) string { return r.o.KeyPrefix + "ryw:" + subject }

// markTTL is how long a write mark is kept: a replica within the lag bound has replayed every
// write older than the bound, and one beyond it serves nothing.
func (r *Router) markTTL() time.Duration { return 2*r.o.MaxLag + 2*r.o.CheckInterval }

// The mark keeps the highest position noted (16 hex digits compare as strings), so a slow
// NoteWrite of an earlier write never lowers it.
var noteScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if (not cur) or cur < ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 1`)

// NoteWrite records that subject has just written: the primary's current WAL position (at
// or after the end of every transaction subject committed so far) becomes the position the
// replica must have replayed before subject's reads go to it again.
func (r *Router) NoteWrite(ctx context.Context, subject string) error {
	if r.replica == nil || subject == "" || r.o.Redis == nil {
		return nil
	}
	var lsn int64
	if err := r.primary.QueryRow(ctx, "SELECT (pg_current_wal_lsn() - '0/0')::bigint").Scan(&lsn); err != nil {
		return fmt.Errorf("read-your-writes: primary WAL position: %w", err)
	}
	err := noteScript.Run(ctx, r.o.Redis, []string{r.markKey(subject)},
		fmt.Sprintf("%016x", lsn), strconv.FormatInt(r.markTTL().Milliseconds(), 10)).Err()
	if err != nil {
		return fmt.Errorf("read-your-writes: record mark: %w", err)
	}
	return nil
}

// pick chooses the pool for a read made with ctx.
func (r *Router) pick(ctx context.Context) (*pgxpool.Pool, bool) {
	st := r.state.Load()
	if !st.Usable {
		return r.primary, false
	}
	subject, _ := ctx.Value(readerKey{}).(string)
	if subject == "" {
		return r.replica, true
	}
	if r.o.Redis == nil {
		return r.primary, false
	}
	mark, err := r.o.Redis.Get(ctx, r.markKey(subject)).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return r.replica, true
	case err != nil:
		// Without the mark, only the primary is sure to hold the subject's writes.
		return r.primary, false
	}
	lsn, err := strconv.ParseInt(mark, 16, 64)
	if err != nil || lsn > st.ReplayLSN {
		return r.primary, false
	}
	return r.replica, true
}

func (r *Router) count(replica bool) {
	if replica {
		r.reads[1].Add(1)
	} else {
		r.reads[0].Add(1)
	}
}

// replicaUnavailable says a read failed because of the replica itself (no connection, shut
// down, recovery conflict), not because of the query: it is worth retrying on the primary.
func replicaUnavailable(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || errors.Is(err, pgx.ErrNoRows) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "40001", // canceled by a conflict with recovery
			len(pe.Code) == 5 && (pe.Code[:2] == "08" || pe.Code[:2] == "57"):
			return true
		}
		return false
	}
	return true
}

// Exec runs sql on the chosen database. Reads only: writes go to the primary pool directly.
func (r *Router) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	pool, onReplica := r.pick(ctx)
	r.count(onReplica)
	tag, err := pool.Exec(ctx, sql, args...)
	if onReplica && replicaUnavailable(ctx, err) {
		r.markDown(err)
		r.count(false)
		return r.primary.Exec(ctx, sql, args...)
	}
	return tag, err
}

// Query runs sql on the chosen database.
func (r *Router) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	pool, onReplica := r.pick(ctx)
	r.count(onReplica)
	rows, err := pool.Query(ctx, sql, args...)
	if onReplica && replicaUnavailable(ctx, err) {
		r.markDown(err)
		r.count(false)
		return r.primary.Query(ctx, sql, args...)
	}
	return rows, err
}

// QueryRow runs sql on the chosen database; a replica that fails is replaced by the primary
// when the row is scanned.
func (r *Router) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	pool, onReplica := r.pick(ctx)
	r.count(onReplica)
	row := pool.QueryRow(ctx, sql, args...)
	if !onReplica {
		return row
	}
	return fallbackRow{row: row, retry: func(err error) pgx.Row {
		r.markDown(err)
		r.count(false)
		return r.primary.QueryRow(ctx, sql, args...)
	}, ctx: ctx}
}

type fallbackRow struct {
	row   pgx.Row
	retry func(error) pgx.Row
	ctx   context.Context
}

func (f fallbackRow) Scan(dest ...any) error {
	err := f.row.Scan(dest...)
	if replicaUnavailable(f.ctx, err) {
		return f.retry(err).Scan(dest...)
	}
	return err
}

// RegisterMetrics exports the replica's state at /metrics: tutorhub_db_replica_lag_bytes,
// tutorhub_db_replica_lag_seconds, tutorhub_db_replica_usable (1 or 0) and
// tutorhub_db_reads_total by target.
func (r *Router) RegisterMetrics(mp metric.MeterProvider) error {
	m := mp.Meter("github.com/tutorhub/tutorhub/internal/database")
	lagBytes, err := m.Int64ObservableGauge("tutorhub.db.replica.lag.bytes",
		metric.WithDescription("How far the read replica's replay is behind the primary's WAL, in bytes."), metric.WithUnit("By"))
	if err != nil {
		return err
	}
	lagSeconds, err := m.Float64ObservableGauge("tutorhub.db.replica.lag.seconds",
		metric.WithDescription("How long ago the primary was where the read replica is now."), metric.WithUnit("s"))
	if err != nil {
		return err
	}
	usable, err := m.Int64ObservableGauge("tutorhub.db.replica.usable",
		metric.WithDescription("1 when public reads go to the read replica, 0 when they go to the primary."))
	if err != nil {
		return err
	}
	reads, err := m.Int64ObservableCounter("tutorhub.db.reads",
		metric.WithDescription("Routed reads, by the database that served them (primary or replica)."))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := r.State()
		o.ObserveInt64(lagBytes, st.LagBytes)
		o.ObserveFloat64(lagSeconds, st.Lag.Seconds())
		u := int64(0)
		if st.Usable {
			u = 1
		}
		o.ObserveInt64(usable, u)
		o.ObserveInt64(reads, r.Reads(TargetPrimary), metric.WithAttributes(targetAttr(TargetPrimary)))
		o.ObserveInt64(reads, r.Reads(TargetReplica), metric.WithAttributes(targetAttr(TargetReplica)))
		return nil
	}, lagBytes, lagSeconds, usable, reads)
	return err
}

func targetAttr(t string) attribute.KeyValue { return attribute.String("target", t) }
