// Package activities holds the side effects tutorhub's workflows need: each activity is a
// method on a struct holding its clients (domain services, the search engine, S3, ...), is
// idempotent by a business key, and writes only when the event it serves is newer than what it
// finds. Activities call the domain packages, never the API edge (server).
//
// The search activities (search.go) read a tutor through package tutors and upsert or
// delete its document; the outbox relay that starts the workflows is package outbox.
package activities
