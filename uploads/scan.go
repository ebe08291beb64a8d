package uploads

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // decodes WebP avatars

	"github.com/tutorhub/tutorhub/accounts"
	"github.com/tutorhub/tutorhub/internal/objectstore"
	"github.com/tutorhub/tutorhub/queries"
)

// Verdict is a scan's outcome for one upload.
type Verdict struct {
	// Status is StatusClean, StatusInfected or StatusRejected.
	Status Status
	// Reason says why a file was rejected, or names the signature that matched.
	Reason string
	// SniffedType is the type told from the file's bytes.
	SniffedType string
}

// AvatarMaxSide bounds a re-encoded avatar's width and height, in pixels.
const AvatarMaxSide = 512

// ForScan returns an upload as the scan sees it, whoever owns it.
func (s *Service) ForScan(ctx context.Context, id uuid.UUID) (Upload, error) {
	row, err := s.q.GetUpload(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Upload{}, NotFound(id)
	}
	if err != nil {
		return Upload{}, fmt.Errorf("read upload %s: %w", id, err)
	}
	return uploadOf(row), nil
}

// Inspection is what Inspect found.
type Inspection struct {
	// Scan says the file exists with the declared size, so the virus scan reads it: a file
	// of the wrong type is scanned too, and malware is reported as infected, not rejected.
	Scan bool
	// Rejected is set when the file broke a rule: missing, another size, or bytes that are
	// not the declared, allowed type.
	Rejected *Verdict
	// SniffedType is the type told from the file's bytes.
	SniffedType string
}

// Inspect checks an upload's stored file before the virus scan: it must exist in quarantine,
// have the declared size, and its bytes must be the declared, allowed type.
func (s *Service) Inspect(ctx context.Context, u Upload) (Inspection, error) {
	store, err := s.store()
	if err != nil {
		return Inspection{}, err
	}
	info, err := store.Head(ctx, s.o.QuarantineBucket, u.ObjectKey)
	if errors.Is(err, objectstore.ErrNotFound) {
		return Inspection{Rejected: &Verdict{Status: StatusRejected, Reason: "no file was uploaded"}}, nil
	}
	if err != nil {
		return Inspection{}, err
	}
	if info.Size != u.Size {
		return Inspection{Rejected: &Verdict{Status: StatusRejected, Reason: fmt.Sprintf("the file has %d bytes, not the declared %d", info.Size, u.Size)}}, nil
	}
	head, err := store.ReadHead(ctx, s.o.QuarantineBucket, u.ObjectKey, SniffLen)
	if err != nil {
		return Inspection{}, err
	}
	in := Inspection{Scan: true}
	var reason string
	if in.SniffedType, reason = Check(u.Purpose, u.ContentType, head); reason != "" {
		in.Rejected = &Verdict{Status: StatusRejected, Reason: reason, SniffedType: in.SniffedType}
	}
	return in, nil
}

// Finish applies a verdict, idempotently: a clean file is promoted to the clean bucket (an
// avatar re-encoded, which strips its metadata and bounds its size, and set as the owner's
// avatar; a credential document marked for review) and its quarantine copy removed; an
// infected or rejected file is deleted, an infected one audited. The status changes once
// (from scanning), with the upload.scanned event in the same transaction; calling Finish
// again after that only makes sure the quarantine copy is gone.
func (s *Service) Finish(ctx context.Context, id uuid.UUID, v Verdict) (Upload, error) {
	store, err := s.store()
	if err != nil {
		return Upload{}, err
	}
	u, err := s.ForScan(ctx, id)
	if err != nil {
		return Upload{}, err
	}
	if u.Status == StatusScanning && v.Status == StatusClean {
		if err := s.promote(ctx, store, u); err != nil {
			// An avatar that does not decode as the image it claims is rejected, not retried.
			var bad badImageError
			if !errors.As(err, &bad) {
				return Upload{}, err
			}
			v = Verdict{Status: StatusRejected, Reason: bad.Error(), SniffedType: v.SniffedType}
		}
	}
	if u.Status == StatusScanning {
		if u, err = s.record(ctx, u, v); err != nil {
			return Upload{}, err
		}
	}
	if err := store.Delete(ctx, s.o.QuarantineBucket, u.ObjectKey); err != nil {
		return Upload{}, err
	}
	return u, nil
}

func (s *Service) promote(ctx context.Context, store *objectstore.Store, u Upload) error {
	if u.Purpose != PurposeAvatar {
		return store.Copy(ctx, s.o.QuarantineBucket, s.o.CleanBucket, u.ObjectKey)
	}
	body, _, err := store.Open(ctx, s.o.QuarantineBucket, u.ObjectKey)
	if err != nil {
		return err
	}
	defer body.Close()
	out, err := ReencodeAvatar(io.LimitReader(body, u.Size), u.ContentType)
	if err != nil {
		return err
	}
	return store.Put(ctx, s.o.CleanBucket, u.ObjectKey, StoredType(u.Purpose, u.ContentType), bytes.NewReader(out), int64(len(out)))
}

