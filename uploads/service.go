package uploads

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/internal/cache"
	"github.com/tutorhub/tutorhub/internal/objectstore"
	"github.com/tutorhub/tutorhub/internal/telemetry"
	"github.com/tutorhub/tutorhub/queries"
)

// Status is where an upload is in its life.
type Status string

// The statuses. A verdict (clean, infected, rejected) and expired are final.
const (
	StatusPending  Status = "pending"
	StatusScanning Status = "scanning"
	StatusClean    Status = "clean"
	StatusInfected Status = "infected"
	StatusRejected Status = "rejected"
	StatusExpired  Status = "expired"
)

// Outbox events of the upload aggregate.
const (
	// Aggregate is the outbox aggregate type of upload events; the aggregate id is the upload id.
	Aggregate = "upload"
	// EventCompleted starts the scan (ScanUpload).
	EventCompleted = "upload.completed"
	// EventScanned tells notifications a verdict was reached.
	EventScanned = "upload.scanned"
	// EventSchema is the version of EventPayload.
	EventSchema = 1
)

// EventPayload is the payload of every upload event.
type EventPayload struct {
	Schema   int       `json:"schema"`
	UploadID uuid.UUID `json:"upload_id"`
	OwnerID  uuid.UUID `json:"owner_id"`
	Purpose  Purpose   `json:"purpose"`
	Status   Status    `json:"status"`
}

