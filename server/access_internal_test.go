package server

import (
	"context"
	"testing"

	"github.com/tutorhub/tutorhub"
)

// A procedure missing from the rules is refused to everyone, before any token is read.
func TestUndeclaredProcedureIsDenied(t *testing.T) {
	a := &authenticator{rules: map[string]Rule{"/tutorhub.v1.X/Declared": {Who: Public, ServiceAccounts: NoServiceAccounts}}}
	for _, authorization := range []string{"", "Bearer anything"} {
		_, err := a.authorize(context.Background(), "/tutorhub.v1.X/Undeclared", authorization)
		if tutorhub.ErrorCode(err) != tutorhub.EFORBIDDEN {
			t.Fatalf("undeclared procedure with %q: %v, want permission denied", authorization, err)
		}
	}
	if _, err := a.authorize(context.Background(), "/tutorhub.v1.X/Declared", ""); err != nil {
		t.Fatalf("declared public procedure: %v", err)
	}
}
