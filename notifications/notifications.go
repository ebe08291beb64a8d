// Package notifications is the notifications bounded context: what each domain event tells
// whom (the fan-out table), the in-app inbox, the record of every delivery, preferences per
// category and channel, email rendering per locale and time zone, signed unsubscribe links,
// and the live feed of new inbox items that WatchNotifications streams.
//
// Guarantees: an event gives each recipient at most one inbox item and at most one delivery
// row per channel (the unique keys of notifications and notification_deliveries); a mail
// whose delivery is recorded as sent is never sent again; a duplicate mail, possible only
// when a worker dies between the relay's acceptance and the commit that records it, carries
// the same Message-ID as the first (docs/notifications.md, "Nothing lost, nothing twice").
package notifications

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tutorhub/tutorhub/queries"
)

// Category groups notifications for preferences. The set is closed: the database refuses
// others.
type Category string

// Categories.
const (
	// CategorySecurity: password changes, recoveries, sign-ins from new devices. Its
	// notices cannot be turned off.
	CategorySecurity Category = "security"
	// CategoryTutors: news about the user's tutor profile.
	CategoryTutors Category = "tutors"
	// CategoryUploads: the outcome of the user's uploads.
	CategoryUploads Category = "uploads"
	// CategoryBookings: the user's bookings, as student and as tutor.
	CategoryBookings Category = "bookings"
)

// Categories lists every category, in the order preferences show them.
var Categories = []Category{CategorySecurity, CategoryTutors, CategoryUploads, CategoryBookings}

// Channel is a way a notification reaches its recipient. The set is closed.
type Channel string

// Channels.
const (
	// ChannelInbox: the in-app inbox (and the live stream of it).
	ChannelInbox Channel = "inbox"
	// ChannelEmail: a mail to the user's address.
	ChannelEmail Channel = "email"
)

// Channels lists every channel.
var Channels = []Channel{ChannelInbox, ChannelEmail}

// KnownCategory reports whether c is one of Categories.
func KnownCategory(c string) bool { return slices.Contains(Categories, Category(c)) }

// KnownChannel reports whether c is one of Channels.
func KnownChannel(c string) bool { return slices.Contains(Channels, Channel(c)) }

// DB is a database that runs queries and opens transactions (a *pgxpool.Pool).
type DB interface {
	queries.DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Mailer sends one mail (internal/mail.Sender through an adapter).
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// Mail is a rendered notification mail.
type Mail struct {
	To, Subject, Text, HTML, MessageID string
	Headers                            [][2]string
}

// Options are a Service's dependencies.
type Options struct {
	// Mailer sends mail; nil makes every email delivery fail (retried by the workflow).
	Mailer Mailer
	// Unsubscribe signs the one-click unsubscribe links of mails.
	Unsubscribe *Signer
	// PublicURL is the base of links in mail (TUTORHUB_HTTP_PUBLIC_URL).
	PublicURL string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Service is the notifications context over one database.
type Service struct {
	db DB
	q  *queries.Queries
	o  Options
}

// New returns the notifications service over db.
func New(db DB, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{db: db, q: queries.New(db), o: o}
}
