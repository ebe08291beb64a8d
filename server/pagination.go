package server

import (
	"github.com/tutorhub/tutorhub/internal/pagetoken"
)

// keyset pages one list RPC the same way for every list: it reads the request's page token
// into a position (tamper-evident and bound to the list's scope, see internal/pagetoken),
// asks the query for one row past the page, and turns that extra row into the next page's
// token. No offsets: rows inserted or deleted between pages cause no duplicates or gaps.
type keyset[P any] struct {
	tokens *pagetoken.Codec
	scope  string
	size   int32
	// After is the position to continue after; nil on the first page.
	After *P
}

// newKeyset starts a page of size rows of the list identified by scope (the procedure and
// every filter that shapes it), continuing after token when it is not empty.
func newKeyset[P any](tokens *pagetoken.Codec, scope, token string, size int32) (*keyset[P], error) {
	k := &keyset[P]{tokens: tokens, scope: scope, size: size}
	if token != "" {
		var p P
		if err := tokens.Decode(scope, token, &p); err != nil {
			return nil, invalidPageToken()
		}
		k.After = &p
	}
	return k, nil
}

// Limit is the LIMIT the list query needs: one row past the page, to learn whether another
// page follows.
func (k *keyset[P]) Limit() int32 { return k.size + 1 }

// page trims rows (fetched with k.Limit()) to the page and returns the next page's token,
// "" on the last page.
func page[R, P any](k *keyset[P], rows []R, position func(R) P) ([]R, string, error) {
	if int32(len(rows)) <= k.size {
		return rows, "", nil
	}
	rows = rows[:k.size]
	tok, err := k.tokens.Encode(k.scope, position(rows[len(rows)-1]))
	return rows, tok, err
}

// pageSize is the requested page size, or def when the request left it unset; validation has
// bounded it already.
func pageSize(requested, def int32) int32 {
	if requested <= 0 {
		return def
	}
	return requested
}
