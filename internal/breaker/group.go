package breaker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Group holds a process's breakers, one per dependency, built with the same options. It logs
// each state change once (a warning when a breaker opens, info when it closes again) and
// exports every breaker's state as a metric. It is safe for concurrent use.
type Group struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	breakers map[string]*Breaker
	changes  map[string]int64
}

// NewGroup returns an empty group whose breakers take opts (OnChange is the group's own).
func NewGroup(opts Options, log *slog.Logger) *Group {
	if log == nil {
		log = slog.Default()
	}
	return &Group{opts: opts, log: log, breakers: map[string]*Breaker{}, changes: map[string]int64{}}
}

// Breaker returns the breaker of dependency name, creating it on first use.
func (g *Group) Breaker(name string) *Breaker {
	g.mu.Lock()
	defer g.mu.Unlock()
	if b, ok := g.breakers[name]; ok {
		return b
	}
	opts := g.opts
	user := opts.OnChange
	opts.OnChange = func(name string, from, to State) {
		g.mu.Lock()
		g.changes[name]++
		g.mu.Unlock()
		attrs := []any{"dependency", name, "from", from.String(), "to", to.String()}
		if to == Open {
			g.log.Warn("circuit breaker opened; taking the degraded path until a probe succeeds", attrs...)
		} else {
			g.log.Info("circuit breaker state changed", attrs...)
		}
		if user != nil {
			user(name, from, to)
		}
	}
	b := New(name, opts)
	g.breakers[name] = b
	return b
}

// States returns every breaker's state now, by dependency name.
func (g *Group) States() map[string]State {
	g.mu.Lock()
	bs := make([]*Breaker, 0, len(g.breakers))
	for _, b := range g.breakers {
		bs = append(bs, b)
	}
	g.mu.Unlock()
	out := make(map[string]State, len(bs))
	for _, b := range bs {
		out[b.Name()] = b.State()
	}
	return out
}

// Register exports tutorhub.breaker.state (0 closed, 1 half-open, 2 open) and
// tutorhub.breaker.transitions (state changes since start), each with a dependency
// attribute, through meter.
func (g *Group) Register(meter metric.Meter) error {
	state, err := meter.Int64ObservableGauge("tutorhub.breaker.state",
		metric.WithDescription("Circuit breaker state per dependency: 0 closed, 1 half-open, 2 open."))
	if err != nil {
		return fmt.Errorf("breaker state gauge: %w", err)
	}
	transitions, err := meter.Int64ObservableCounter("tutorhub.breaker.transitions",
		metric.WithDescription("Circuit breaker state changes per dependency since start."))
	if err != nil {
		return fmt.Errorf("breaker transitions counter: %w", err)
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for name, s := range g.States() {
			o.ObserveInt64(state, int64(s), metric.WithAttributes(attribute.String("dependency", name)))
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		for name, n := range g.changes {
			o.ObserveInt64(transitions, n, metric.WithAttributes(attribute.String("dependency", name)))
		}
		return nil
	}, state, transitions)
	if err != nil {
		return fmt.Errorf("breaker metrics: %w", err)
	}
	return nil
}
