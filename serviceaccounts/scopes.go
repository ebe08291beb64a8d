package serviceaccounts

import (
	"fmt"
	"slices"

	"github.com/tutorhub/tutorhub"
)

// Scope is a named permission a key holds. The set is closed: a key can only hold scopes
// listed in Scopes, and each RPC's access rule (server.AccessRules) names the one scope a
// service account needs to call it, or refuses service accounts.
type Scope string

// The scopes, and the RPCs each one opens.
const (
	// TutorsRead: TutorService.GetTutor and ListTutors (published profiles, as anonymous
	// callers see them).
	TutorsRead Scope = "tutors:read"
	// SearchRead: SearchService.SearchTutors.
	SearchRead Scope = "search:read"
	// SubjectsRead: SubjectService.ListSubjects and GetSubject.
	SubjectsRead Scope = "subjects:read"
	// UsersRead: UserService.GetUser (public profiles).
	UsersRead Scope = "users:read"
	// UploadsWrite is reserved for the upload RPCs; no RPC accepts it yet.
	UploadsWrite Scope = "uploads:write"
)

// ScopeInfo describes one scope.
type ScopeInfo struct {
	Scope       Scope
	Description string
	// Reserved scopes may be granted but open no RPC yet.
	Reserved bool
}

// Scopes is every scope a key can hold.
var Scopes = []ScopeInfo{
	{TutorsRead, "read published tutor profiles (GetTutor, ListTutors)", false},
	{SearchRead, "search published tutor profiles (SearchTutors)", false},
	{SubjectsRead, "read the subject catalogue (ListSubjects, GetSubject)", false},
	{UsersRead, "read public user profiles (GetUser)", false},
	{UploadsWrite, "upload documents (reserved: no RPC accepts it yet)", true},
}

// Known reports whether s is one of Scopes.
func Known(s Scope) bool {
	for _, info := range Scopes {
		if info.Scope == s {
			return true
		}
	}
	return false
}

// MaxScopes bounds the scopes of one key (the database allows as many).
const MaxScopes = 32

// ParseScopes checks the scope names a key is created with and returns them as a sorted set
// without duplicates. An empty list, too many, or unknown names are recorded in v (rules
// scopes.required, scopes.max_items, scopes.known, the last on field "scopes[i]").
func ParseScopes(v *tutorhub.Violations, field string, names []string) []Scope {
	if len(names) == 0 {
		v.Add(field, "scopes.required", "a key needs at least one scope")
		return nil
	}
	if len(names) > MaxScopes {
		v.Add(field, "scopes.max_items", "at most %d scopes, got %d", MaxScopes, len(names))
		return nil
	}
	set := make([]Scope, 0, len(names))
	for i, n := range names {
		s := Scope(n)
		if !Known(s) {
			v.Add(fmt.Sprintf("%s[%d]", field, i), "scopes.known", "unknown scope %.64q; known scopes: %s", n, knownList())
			continue
		}
		if !slices.Contains(set, s) {
			set = append(set, s)
		}
	}
	slices.Sort(set)
	return set
}

func knownList() string {
	out := ""
	for i, info := range Scopes {
		if i > 0 {
			out += ", "
		}
		out += string(info.Scope)
	}
	return out
}
