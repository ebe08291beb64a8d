package clamd_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/tutorhub/tutorhub/internal/testenv"
)

// BenchmarkClamdScan: clamd's scan throughput over INSTREAM from this client, for a 1 MB and
// a 20 MB clean stream (MB/s in the output), with the local signature database.
func BenchmarkClamdScan(b *testing.B) {
	c := *testenv.Clamd(b)
	c.MaxSize = 64 << 20
	for _, size := range []int{1 << 20, 20 << 20} {
		body := make([]byte, size)
		_, _ = rand.Read(body)
		b.Run(fmt.Sprintf("%dMB", size>>20), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				v, err := c.Scan(context.Background(), bytes.NewReader(body))
				if err != nil || v.Infected {
					b.Fatalf("%+v, %v", v, err)
				}
			}
		})
	}
}