// Upload is one upload record.
type Upload struct {
	ID           uuid.UUID
	OwnerID      uuid.UUID
	Purpose      Purpose
	ContentType  string
	Size         int64
	Status       Status
	Reason       string
	SniffedType  string
	ObjectKey    string
	ReviewStatus string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func uploadOf(r queries.Upload) Upload {
	return Upload{
		ID: r.ID, OwnerID: r.OwnerID, Purpose: Purpose(r.Purpose), ContentType: r.ContentType, Size: r.SizeBytes,
		Status: Status(r.Status), Reason: r.Reason, SniffedType: r.SniffedType, ObjectKey: r.ObjectKey,
		ReviewStatus: r.ReviewStatus, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
}

// Actor is who calls.
type Actor struct {
	UserID uuid.UUID
	// Admin may read and delete every upload.
	Admin bool
}

// DB is a database that runs queries and opens transactions (a *pgxpool.Pool).
type DB interface {
	queries.DBTX
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Options are a Service's storage and URL lifetimes.
type Options struct {
	// Store is the object storage; nil makes every call that needs it EUNAVAILABLE.
	Store *objectstore.Store
	// QuarantineBucket receives uploads; CleanBucket holds those that passed the scan.
	QuarantineBucket, CleanBucket string
	// PutURLTTL and GetURLTTL are the lifetimes of presigned upload and download URLs.
	PutURLTTL, GetURLTTL time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Cache holds the public reads that show an avatar (the owner's public profile, the
	// keys AvatarChanged names); a new avatar drops them after its commit. Nil: no cache.
	Cache *cache.Cache
	// AvatarChanged runs in the transaction that sets a user's new avatar, for the contexts
	// that show it (the tutor profile's outbox event: tutors.RecordOwnerChanged), and names
	// their cache keys to drop after the commit. Nil: nothing else shows an avatar.
	AvatarChanged func(ctx context.Context, tx queries.DBTX, userID uuid.UUID) (cacheKeys []string, err error)
}

// Service is the uploads context: the records in PostgreSQL and presigned URLs of the
// storage. It never reads or writes a file's bytes.
type Service struct {
	db DB
	q  *queries.Queries
	o  Options
}

// New returns the uploads service over db.
func New(db DB, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Service{db: db, q: queries.New(db), o: o}
}

// NotFound is the error for an upload that does not exist or that the caller may not see.
func NotFound(id uuid.UUID) error {
	return tutorhub.Errorf(tutorhub.ENOTFOUND, "upload %s not found", id)
}

func (s *Service) store() (*objectstore.Store, error) {
	if s.o.Store == nil {
		return nil, tutorhub.Errorf(tutorhub.EUNAVAILABLE, "uploads are not configured on this server")
	}
	return s.o.Store, nil
}

// Created is a new pending upload and where its client sends the file.
type Created struct {
	Upload  Upload
	Put     objectstore.PresignedRequest
	Expires time.Time
}

// ObjectKey is where an upload's file lives in either bucket: by purpose and owner, named
// by the upload id, never by anything the client chose.
func ObjectKey(p Purpose, owner, id uuid.UUID) string {
	return string(p) + "/" + owner.String() + "/" + id.String()
}

// Create records a pending upload of the actor and presigns its PUT into quarantine.
func (s *Service) Create(ctx context.Context, a Actor, r Request) (Created, error) {
	if err := r.Validate(); err != nil {
		return Created{}, err
	}
	store, err := s.store()
	if err != nil {
		return Created{}, err
	}
	id := uuid.New()
	row, err := s.q.CreateUpload(ctx, queries.CreateUploadParams{
		ID: id, OwnerID: a.UserID, Purpose: string(r.Purpose), ContentType: r.NormalizedType(),
		SizeBytes: r.Size, ObjectKey: ObjectKey(r.Purpose, a.UserID, id),
	})
	if err != nil {
		return Created{}, fmt.Errorf("create upload: %w", err)
	}
	expires := s.o.Now().Add(s.o.PutURLTTL)
	put, err := store.PresignPut(ctx, s.o.QuarantineBucket, row.ObjectKey, row.ContentType, row.SizeBytes, s.o.PutURLTTL)
	if err != nil {
		return Created{}, err
	}
	return Created{Upload: uploadOf(row), Put: put, Expires: expires}, nil
}

// visible loads an upload the actor may see: its owner's, or any for an admin.
func (s *Service) visible(ctx context.Context, q *queries.Queries, a Actor, id uuid.UUID, lock bool) (queries.Upload, error) {
	get := q.GetUpload
	if lock {
		get = q.LockUpload
	}
	row, err := get(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return row, NotFound(id)
	}
	if err != nil {
		return row, fmt.Errorf("read upload %s: %w", id, err)
	}
	if row.OwnerID != a.UserID && !a.Admin {
		return row, NotFound(id)
	}
	return row, nil
}

// Get returns an upload of the actor (any, for admins).
func (s *Service) Get(ctx context.Context, a Actor, id uuid.UUID) (Upload, error) {
	row, err := s.visible(ctx, s.q, a, id, false)
	if err != nil {
		return Upload{}, err
	}
	return uploadOf(row), nil
}

// Complete moves the actor's pending upload to scanning and records the event that starts
// its scan, in one transaction. Completing an upload that is already further along changes
// nothing and records nothing, so the scan runs once. Only the owner may complete.
func (s *Service) Complete(ctx context.Context, a Actor, id uuid.UUID) (Upload, error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return Upload{}, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	q := s.q.WithTx(tx)
	row, err := s.visible(ctx, q, Actor{UserID: a.UserID}, id, true)
	if err != nil {
		return Upload{}, err
	}
	switch Status(row.Status) {
	case StatusPending:
	case StatusExpired:
		return Upload{}, tutorhub.Errorf(tutorhub.EPRECONDITION, "upload %s expired; create a new one", id)
	default:
		return uploadOf(row), nil
	}
	if row, err = q.CompleteUpload(ctx, id); err != nil {
		return Upload{}, fmt.Errorf("complete upload %s: %w", id, err)
	}
	if err := InsertEvent(ctx, q, EventCompleted, row); err != nil {
		return Upload{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Upload{}, fmt.Errorf("commit upload %s: %w", id, err)
	}
	return uploadOf(row), nil
}

// CompleteStored completes the upload whose file the storage reports stored at key in bucket
// (a bucket notification): the same completion as Complete, on behalf of the owner the key
// names, so a completion by the client and one by the storage start one scan between them.
// A key of another bucket, or one that names no upload of that owner, is ENOTFOUND.
func (s *Service) CompleteStored(ctx context.Context, bucket, key string) (Upload, error) {
	parts := strings.Split(key, "/")
	if bucket != s.o.QuarantineBucket || len(parts) != 3 {
		return Upload{}, tutorhub.Errorf(tutorhub.ENOTFOUND, "no upload is stored at %q", key)
	}
	owner, oerr := uuid.Parse(parts[1])
	id, ierr := uuid.Parse(parts[2])
	if oerr != nil || ierr != nil || ObjectKey(Purpose(parts[0]), owner, id) != key {
		return Upload{}, tutorhub.Errorf(tutorhub.ENOTFOUND, "no upload is stored at %q", key)
	}
	row, err := s.q.GetUpload(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.ObjectKey != key) {
		return Upload{}, tutorhub.Errorf(tutorhub.ENOTFOUND, "no upload is stored at %q", key)
	}
	if err != nil {
		return Upload{}, fmt.Errorf("read upload %s: %w", id, err)
	}
	return s.Complete(ctx, Actor{UserID: owner}, id)
}

// InsertEvent records an upload event through q, in the caller's transaction.
func InsertEvent(ctx context.Context, q *queries.Queries, event string, row queries.Upload) error {
	payload, err := json.Marshal(EventPayload{
		Schema: EventSchema, UploadID: row.ID, OwnerID: row.OwnerID, Purpose: Purpose(row.Purpose), Status: Status(row.Status),
	})
	if err != nil {
		return err
	}
	tp := telemetry.TraceParent(ctx)
	if err := q.InsertOutboxEvent(ctx, queries.InsertOutboxEventParams{
		AggregateType: Aggregate, AggregateID: row.ID, EventType: event, Payload: string(payload),
		Traceparent: pgtype.Text{String: tp, Valid: tp != ""},
	}); err != nil {
		return fmt.Errorf("record %s: %w", event, err)
	}
	return nil
}

// DownloadURL presigns a short-lived GET of a clean upload for a (nil: anonymous): anyone may
// read an avatar; a credential document only its owner and admins. An upload that is not
// clean, or that a may not read, is ENOTFOUND.
func (s *Service) DownloadURL(ctx context.Context, a *Actor, id uuid.UUID) (string, time.Time, error) {
	row, err := s.q.GetUpload(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, NotFound(id)
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("read upload %s: %w", id, err)
	}
	public := Purpose(row.Purpose) == PurposeAvatar
	if !public && (a == nil || (a.UserID != row.OwnerID && !a.Admin)) {
		return "", time.Time{}, NotFound(id)
	}
	if Status(row.Status) != StatusClean {
		return "", time.Time{}, tutorhub.Errorf(tutorhub.ENOTFOUND, "upload %s has no clean file (status %s)", id, row.Status)
	}
	store, err := s.store()
	if err != nil {
		return "", time.Time{}, err
	}
	expires := s.o.Now().Add(s.o.GetURLTTL)
	url, err := store.PresignGet(ctx, s.o.CleanBucket, row.ObjectKey, StoredType(Purpose(row.Purpose), row.ContentType), s.o.GetURLTTL)
	if err != nil {
		return "", time.Time{}, err
	}
	return url, expires, nil
}

// Delete removes an upload of the actor (any, for admins): its files in both buckets, then
// its record, audited.
func (s *Service) Delete(ctx context.Context, a Actor, id uuid.UUID) error {
	row, err := s.visible(ctx, s.q, a, id, false)
	if err != nil {
		return err
	}
	store, err := s.store()
	if err != nil {
		return err
	}
	for _, b := range []string{s.o.QuarantineBucket, s.o.CleanBucket} {
		if err := store.Delete(ctx, b, row.ObjectKey); err != nil {
			return tutorhub.Errorf(tutorhub.EUNAVAILABLE, "storage refused the delete; try again")
		}
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := s.q.WithTx(tx).DeleteUpload(ctx, id); err != nil {
		return fmt.Errorf("delete upload %s: %w", id, err)
	}
	if err := accounts.RecordAudit(ctx, tx, accounts.AuditEvent{
		Action: "upload.deleted", Actor: a.UserID.String(), Subject: row.OwnerID.String(),
		Details: map[string]string{"upload_id": id.String(), "purpose": row.Purpose, "status": row.Status},
	}); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
