package notifications

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tutorhub/tutorhub/queries"
)

// Delivery is one (recipient, channel) an event reaches: the key, with the event, of a
// delivery row.
type Delivery struct {
	UserID  uuid.UUID
	Channel Channel
}

// Plan returns the deliveries of a notice: every recipient who still has an account, on each
// channel their preferences allow (security: every channel).
func (s *Service) Plan(ctx context.Context, n Notice) ([]Delivery, error) {
	var out []Delivery
	for _, user := range n.Recipients {
		if _, err := s.q.GetNotificationRecipient(ctx, user); errors.Is(err, pgx.ErrNoRows) {
			continue // the account is gone: nobody to tell
		} else if err != nil {
			return nil, fmt.Errorf("recipient %s: %w", user, err)
		}
		prefs, err := s.Preferences(ctx, user)
		if err != nil {
			return nil, err
		}
		for _, ch := range Channels {
			if enabled(prefs, n.Category, ch) {
				out = append(out, Delivery{UserID: user, Channel: ch})
			}
		}
	}
	return out, nil
}

// Outcomes of a delivery.
const (
	// OutcomeDelivered: this call delivered it.
	OutcomeDelivered = "delivered"
	// OutcomeAlreadyDone: an earlier call had delivered it; nothing was done again.
	OutcomeAlreadyDone = "already_done"
	// OutcomeSkipped: the recipient turned the channel off (or left) since the plan.
	OutcomeSkipped = "skipped"
)

// DeliverInbox puts the notice in the user's inbox, once per event and user, in the user's
// locale and time zone; the inbox item's trigger tells every replica's watchers.
func (s *Service) DeliverInbox(ctx context.Context, n Notice, user uuid.UUID) (string, error) {
	outcome := OutcomeDelivered
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		q := queries.New(tx)
		rcpt, err := q.GetNotificationRecipient(ctx, user)
		if errors.Is(err, pgx.ErrNoRows) {
			outcome = OutcomeSkipped
			return nil
		}
		if err != nil {
			return err
		}
		r, err := Render(n, rcpt.Locale, rcpt.Timezone)
		if err != nil {
			return err
		}
		_, err = q.InsertNotification(ctx, queries.InsertNotificationParams{
			UserID: user, EventID: n.EventID, Category: string(n.Category), Kind: n.Kind,
			Title: truncate(r.Title, 200), Body: truncate(r.Body, 2000), Link: "",
		})
		if errors.Is(err, pgx.ErrNoRows) {
			outcome = OutcomeAlreadyDone
		} else if err != nil {
			return err
		}
		if err := q.InsertDelivery(ctx, queries.InsertDeliveryParams{EventID: n.EventID, UserID: user, Channel: string(ChannelInbox), MessageID: ""}); err != nil {
			return err
		}
		return q.MarkDeliveryDone(ctx, queries.MarkDeliveryDoneParams{EventID: n.EventID, UserID: user, Channel: string(ChannelInbox), Status: "sent"})
	})
	if err != nil {
		return "", fmt.Errorf("inbox delivery of %s to %s: %w", n.EventID, user, err)
	}
	return outcome, nil
}

// MessageID is the Message-ID of the mail of (event, user): derived from the delivery key, so
// a duplicate, should one ever be sent, is recognisable as one.
func MessageID(event, user uuid.UUID, domain string) string {
	return fmt.Sprintf("%s.%s.email@%s", event, user, domain)
}

