package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tutorhub/tutorhub"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/notifications"
)

// NotificationOptions configure NotificationService.
type NotificationOptions struct {
	// Hub feeds WatchNotifications; nil answers it UNAVAILABLE (clients poll).
	Hub *notifications.Hub
	// Heartbeat is the interval of the stream's heartbeat (default 25 s).
	Heartbeat time.Duration
	// Unsubscribe checks one-click unsubscribe links; nil serves no unsubscribe page.
	Unsubscribe *notifications.Signer
}

// NotificationServer implements tutorhub.v1.NotificationService: the caller's own inbox and
// preferences (every RPC Authenticated, see AccessRules; nobody reads or changes another's).
type NotificationServer struct {
	svc       *notifications.Service
	hub       *notifications.Hub
	tokens    *pagetoken.Codec
	heartbeat time.Duration
}

// NewNotificationServer returns the NotificationService handler.
func NewNotificationServer(svc *notifications.Service, tokens *pagetoken.Codec, o NotificationOptions) *NotificationServer {
	if o.Heartbeat <= 0 {
		o.Heartbeat = 25 * time.Second
	}
	return &NotificationServer{svc: svc, hub: o.Hub, tokens: tokens, heartbeat: o.Heartbeat}
}

// callerID is the signed-in caller's user id.
func callerID(ctx context.Context) (uuid.UUID, error) {
	c := CallerFrom(ctx)
	if c == nil {
		return uuid.Nil, tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "sign in first")
	}
	id, err := uuid.Parse(c.UserID)
	if err != nil {
		return uuid.Nil, tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "sign in first")
	}
	return id, nil
}

// ListNotifications returns one page of the caller's inbox, newest first.
func (s *NotificationServer) ListNotifications(ctx context.Context, req *tutorhubv1.ListNotificationsRequest) (*tutorhubv1.ListNotificationsResponse, error) {
	user, err := callerID(ctx)
	if err != nil {
		return nil, err
	}
	scope := "notifications|user=" + user.String()
	if req.GetUnreadOnly() {
		scope += "|unread"
	}
	ks, err := newKeyset[notifications.Position](s.tokens, scope, req.GetPageToken(), pageSize(req.GetPageSize(), 20))
	if err != nil {
		return nil, err
	}
	rows, err := s.svc.List(ctx, notifications.ListFilter{UserID: user, UnreadOnly: req.GetUnreadOnly(), After: ks.After, Limit: ks.Limit()})
	if err != nil {
		return nil, err
	}
	rows, next, err := page(ks, rows, func(n notifications.Notification) notifications.Position {
		return notifications.Position{Time: n.CreatedAt, ID: n.ID}
	})
	if err != nil {
		return nil, err
	}
	res := &tutorhubv1.ListNotificationsResponse{NextPageToken: next}
	for _, n := range rows {
		res.Notifications = append(res.Notifications, notificationProto(n))
	}
	return res, nil
}

// MarkRead marks one of the caller's notifications read.
func (s *NotificationServer) MarkRead(ctx context.Context, req *tutorhubv1.MarkReadRequest) (*tutorhubv1.MarkReadResponse, error) {
	user, err := callerID(ctx)
	if err != nil {
		return nil, err
	}
	id, err := uuid.Parse(req.GetNotificationId())
	if err != nil {
		return nil, tutorhub.Invalid("notification_id", "string.uuid", "value must be a valid UUID")
	}
	n, err := s.svc.MarkRead(ctx, user, id)
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.MarkReadResponse{Notification: notificationProto(n)}, nil
}

// MarkAllRead marks every unread notification of the caller read.
func (s *NotificationServer) MarkAllRead(ctx context.Context, _ *tutorhubv1.MarkAllReadRequest) (*tutorhubv1.MarkAllReadResponse, error) {
	user, err := callerID(ctx)
	if err != nil {
		return nil, err
	}
	n, err := s.svc.MarkAllRead(ctx, user)
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.MarkAllReadResponse{MarkedCount: n}, nil
}

// GetUnreadCount returns the caller's unread count.
func (s *NotificationServer) GetUnreadCount(ctx context.Context, _ *tutorhubv1.GetUnreadCountRequest) (*tutorhubv1.GetUnreadCountResponse, error) {
	user, err := callerID(ctx)
	if err != nil {
		return nil, err
	}
	n, err := s.svc.UnreadCount(ctx, user)
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.GetUnreadCountResponse{UnreadCount: n}, nil
}

