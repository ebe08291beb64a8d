package workflows_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tutorhub/tutorhub/tutors"
	"github.com/tutorhub/tutorhub/workflows"
)

func tutorEvent(t *testing.T, eventType string, p tutors.EventPayload) workflows.Event {
	t.Helper()
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return workflows.Event{ID: uuid.New(), AggregateType: tutors.Aggregate, AggregateID: p.TutorID, Type: eventType, Payload: b}
}

func TestEveryTutorEventIndexesTheTutorOnTheSearchQueue(t *testing.T) {
	t.Parallel()
	for _, typ := range []string{tutors.EventCreated, tutors.EventUpdated, tutors.EventPublished, tutors.EventUnpublished, tutors.EventDeleted, tutors.EventProfileChanged} {
		t.Run(typ, func(t *testing.T) {
			r, ok := workflows.RouteFor(typ)
			if !ok {
				t.Fatalf("no route for %s", typ)
			}
			if r.Workflow != workflows.IndexTutorName || r.Queue != workflows.QueueSearch {
				t.Errorf("route = %s on %s, want %s on %s", r.Workflow, r.Queue, workflows.IndexTutorName, workflows.QueueSearch)
			}
			id := uuid.New()
			ev := tutorEvent(t, typ, tutors.EventPayload{Schema: tutors.EventSchema, TutorID: id, UserID: uuid.New(), Version: 3, Published: true})
			in, err := r.Input(ev)
			if err != nil {
				t.Fatalf("Input: %v", err)
			}
			want := workflows.IndexTutorInput{EventID: ev.ID, EventType: typ, TutorID: id, Version: 3, Published: true}
			if in != want {
				t.Errorf("Input = %+v, want %+v", in, want)
			}
		})
	}
	if _, ok := workflows.RouteFor("tutor.teleported"); ok {
		t.Error("an unknown event type has a route")
	}
}

func TestWorkflowIDIsReadableAndTheSameForEveryAttempt(t *testing.T) {
	t.Parallel()
	r, _ := workflows.RouteFor(tutors.EventUpdated)
	ev := tutorEvent(t, tutors.EventUpdated, tutors.EventPayload{Schema: 1, TutorID: uuid.New(), Version: 1})
	id := r.WorkflowID(ev)
	if id != r.WorkflowID(ev) {
		t.Fatal("two derivations of one event's workflow id differ")
	}
	for _, part := range []string{workflows.IndexTutorName, ev.AggregateID.String(), ev.ID.String()} {
		if !strings.Contains(id, part) {
			t.Errorf("workflow id %q does not show %q", id, part)
		}
	}
	other := ev
	other.ID = uuid.New()
	if r.WorkflowID(other) == id {
		t.Error("two events of one tutor share a workflow id")
	}
}

func TestMalformedTutorEventsAreRefused(t *testing.T) {
	t.Parallel()
	r, _ := workflows.RouteFor(tutors.EventUpdated)
	tutor := uuid.New()
	valid := tutors.EventPayload{Schema: tutors.EventSchema, TutorID: tutor, Version: 2}
	for _, tc := range []struct {
		name   string
		mutate func(*workflows.Event)
		reason string
	}{
		{"payload is not JSON", func(e *workflows.Event) { e.Payload = []byte("{") }, "payload"},
		{"payload schema is unknown", func(e *workflows.Event) {
			e.Payload = []byte(`{"schema":2,"tutor_id":"` + tutor.String() + `","version":2}`)
		}, "schema 2"},
		{"payload names another tutor", func(e *workflows.Event) { e.AggregateID = uuid.New() }, "not the aggregate id"},
		{"version is missing", func(e *workflows.Event) {
			e.Payload = []byte(`{"schema":1,"tutor_id":"` + tutor.String() + `"}`)
		}, "version"},
		{"aggregate is not a tutor", func(e *workflows.Event) { e.AggregateType = "user" }, "aggregate type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := tutorEvent(t, tutors.EventUpdated, valid)
			tc.mutate(&ev)
			_, err := r.Input(ev)
			if err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("Input error = %v, want one mentioning %q", err, tc.reason)
			}
		})
	}
}

func TestSearchAttributesNameTheEventTypeAndTheTutor(t *testing.T) {
	t.Parallel()
	ev := tutorEvent(t, tutors.EventPublished, tutors.EventPayload{Schema: 1, TutorID: uuid.New(), Version: 1})
	sa := workflows.SearchAttributes(ev)
	if got, _ := sa.GetKeyword(workflows.EventTypeAttribute); got != tutors.EventPublished {
		t.Errorf("EventType = %q, want %q", got, tutors.EventPublished)
	}
	if got, _ := sa.GetKeyword(workflows.TutorIDAttribute); got != ev.AggregateID.String() {
		t.Errorf("TutorId = %q, want %q", got, ev.AggregateID)
	}
}
