package notifications

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tutorhub/tutorhub"
)

// Hub feeds the new inbox items of every replica to the watchers connected to this one: it
// LISTENs on the notifications channel (NOTIFY from the inbox table's trigger, so an item
// inserted by any worker reaches every API replica), reads each item once, and hands it to
// the recipient's subscriptions. A user holds at most MaxPerUser subscriptions at once.
//
// A subscription that cannot keep up (its buffer is full), or every subscription while the
// LISTEN connection is being re-established, is ended with ErrResync: the watcher reconnects
// and lists what it missed, so nothing is lost silently. Stop ends every subscription.
type Hub struct {
	pool *pgxpool.Pool
	svc  *Service
	o    HubOptions

	mu      sync.Mutex
	subs    map[uuid.UUID]map[*Subscription]struct{}
	stopped bool
	ready   chan struct{}
	once    sync.Once
}

// HubOptions bound a Hub.
type HubOptions struct {
	// MaxPerUser bounds the subscriptions of one user (default 5).
	MaxPerUser int
	// Buffer is how many items a subscription holds for a slow reader (default 64).
	Buffer int
	// Logger logs lost LISTEN connections; nil discards.
	Logger *slog.Logger
	// ListenURL is the database the LISTEN connection opens, when the pool goes through a
	// transaction-pooling proxy (PgBouncer) that cannot hold a session; empty takes a
	// connection from the pool.
	ListenURL string
}

// ErrResync ends a subscription that may have missed items; the watcher lists the inbox
// again.
var ErrResync = errors.New("the notification stream fell behind; reconnect and list the inbox")

// ErrStopped ends every subscription when the hub stops (the server is shutting down).
var ErrStopped = errors.New("the server is shutting down; reconnect")

// NewHub returns a hub reading items through svc and listening on pool. Run must be running
// for subscriptions to receive anything.
func NewHub(pool *pgxpool.Pool, svc *Service, o HubOptions) *Hub {
	if o.MaxPerUser <= 0 {
		o.MaxPerUser = 5
	}
	if o.Buffer <= 0 {
		o.Buffer = 64
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Hub{pool: pool, svc: svc, o: o, subs: map[uuid.UUID]map[*Subscription]struct{}{}, ready: make(chan struct{})}
}

// Subscription is one watcher's feed.
type Subscription struct {
	hub  *Hub
	user uuid.UUID
	// C receives the user's new items.
	C    chan Notification
	done chan struct{}
	err  error
	once sync.Once
}

// Done is closed when the hub ended the subscription; Err says why.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err is ErrResync or ErrStopped once Done is closed.
func (s *Subscription) Err() error {
	<-s.done
	return s.err
}

// Close ends the subscription and frees its place in the user's budget.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	s.hub.remove(s)
	s.hub.mu.Unlock()
	s.end(nil)
}

func (s *Subscription) end(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
	})
}

// remove drops s from the registry; h.mu held.
func (h *Hub) remove(s *Subscription) {
	if m := h.subs[s.user]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(h.subs, s.user)
		}
	}
}

// Subscribe opens a feed of user's new items, or fails with ERATELIMIT when the user holds
// MaxPerUser already, or ErrStopped.
func (h *Hub) Subscribe(user uuid.UUID) (*Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return nil, ErrStopped
	}
	if len(h.subs[user]) >= h.o.MaxPerUser {
		return nil, &tutorhub.Error{Code: tutorhub.ERATELIMIT, Message: fmt.Sprintf("at most %d notification streams per user", h.o.MaxPerUser), RetryAfterSeconds: 10}
	}
	s := &Subscription{hub: h, user: user, C: make(chan Notification, h.o.Buffer), done: make(chan struct{})}
	if h.subs[user] == nil {
		h.subs[user] = map[*Subscription]struct{}{}
	}
	h.subs[user][s] = struct{}{}
	return s, nil
}

// Count returns how many subscriptions the hub holds.
func (h *Hub) Count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.subs {
		n += len(m)
	}
	return n
}

// Ready is closed once the hub listens (the first time).
func (h *Hub) Ready() <-chan struct{} { return h.ready }

// Stop ends every subscription with ErrStopped and refuses new ones.
func (h *Hub) Stop() {
	h.endAll(ErrStopped, true)
}

// Run listens until ctx ends, then stops the hub. A lost connection ends every subscription
// with ErrResync (items may have been missed meanwhile) and is reopened after a pause.
func (h *Hub) Run(ctx context.Context) {
	defer h.Stop()
	for pause := 100 * time.Millisecond; ctx.Err() == nil; pause = min(pause*2, 10*time.Second) {
		err := h.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		h.o.Logger.Warn("notifications: listening failed; watchers resync", "error", err, "retry_in", pause.String())
		h.resyncAll()
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
	}
}

func (h *Hub) resyncAll() { h.endAll(ErrResync, false) }

// endAll ends every subscription with err, and with stop refuses new ones from then on.
func (h *Hub) endAll(err error, stop bool) {
	h.mu.Lock()
	if stop {
		h.stopped = true
	}
	var all []*Subscription
	for _, m := range h.subs {
		for s := range m {
			all = append(all, s)
		}
	}
	h.subs = map[uuid.UUID]map[*Subscription]struct{}{}
	h.mu.Unlock()
	for _, s := range all {
		s.end(err)
	}
}

func (h *Hub) listen(ctx context.Context) error {
	pc, err := h.listenConn(ctx)
	if err != nil {
		return err
	}
	defer pc.Close(context.WithoutCancel(ctx)) //nolint:errcheck
	if _, err := pc.Exec(ctx, "LISTEN notifications"); err != nil {
		return err
	}
	h.once.Do(func() { close(h.ready) })
	for {
		n, err := pc.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		userText, idText, ok := strings.Cut(n.Payload, " ")
		if !ok {
			continue
		}
		user, err1 := uuid.Parse(userText)
		id, err2 := uuid.Parse(idText)
		if err1 != nil || err2 != nil {
			continue
		}
		h.deliver(ctx, user, id)
	}
}

// deliver hands item id to user's subscriptions, reading it only when someone watches.
func (h *Hub) deliver(ctx context.Context, user, id uuid.UUID) {
	h.mu.Lock()
	watching := len(h.subs[user]) > 0
	h.mu.Unlock()
	if !watching {
		return
	}
	item, err := h.svc.Get(ctx, user, id)
	if err != nil {
		h.o.Logger.Warn("notifications: reading a new item failed; its watchers resync", "error", err)
	}
	h.mu.Lock()
	var behind []*Subscription
	for s := range h.subs[user] {
		if err != nil {
			behind = append(behind, s)
			continue
		}
		select {
		case s.C <- item:
		default:
			behind = append(behind, s)
		}
	}
	for _, s := range behind {
		h.remove(s)
	}
	h.mu.Unlock()
	for _, s := range behind {
		s.end(ErrResync)
	}
}

// listenConn opens the connection that carries LISTEN state.
func (h *Hub) listenConn(ctx context.Context) (*pgx.Conn, error) {
	if h.o.ListenURL != "" {
		return pgx.Connect(ctx, h.o.ListenURL)
	}
	conn, err := h.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	// The connection carries LISTEN state: it never goes back to the pool.
	return conn.Hijack(), nil
}