// WatchNotifications streams the caller's new notifications: the unread count first, then
// each new item with the count after it, and the count alone every heartbeat. It ends with
// UNAVAILABLE (retryable) when the stream fell behind or the server shuts down, and with
// RESOURCE_EXHAUSTED when the caller holds the most streams allowed already.
func (s *NotificationServer) WatchNotifications(ctx context.Context, _ *tutorhubv1.WatchNotificationsRequest, stream *connect.ServerStream[tutorhubv1.WatchNotificationsResponse]) error {
	user, err := callerID(ctx)
	if err != nil {
		return err
	}
	if s.hub == nil {
		return tutorhub.Errorf(tutorhub.EUNAVAILABLE, "live notifications are not served here; poll ListNotifications")
	}
	// Subscribe before the first count, so nothing that arrives in between is missed.
	sub, err := s.hub.Subscribe(user)
	if err != nil {
		return err
	}
	defer sub.Close()
	send := func(n *notifications.Notification) error {
		count, err := s.svc.UnreadCount(ctx, user)
		if err != nil {
			return err
		}
		msg := &tutorhubv1.WatchNotificationsResponse{UnreadCount: count}
		if n != nil {
			msg.Notification = notificationProto(*n)
		}
		return stream.Send(msg)
	}
	if err := send(nil); err != nil {
		return err
	}
	beat := time.NewTicker(s.heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-sub.C:
			if err := send(&n); err != nil {
				return err
			}
		case <-beat.C:
			if err := send(nil); err != nil {
				return err
			}
		case <-sub.Done():
			// Drain what arrived before the end, then tell the client to reconnect.
			for drained := false; !drained; {
				select {
				case n := <-sub.C:
					if err := send(&n); err != nil {
						return err
					}
				default:
					drained = true
				}
			}
			if errors.Is(sub.Err(), notifications.ErrStopped) {
				return tutorhub.Errorf(tutorhub.EUNAVAILABLE, "the server is shutting down; reconnect")
			}
			return tutorhub.Errorf(tutorhub.EUNAVAILABLE, "the stream fell behind; reconnect and list the inbox")
		}
	}
}

// GetNotificationPreferences returns the caller's preferences.
func (s *NotificationServer) GetNotificationPreferences(ctx context.Context, _ *tutorhubv1.GetNotificationPreferencesRequest) (*tutorhubv1.GetNotificationPreferencesResponse, error) {
	user, err := callerID(ctx)
	if err != nil {
		return nil, err
	}
	prefs, err := s.svc.Preferences(ctx, user)
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.GetNotificationPreferencesResponse{Preferences: preferencesProto(prefs)}, nil
}

// UpdateNotificationPreferences changes the caller's preferences, all or none.
func (s *NotificationServer) UpdateNotificationPreferences(ctx context.Context, req *tutorhubv1.UpdateNotificationPreferencesRequest) (*tutorhubv1.UpdateNotificationPreferencesResponse, error) {
	user, err := callerID(ctx)
	if err != nil {
		return nil, err
	}
	updates := make([]notifications.PreferenceUpdate, 0, len(req.GetPreferences()))
	for _, p := range req.GetPreferences() {
		updates = append(updates, notifications.PreferenceUpdate{Category: p.GetCategory(), Channel: p.GetChannel(), Enabled: p.GetEnabled()})
	}
	prefs, err := s.svc.UpdatePreferences(ctx, user, updates)
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.UpdateNotificationPreferencesResponse{Preferences: preferencesProto(prefs)}, nil
}

func notificationProto(n notifications.Notification) *tutorhubv1.Notification {
	out := &tutorhubv1.Notification{
		Id: n.ID.String(), Category: string(n.Category), Kind: n.Kind, Title: n.Title, Body: n.Body,
		CreateTime: timestamppb.New(n.CreatedAt),
	}
	if n.ReadAt != nil {
		out.ReadTime = timestamppb.New(*n.ReadAt)
	}
	return out
}

func preferencesProto(prefs []notifications.Preference) []*tutorhubv1.NotificationPreference {
	out := make([]*tutorhubv1.NotificationPreference, 0, len(prefs))
	for _, p := range prefs {
		out = append(out, &tutorhubv1.NotificationPreference{Category: string(p.Category), Channel: string(p.Channel), Enabled: p.Enabled, Locked: p.Locked})
	}
	return out
}

// longLived lifts the server's read and write deadlines (TUTORHUB_HTTP_WRITE_TIMEOUT, which
// bound whole unary responses) from the streams of procedure: a notification stream lives
// for as long as the client watches, and its heartbeat finds a dead client instead (a send
// that fails ends the stream).
func longLived(h http.Handler, procedure string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == procedure {
			rc := http.NewResponseController(w)
			_ = rc.SetWriteDeadline(time.Time{})
			_ = rc.SetReadDeadline(time.Time{})
		}
		h.ServeHTTP(w, r)
	})
}
