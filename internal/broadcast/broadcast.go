// Package broadcast sends short messages to every replica over Redis pub/sub. Delivery is
// best effort: a replica that is not subscribed at that moment (starting, reconnecting)
// misses the message. Use it for hints, such as dropping a cached entry early, whose
// correctness never depends on delivery.
package broadcast

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Channel is one named pub/sub channel. It is safe for concurrent use.
type Channel struct {
	rdb  redis.UniversalClient
	name string
}

// New returns the channel name (give it the deployment's key prefix) of rdb.
func New(rdb redis.UniversalClient, name string) *Channel {
	return &Channel{rdb: rdb, name: name}
}

// Publish sends msg to every subscribed replica.
func (c *Channel) Publish(ctx context.Context, msg string) error {
	if err := c.rdb.Publish(ctx, c.name, msg).Err(); err != nil {
		return fmt.Errorf("publish on %s: %w", c.name, err)
	}
	return nil
}

// Subscription receives the channel's messages from the moment Subscribe returns.
type Subscription struct {
	sub *redis.PubSub
}

// Subscribe subscribes and waits until Redis confirms it, so a message published after it
// returns is received (while the connection holds).
func (c *Channel) Subscribe(ctx context.Context) (*Subscription, error) {
	sub := c.rdb.Subscribe(ctx, c.name)
	if _, err := sub.Receive(ctx); err != nil {
		_ = sub.Close()
		return nil, fmt.Errorf("subscribe to %s: %w", c.name, err)
	}
	return &Subscription{sub: sub}, nil
}

// Run calls fn with each message, one at a time, until ctx ends; then it unsubscribes. The
// subscription reconnects by itself after a lost connection (messages sent meanwhile are
// lost).
func (s *Subscription) Run(ctx context.Context, fn func(msg string)) {
	defer s.sub.Close()
	ch := s.sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			fn(m.Payload)
		}
	}
}
