package notifications

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/queries"
)

// Preference is whether one category reaches the user on one channel.
type Preference struct {
	Category Category
	Channel  Channel
	Enabled  bool
	// Locked preferences cannot be changed (security notices are always on).
	Locked bool
}

// defaultEnabled is every preference's default: on. A user turns off what they do not want;
// security is on and locked.
func defaultEnabled(Category, Channel) bool { return true }

// Preferences returns the user's full matrix of categories and channels, stored choices over
// the defaults, in the order of Categories and Channels.
func (s *Service) Preferences(ctx context.Context, user uuid.UUID) ([]Preference, error) {
	return preferencesOf(ctx, s.q, user)
}

func preferencesOf(ctx context.Context, q *queries.Queries, user uuid.UUID) ([]Preference, error) {
	rows, err := q.ListNotificationPreferences(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("preferences of %s: %w", user, err)
	}
	stored := map[[2]string]bool{}
	for _, r := range rows {
		stored[[2]string{r.Category, r.Channel}] = r.Enabled
	}
	out := make([]Preference, 0, len(Categories)*len(Channels))
	for _, c := range Categories {
		for _, ch := range Channels {
			p := Preference{Category: c, Channel: ch, Enabled: defaultEnabled(c, ch), Locked: c == CategorySecurity}
			if v, ok := stored[[2]string{string(c), string(ch)}]; ok && !p.Locked {
				p.Enabled = v
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// enabled reports whether category c reaches the user on channel ch.
func enabled(prefs []Preference, c Category, ch Channel) bool {
	for _, p := range prefs {
		if p.Category == c && p.Channel == ch {
			return p.Enabled
		}
	}
	return false
}

// PreferenceUpdate is one change a user asks for; Category and Channel are as the client
// sent them, checked by UpdatePreferences.
type PreferenceUpdate struct {
	Category, Channel string
	Enabled           bool
}

// MaxPreferenceUpdates bounds one UpdatePreferences call.
const MaxPreferenceUpdates = 32

// ValidatePreferenceUpdates checks updates: known categories and channels, at most
// MaxPreferenceUpdates, and security never turned off. Violations name
// preferences[i].category / .channel / .enabled.
func ValidatePreferenceUpdates(updates []PreferenceUpdate) error {
	v := &tutorhub.Violations{}
	if len(updates) > MaxPreferenceUpdates {
		v.Add("preferences", "preferences.max_items", "at most %d preferences at once", MaxPreferenceUpdates)
	}
	for i, u := range updates {
		if i >= MaxPreferenceUpdates {
			break
		}
		field := fmt.Sprintf("preferences[%d].", i)
		if !KnownCategory(u.Category) {
			v.Add(field+"category", "category.known", "unknown category %q (known: security, tutors, uploads)", truncate(u.Category, 64))
		}
		if !KnownChannel(u.Channel) {
			v.Add(field+"channel", "channel.known", "unknown channel %q (known: inbox, email)", truncate(u.Channel, 64))
		}
		if Category(u.Category) == CategorySecurity && !u.Enabled {
			v.Add(field+"enabled", "security.locked", "security notices cannot be turned off")
		}
	}
	return v.Err("invalid notification preferences")
}

// UpdatePreferences applies updates (all or none) and returns the user's preferences after
// them.
func (s *Service) UpdatePreferences(ctx context.Context, user uuid.UUID, updates []PreferenceUpdate) ([]Preference, error) {
	if err := ValidatePreferenceUpdates(updates); err != nil {
		return nil, err
	}
	var out []Preference
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		q := queries.New(tx)
		for _, u := range updates {
			err := q.UpsertNotificationPreference(ctx, queries.UpsertNotificationPreferenceParams{
				UserID: user, Category: u.Category, Channel: u.Channel, Enabled: u.Enabled,
			})
			if err != nil {
				return err
			}
		}
		var err error
		out, err = preferencesOf(ctx, q, user)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update preferences of %s: %w", user, err)
	}
	return out, nil
}

// Unsubscribe turns off the mail of the category a verified unsubscribe token names.
func (s *Service) Unsubscribe(ctx context.Context, token string) (uuid.UUID, Category, error) {
	if s.o.Unsubscribe == nil {
		return uuid.Nil, "", ErrBadToken
	}
	user, c, err := s.o.Unsubscribe.Verify(token)
	if err != nil {
		return uuid.Nil, "", err
	}
	_, err = s.UpdatePreferences(ctx, user, []PreferenceUpdate{{Category: string(c), Channel: string(ChannelEmail), Enabled: false}})
	return user, c, err
}
