// Package seed fills a database with realistic development data: users with varied,
// published tutor profiles (names, subjects, levels, prices, languages, lesson modes, time
// zones, weekly availability). The data is deterministic for a given seed, so benchmarks
// over it are reproducible. Seeded users have no Kratos identity and cannot sign in.
package seed

import (
	"context"
	"fmt"

	"github.com/tutorhub/tutorhub/queries"
)

// Options say how many tutors to create and how to report progress.
type Options struct {
	// Tutors is the number of tutors to create.
	Tutors int64
	// Seed varies the generated data; the same seed gives the same tutors.
	Seed int64
	// BatchSize is the number of tutors per statement (default 5000).
	BatchSize int64
	// Progress, when set, is called after each batch with the tutors created so far.
	Progress func(done, total int64)
}

// Tutors creates opts.Tutors tutors after any seeded before, each batch in one set-based
// statement. It returns how many it created; on error, the batches before it remain.
func Tutors(ctx context.Context, db queries.DBTX, opts Options) (int64, error) {
	q := queries.New(db)
	batch := opts.BatchSize
	if batch <= 0 {
		batch = 5000
	}
	first, err := q.CountSeededTutors(ctx)
	if err != nil {
		return 0, fmt.Errorf("seed tutors: %w", err)
	}
	var done int64
	for done < opts.Tutors {
		n := min(batch, opts.Tutors-done)
		if _, err := q.SeedTutors(ctx, queries.SeedTutorsParams{Seed: opts.Seed, First: first + done + 1, Count: n}); err != nil {
			return done, fmt.Errorf("seed tutors %d-%d: %w", first+done+1, first+done+n, err)
		}
		done += n
		if opts.Progress != nil {
			opts.Progress(done, opts.Tutors)
		}
	}
	return done, nil
}
