package workflows_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/notifications"
	"github.com/tutorhub/tutorhub/tutors"
	"github.com/tutorhub/tutorhub/workflows"
)

func TestEveryNotifyingEventStartsNotifyFanout(t *testing.T) {
	t.Parallel()
	user := uuid.New()
	sec, _ := json.Marshal(accounts.SecurityEventPayload{Schema: accounts.SecurityEventSchema, UserID: user, OccurredAt: time.Now()})
	for _, typ := range notifications.EventTypes() {
		t.Run(typ, func(t *testing.T) {
			routes := workflows.RoutesFor(typ)
			last := routes[len(routes)-1]
			if last.Workflow != workflows.NotifyFanoutName || last.Queue != workflows.QueueNotifications {
				t.Fatalf("last route = %s on %s, want NotifyFanout on notifications", last.Workflow, last.Queue)
			}
			ev := workflows.Event{ID: uuid.New(), Type: typ}
			if id := last.WorkflowID(ev); id != "notify/"+ev.ID.String() {
				t.Errorf("workflow id = %q, want notify/<event id>", id)
			}
		})
	}
	// A security event: routed to the fan-out only, decoded into the user's notice, found in
	// Temporal by UserId.
	routes := workflows.RoutesFor(accounts.EventPasswordChanged)
	if len(routes) != 1 {
		t.Fatalf("%s has %d routes, want 1", accounts.EventPasswordChanged, len(routes))
	}
	ev := workflows.Event{ID: uuid.New(), AggregateType: accounts.UserAggregate, AggregateID: user, Type: accounts.EventPasswordChanged, Payload: sec}
	in, err := routes[0].Input(ev)
	if err != nil {
		t.Fatal(err)
	}
	if n := in.(notifications.Notice); n.EventID != ev.ID || n.Category != notifications.CategorySecurity || n.Recipients[0] != user {
		t.Errorf("notice = %+v", n)
	}
	if got, _ := workflows.SearchAttributes(ev).GetKeyword(workflows.UserIDAttribute); got != user.String() {
		t.Errorf("UserId attribute = %q, want %s", got, user)
	}
	// A tutor's publication is indexed first, then announced to its owner.
	pub := workflows.RoutesFor(tutors.EventPublished)
	if len(pub) != 2 || pub[0].Workflow != workflows.IndexTutorName || pub[1].Workflow != workflows.NotifyFanoutName {
		t.Errorf("routes of %s = %+v, want IndexTutor then NotifyFanout", tutors.EventPublished, pub)
	}
	if len(workflows.RoutesFor(tutors.EventUpdated)) != 1 {
		t.Errorf("%s notifies someone", tutors.EventUpdated)
	}
}