// DeliverEmail mails the notice to the user once per event and user. The delivery row is
// created and its attempt counted (committed) before the SMTP conversation; the
// conversation runs while a second transaction holds the row's lock, so two attempts never
// send at once, and that transaction records 'sent' right after the relay accepts the
// message. A retry of a delivery recorded as sent sends nothing. Should the process die, or
// the commit fail, after the relay accepted the message, the retry sends it again with the
// same Message-ID: at least once, never silently lost (docs/notifications.md).
func (s *Service) DeliverEmail(ctx context.Context, n Notice, user uuid.UUID) (string, error) {
	rcpt, err := s.q.GetNotificationRecipient(ctx, user)
	if errors.Is(err, pgx.ErrNoRows) {
		return OutcomeSkipped, nil
	}
	if err != nil {
		return "", fmt.Errorf("recipient %s: %w", user, err)
	}
	msgID := MessageID(n.EventID, user, s.mailDomain())
	key := queries.MarkDeliveryAttemptParams{EventID: n.EventID, UserID: user, Channel: string(ChannelEmail)}
	// Before: the row exists and this attempt is counted, whatever happens next.
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		q := queries.New(tx)
		if err := q.InsertDelivery(ctx, queries.InsertDeliveryParams{EventID: n.EventID, UserID: user, Channel: string(ChannelEmail), MessageID: msgID}); err != nil {
			return err
		}
		return q.MarkDeliveryAttempt(ctx, key)
	})
	if err != nil {
		return "", fmt.Errorf("email delivery of %s to %s: %w", n.EventID, user, err)
	}
	outcome := OutcomeDelivered
	var sendErr error
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		q := queries.New(tx)
		d, err := q.GetDeliveryForUpdate(ctx, queries.GetDeliveryForUpdateParams{EventID: n.EventID, UserID: user, Channel: string(ChannelEmail)})
		if err != nil {
			return err
		}
		if d.Status != "sending" {
			outcome = OutcomeAlreadyDone
			return nil
		}
		done := queries.MarkDeliveryDoneParams{EventID: n.EventID, UserID: user, Channel: string(ChannelEmail), Status: "sent"}
		// The user may have unsubscribed since the plan.
		prefs, err := preferencesOf(ctx, q, user)
		if err != nil {
			return err
		}
		if !enabled(prefs, n.Category, ChannelEmail) {
			outcome, done.Status = OutcomeSkipped, "skipped"
			return q.MarkDeliveryDone(ctx, done)
		}
		m, err := s.composeMail(n, rcpt, msgID)
		if err != nil {
			return err
		}
		if s.o.Mailer == nil {
			sendErr = errors.New("no mailer configured")
			return nil
		}
		if sendErr = s.o.Mailer.Send(ctx, m); sendErr != nil {
			return nil
		}
		return q.MarkDeliveryDone(ctx, done)
	})
	if err != nil {
		return "", fmt.Errorf("email delivery of %s to %s: %w", n.EventID, user, err)
	}
	if sendErr != nil {
		// Kept for operators; the workflow retries with backoff.
		_ = s.recordError(context.WithoutCancel(ctx), key, sendErr)
		return "", fmt.Errorf("email delivery of %s to %s: %w", n.EventID, user, sendErr)
	}
	return outcome, nil
}

func (s *Service) recordError(ctx context.Context, key queries.MarkDeliveryAttemptParams, err error) error {
	return s.q.RecordDeliveryError(ctx, queries.RecordDeliveryErrorParams{EventID: key.EventID, UserID: key.UserID, Channel: key.Channel, LastError: truncate(err.Error(), 2000)})
}

// mailDomain is the host of the public URL, for Message-IDs.
func (s *Service) mailDomain() string {
	if u, err := url.Parse(s.o.PublicURL); err == nil && u.Hostname() != "" {
		return u.Hostname()
	}
	return "tutorhub.local"
}

// composeMail renders the mail of notice n to rcpt: text and HTML in the recipient's locale
// and time zone, and for every category but security a signed one-click unsubscribe link,
// also in List-Unsubscribe and List-Unsubscribe-Post (RFC 8058).
func (s *Service) composeMail(n Notice, rcpt queries.GetNotificationRecipientRow, msgID string) (Mail, error) {
	r, err := Render(n, rcpt.Locale, rcpt.Timezone)
	if err != nil {
		return Mail{}, err
	}
	var headers [][2]string
	unsubscribe := ""
	if n.Category != CategorySecurity && s.o.Unsubscribe != nil {
		unsubscribe = s.UnsubscribeURL(rcpt.ID, n.Category)
		headers = append(headers, [2]string{"List-Unsubscribe", "<" + unsubscribe + ">"},
			[2]string{"List-Unsubscribe-Post", "List-Unsubscribe=One-Click"})
	}
	headers = append(headers, [2]string{"X-Tutorhub-Event", n.EventID.String()})
	text, html, err := renderMail(r, rcpt.DisplayName, n.Category == CategorySecurity, unsubscribe)
	if err != nil {
		return Mail{}, err
	}
	return Mail{To: rcpt.Email, Subject: r.Title, Text: text, HTML: html, MessageID: msgID, Headers: headers}, nil
}

// UnsubscribePath is where the one-click unsubscribe handler is served.
const UnsubscribePath = "/notifications/unsubscribe"

// UnsubscribeURL is the signed link that turns off category c's mail for user.
func (s *Service) UnsubscribeURL(user uuid.UUID, c Category) string {
	return strings.TrimSuffix(s.o.PublicURL, "/") + UnsubscribePath + "?token=" + url.QueryEscape(s.o.Unsubscribe.Sign(user, c))
}
