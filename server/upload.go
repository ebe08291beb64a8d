package server

import (
	"context"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tutorhub/tutorhub"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/uploads"
)

// UploadServer implements tutorhub.v1.UploadService over the uploads package. No file byte
// passes through it: clients PUT to and GET from storage with presigned URLs.
type UploadServer struct {
	uploads *uploads.Service
}

// NewUploadServer returns the uploads' handler over the uploads service.
func NewUploadServer(u *uploads.Service) *UploadServer { return &UploadServer{uploads: u} }

// CreateUpload records a pending upload of the caller and presigns its PUT.
func (s *UploadServer) CreateUpload(ctx context.Context, req *tutorhubv1.CreateUploadRequest) (*tutorhubv1.CreateUploadResponse, error) {
	a, err := uploadActor(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.uploads.Create(ctx, a, uploads.Request{
		Purpose: uploads.Purpose(req.GetPurpose()), ContentType: req.GetContentType(), Size: req.GetSizeBytes(),
	})
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.CreateUploadResponse{
		Upload: uploadProto(c.Upload), UploadUrl: c.Put.URL, UploadMethod: c.Put.Method,
		UploadHeaders: c.Put.Headers, ExpireTime: timestamppb.New(c.Expires),
	}, nil
}

// CompleteUpload starts the scan of the caller's upload (once, however often it is called).
func (s *UploadServer) CompleteUpload(ctx context.Context, req *tutorhubv1.CompleteUploadRequest) (*tutorhubv1.CompleteUploadResponse, error) {
	a, err := uploadActor(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.uploads.Complete(auditContext(ctx), a, parseUploadID(req.GetId()))
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.CompleteUploadResponse{Upload: uploadProto(u)}, nil
}

// GetUpload returns an upload the caller may see.
func (s *UploadServer) GetUpload(ctx context.Context, req *tutorhubv1.GetUploadRequest) (*tutorhubv1.GetUploadResponse, error) {
	a, err := uploadActor(ctx)
	if err != nil {
		return nil, err
	}
	u, err := s.uploads.Get(ctx, a, parseUploadID(req.GetId()))
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.GetUploadResponse{Upload: uploadProto(u)}, nil
}

// GetDownloadURL presigns a short-lived GET of a clean upload the caller may read.
func (s *UploadServer) GetDownloadURL(ctx context.Context, req *tutorhubv1.GetDownloadURLRequest) (*tutorhubv1.GetDownloadURLResponse, error) {
	var a *uploads.Actor
	if c, err := uploadActor(ctx); err == nil {
		a = &c
	}
	url, expires, err := s.uploads.DownloadURL(ctx, a, parseUploadID(req.GetId()))
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.GetDownloadURLResponse{Url: url, ExpireTime: timestamppb.New(expires)}, nil
}

// DeleteUpload removes an upload the caller owns (any, for admins) and its files.
func (s *UploadServer) DeleteUpload(ctx context.Context, req *tutorhubv1.DeleteUploadRequest) (*tutorhubv1.DeleteUploadResponse, error) {
	a, err := uploadActor(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.uploads.Delete(auditContext(ctx), a, parseUploadID(req.GetId())); err != nil {
		return nil, err
	}
	return &tutorhubv1.DeleteUploadResponse{}, nil
}

// uploadActor is the signed-in caller as the uploads package sees it.
func uploadActor(ctx context.Context) (uploads.Actor, error) {
	c := CallerFrom(ctx)
	if c == nil {
		return uploads.Actor{}, tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "sign in to upload files")
	}
	id, err := uuid.Parse(c.UserID)
	if err != nil {
		return uploads.Actor{}, tutorhub.Errorf(tutorhub.EUNAUTHENTICATED, "sign in to upload files")
	}
	return uploads.Actor{UserID: id, Admin: c.HasRole(RoleAdmin)}, nil
}

// parseUploadID reads an id protovalidate already checked is a UUID.
func parseUploadID(s string) uuid.UUID {
	id, _ := uuid.Parse(s)
	return id
}

var uploadStatusProto = map[uploads.Status]tutorhubv1.UploadStatus{
	uploads.StatusPending:  tutorhubv1.UploadStatus_UPLOAD_STATUS_PENDING,
	uploads.StatusScanning: tutorhubv1.UploadStatus_UPLOAD_STATUS_SCANNING,
	uploads.StatusClean:    tutorhubv1.UploadStatus_UPLOAD_STATUS_CLEAN,
	uploads.StatusInfected: tutorhubv1.UploadStatus_UPLOAD_STATUS_INFECTED,
	uploads.StatusRejected: tutorhubv1.UploadStatus_UPLOAD_STATUS_REJECTED,
	uploads.StatusExpired:  tutorhubv1.UploadStatus_UPLOAD_STATUS_EXPIRED,
}

func uploadProto(u uploads.Upload) *tutorhubv1.Upload {
	return &tutorhubv1.Upload{
		Id: u.ID.String(), Purpose: string(u.Purpose), ContentType: u.ContentType, SizeBytes: u.Size,
		Status: uploadStatusProto[u.Status], Reason: u.Reason, OwnerId: u.OwnerID.String(),
		CreateTime: timestamppb.New(u.CreatedAt), UpdateTime: timestamppb.New(u.UpdatedAt),
	}
}
