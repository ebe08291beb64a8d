package notifications

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/queries"
)

// Notification is one item of a user's inbox.
type Notification struct {
	ID        uuid.UUID
	UserID    uuid.UUID
	EventID   uuid.UUID
	Category  Category
	Kind      string
	Title     string
	Body      string
	Link      string
	CreatedAt time.Time
	// ReadAt is nil while unread.
	ReadAt *time.Time
}

func notificationOf(r queries.Notification) Notification {
	n := Notification{
		ID: r.ID, UserID: r.UserID, EventID: r.EventID, Category: Category(r.Category), Kind: r.Kind,
		Title: r.Title, Body: r.Body, Link: r.Link, CreatedAt: r.CreatedAt,
	}
	if r.ReadAt.Valid {
		t := r.ReadAt.Time
		n.ReadAt = &t
	}
	return n
}

// Position is the keyset of an item in an inbox's newest-first order.
type Position struct {
	Time time.Time `json:"t"`
	ID   uuid.UUID `json:"i"`
}

// ListFilter selects a page of one user's inbox.
type ListFilter struct {
	UserID     uuid.UUID
	UnreadOnly bool
	// After continues the list after this position; nil starts from the newest.
	After *Position
	Limit int32
}

// List returns up to f.Limit items of the user's inbox, newest first.
func (s *Service) List(ctx context.Context, f ListFilter) ([]Notification, error) {
	p := queries.ListNotificationsParams{UserID: f.UserID, UnreadOnly: f.UnreadOnly, PageLimit: f.Limit}
	if f.After != nil {
		p.BeforeTime = pgtype.Timestamptz{Time: f.After.Time, Valid: true}
		p.BeforeID = uuid.NullUUID{UUID: f.After.ID, Valid: true}
	}
	rows, err := s.q.ListNotifications(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("list notifications of %s: %w", f.UserID, err)
	}
	out := make([]Notification, 0, len(rows))
	for _, r := range rows {
		out = append(out, notificationOf(r))
	}
	return out, nil
}

// Get returns one notification of user, or ENOTFOUND, also when it belongs to someone else
// (an inbox never tells whether another user's item exists).
func (s *Service) Get(ctx context.Context, user, id uuid.UUID) (Notification, error) {
	r, err := s.q.GetNotification(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && r.UserID != user {
		return Notification{}, tutorhub.Errorf(tutorhub.ENOTFOUND, "notification %s not found", id)
	}
	if err != nil {
		return Notification{}, fmt.Errorf("get notification %s: %w", id, err)
	}
	return notificationOf(r), nil
}

// MarkRead marks one of the user's notifications read and returns it; another user's
// notification, or none, is ENOTFOUND and nothing changes.
func (s *Service) MarkRead(ctx context.Context, user, id uuid.UUID) (Notification, error) {
	r, err := s.q.MarkNotificationRead(ctx, queries.MarkNotificationReadParams{ID: id, UserID: user})
	if errors.Is(err, pgx.ErrNoRows) {
		return Notification{}, tutorhub.Errorf(tutorhub.ENOTFOUND, "notification %s not found", id)
	}
	if err != nil {
		return Notification{}, fmt.Errorf("mark notification %s read: %w", id, err)
	}
	return notificationOf(r), nil
}

// MarkAllRead marks every unread notification of the user read and returns how many.
func (s *Service) MarkAllRead(ctx context.Context, user uuid.UUID) (int64, error) {
	n, err := s.q.MarkAllNotificationsRead(ctx, user)
	if err != nil {
		return 0, fmt.Errorf("mark all notifications of %s read: %w", user, err)
	}
	return n, nil
}

// UnreadCount returns how many of the user's notifications are unread.
func (s *Service) UnreadCount(ctx context.Context, user uuid.UUID) (int64, error) {
	n, err := s.q.CountUnreadNotifications(ctx, user)
	if err != nil {
		return 0, fmt.Errorf("count unread notifications of %s: %w", user, err)
	}
	return n, nil
}