func (s *Service) record(ctx context.Context, u Upload, v Verdict) (Upload, error) {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return Upload{}, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	q := s.q.WithTx(tx)
	review := ""
	if v.Status == StatusClean && u.Purpose == PurposeCredentialDocument {
		review = "pending"
	}
	row, err := q.FinishUploadScan(ctx, queries.FinishUploadScanParams{
		ID: u.ID, Status: string(v.Status), Reason: truncate(v.Reason), SniffedType: v.SniffedType, ReviewStatus: review,
	})
	if errors.Is(err, pgx.ErrNoRows) { // finished meanwhile, or deleted
		return s.ForScan(ctx, u.ID)
	}
	if err != nil {
		return Upload{}, fmt.Errorf("finish upload %s: %w", u.ID, err)
	}
	var stale []string // cached reads that show the old avatar
	if v.Status == StatusClean && u.Purpose == PurposeAvatar {
		if err := q.SetUserAvatar(ctx, queries.SetUserAvatarParams{UserID: u.OwnerID, UploadID: uuid.NullUUID{UUID: u.ID, Valid: true}}); err != nil {
			return Upload{}, fmt.Errorf("set avatar of %s: %w", u.OwnerID, err)
		}
		stale = append(stale, accounts.UserCacheKey(u.OwnerID))
		if s.o.AvatarChanged != nil {
			keys, err := s.o.AvatarChanged(ctx, tx, u.OwnerID)
			if err != nil {
				return Upload{}, err
			}
			stale = append(stale, keys...)
		}
	}
	if v.Status == StatusInfected {
		if err := accounts.RecordAudit(ctx, tx, accounts.AuditEvent{
			Action: "upload.infected", Subject: u.OwnerID.String(),
			Details: map[string]string{"upload_id": u.ID.String(), "purpose": string(u.Purpose), "signature": truncate(v.Reason)},
		}); err != nil {
			return Upload{}, err
		}
	}
	if err := InsertEvent(ctx, q, EventScanned, row); err != nil {
		return Upload{}, err
	}
	if err := tx.Commit(ctx); err != nil {
		return Upload{}, fmt.Errorf("commit upload %s: %w", u.ID, err)
	}
	if s.o.Cache != nil {
		s.o.Cache.Invalidate(ctx, stale...)
	}
	return uploadOf(row), nil
}

type badImageError struct{ err error }

func (e badImageError) Error() string { return "the image cannot be read: " + e.err.Error() }

// StoredType is the content type of an upload's clean copy: avatars are re-encoded, and the
// standard library encodes no WebP, so a WebP avatar is served as PNG.
func StoredType(p Purpose, declared string) string {
	if p == PurposeAvatar && declared == TypeWebP {
		return TypePNG
	}
	return declared
}

// ReencodeAvatar decodes an avatar and encodes it again as StoredType says (JPEG stays
// JPEG; PNG and WebP become PNG). Metadata (EXIF location, comments, ICC chunks) does
// not survive a decode, and an image larger than AvatarMaxSide on a side is scaled down.
func ReencodeAvatar(r io.Reader, contentType string) ([]byte, error) {
	img, _, err := image.Decode(r)
	if err != nil {
		return nil, badImageError{err}
	}
	b := img.Bounds()
	if w, h := b.Dx(), b.Dy(); w > AvatarMaxSide || h > AvatarMaxSide {
		scale := float64(AvatarMaxSide) / float64(max(w, h))
		dst := image.NewRGBA(image.Rect(0, 0, max(1, int(float64(w)*scale)), max(1, int(float64(h)*scale))))
		draw.CatmullRom.Scale(dst, dst.Bounds(), img, b, draw.Over, nil)
		img = dst
	}
	var out bytes.Buffer
	switch StoredType(PurposeAvatar, contentType) {
	case TypeJPEG:
		err = jpeg.Encode(&out, img, &jpeg.Options{Quality: 88})
	default:
		err = png.Encode(&out, img)
	}
	if err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// ExpireAbandoned expires at most limit uploads still pending since before cutoff (never
// completed): deletes whatever was stored for them in quarantine and marks them expired. It
// returns how many it expired; an upload completed meanwhile is left alone.
func (s *Service) ExpireAbandoned(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	store, err := s.store()
	if err != nil {
		return 0, err
	}
	rows, err := s.q.ListAbandonedUploads(ctx, queries.ListAbandonedUploadsParams{Cutoff: cutoff, PageLimit: int32(limit)})
	if err != nil {
		return 0, fmt.Errorf("list abandoned uploads: %w", err)
	}
	n := 0
	for _, r := range rows {
		// The object first, so a failure leaves the upload pending for the next run; a
		// CompleteUpload between the two finds no file and is rejected, never served.
		if err := store.Delete(ctx, s.o.QuarantineBucket, r.ObjectKey); err != nil {
			return n, err
		}
		if _, err := s.q.ExpireUpload(ctx, queries.ExpireUploadParams{ID: r.ID, Reason: "never completed"}); errors.Is(err, pgx.ErrNoRows) {
			continue
		} else if err != nil {
			return n, fmt.Errorf("expire upload %s: %w", r.ID, err)
		}
		n++
	}
	return n, nil
}
