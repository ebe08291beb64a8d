package broadcast

import (
	"context"
	"testing"
	"time"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

func TestEverySubscriberReceivesWhatIsPublished(t *testing.T) {
	t.Parallel()
	rdb, prefix := testenv.Redis(t)
	ch := New(rdb, prefix+"broadcast-test")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 4)
	for i := 0; i < 2; i++ {
		sub, err := ch.Subscribe(ctx)
		if err != nil {
			t.Fatal(err)
		}
		go sub.Run(ctx, func(msg string) { got <- msg })
	}
	if err := ch.Publish(ctx, "drop abc"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		select {
		case msg := <-got:
			if msg != "drop abc" {
				t.Fatalf("received %q", msg)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("subscriber %d received nothing within 5 s", i+1)
		}
	}
}
