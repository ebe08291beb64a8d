package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"connectrpc.com/connect"

	"github.com/tutorhub/tutorhub"
	"github.com/tutorhub/tutorhub/uploads"
)

// StorageWebhookPath receives the storage's bucket notifications (S3 event notification
// JSON, as AWS S3 and the Versity S3 Gateway's --event-webhook-url send them).
const StorageWebhookPath = "/webhooks/storage"

// Bounds of one notification: its body and its records.
const (
	maxStorageEventBytes   = 256 << 10
	maxStorageEventRecords = 100
	maxStorageObjectKey    = 1024
)

// storageEvent is the part of an S3 event notification the webhook reads.
type storageEvent struct {
	Records []struct {
		EventName string `json:"eventName"`
		S3        struct {
			Bucket struct {
				Name string `json:"name"`
			} `json:"bucket"`
			Object struct {
				Key string `json:"key"`
			} `json:"object"`
		} `json:"s3"`
	} `json:"Records"`
}

// storageWebhookHandler completes the uploads whose files the storage reports stored, a second
// trigger of the scan beside CompleteUpload (uploads.Service.CompleteStored: both together scan
// once). The caller proves itself with the configured token, as a bearer token or, for storage
// that cannot set headers, in the query; the comparison is of SHA-256 sums, in constant time.
// A record of another event, bucket or key is ignored; a failure to complete answers 503, so
// the storage delivers the notification again.
func storageWebhookHandler(svc *uploads.Service, secret []byte, log *slog.Logger) http.Handler {
	want := sha256.Sum256(secret)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeJSONErrorStatus(w, http.StatusMethodNotAllowed, connect.CodeUnimplemented, "use POST")
			return
		}
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			token = r.URL.Query().Get("token")
		}
		got := sha256.Sum256([]byte(token))
		if token == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			writeJSONError(w, connect.CodeUnauthenticated, "a valid webhook token is required")
			return
		}
		var ev storageEvent
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxStorageEventBytes))
		if err := dec.Decode(&ev); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeJSONErrorStatus(w, http.StatusRequestEntityTooLarge, connect.CodeResourceExhausted,
					fmt.Sprintf("a notification is at most %d bytes", maxStorageEventBytes))
				return
			}
			writeJSONError(w, connect.CodeInvalidArgument, "the body is not an S3 event notification")
			return
		}
		if len(ev.Records) > maxStorageEventRecords {
			writeJSONError(w, connect.CodeInvalidArgument, fmt.Sprintf("a notification has at most %d records", maxStorageEventRecords))
			return
		}
		completed, ignored := 0, 0
		for _, rec := range ev.Records {
			// Keys arrive URL-encoded (a space as '+'), as S3 sends them.
			key, err := url.QueryUnescape(rec.S3.Object.Key)
			if !strings.Contains(rec.EventName, "ObjectCreated") || err != nil || len(key) > maxStorageObjectKey {
				ignored++
				continue
			}
			_, err = svc.CompleteStored(r.Context(), rec.S3.Bucket.Name, key)
			switch {
			case tutorhub.ErrorCode(err) == tutorhub.ENOTFOUND || tutorhub.ErrorCode(err) == tutorhub.EPRECONDITION:
				ignored++
			case err != nil:
				log.ErrorContext(r.Context(), "storage notification: completing the upload failed", "key", key, "error", err)
				writeJSONError(w, connect.CodeUnavailable, "the upload could not be completed; deliver the notification again")
				return
			default:
				completed++
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"completed":%d,"ignored":%d}`+"\n", completed, ignored)
	})
}
