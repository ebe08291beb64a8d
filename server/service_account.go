package server

import (
	"context"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tutorhub/tutorhub"
	tutorhubv1 "github.com/tutorhub/tutorhub/gen/tutorhub/v1"
	"github.com/tutorhub/tutorhub/internal/pagetoken"
	"github.com/tutorhub/tutorhub/serviceaccounts"
)

// ServiceAccountServer implements tutorhub.v1.ServiceAccountService: admins manage service
// accounts and their keys (admin role only, never a service account; see AccessRules).
type ServiceAccountServer struct {
	accounts *serviceaccounts.Service
	tokens   *pagetoken.Codec
}

// NewServiceAccountServer returns the ServiceAccountService handler.
func NewServiceAccountServer(a *serviceaccounts.Service, tokens *pagetoken.Codec) *ServiceAccountServer {
	return &ServiceAccountServer{accounts: a, tokens: tokens}
}

// CreateServiceAccount creates an account owned by the calling admin.
func (s *ServiceAccountServer) CreateServiceAccount(ctx context.Context, req *tutorhubv1.CreateServiceAccountRequest) (*tutorhubv1.CreateServiceAccountResponse, error) {
	actor, err := adminActor(ctx)
	if err != nil {
		return nil, err
	}
	a, err := s.accounts.CreateAccount(auditContext(ctx), actor, serviceaccounts.NewAccount{
		Name: req.GetName(), Description: req.GetDescription(), RequestsPerMinute: int(req.GetRequestsPerMinute()),
	})
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.CreateServiceAccountResponse{ServiceAccount: serviceAccountProto(a)}, nil
}

// ListServiceAccounts returns one page of accounts, newest first.
func (s *ServiceAccountServer) ListServiceAccounts(ctx context.Context, req *tutorhubv1.ListServiceAccountsRequest) (*tutorhubv1.ListServiceAccountsResponse, error) {
	ks, err := newKeyset[serviceaccounts.Position](s.tokens, "service-accounts", req.GetPageToken(), pageSize(req.GetPageSize(), defaultPageSize))
	if err != nil {
		return nil, err
	}
	rows, err := s.accounts.ListAccounts(ctx, ks.After, ks.Limit())
	if err != nil {
		return nil, err
	}
	rows, next, err := page(ks, rows, func(a serviceaccounts.Account) serviceaccounts.Position {
		return serviceaccounts.Position{Time: a.CreatedAt, ID: a.ID}
	})
	if err != nil {
		return nil, err
	}
	res := &tutorhubv1.ListServiceAccountsResponse{NextPageToken: next}
	for _, a := range rows {
		res.ServiceAccounts = append(res.ServiceAccounts, serviceAccountProto(a))
	}
	return res, nil
}

// DisableServiceAccount disables an account and so all its keys.
func (s *ServiceAccountServer) DisableServiceAccount(ctx context.Context, req *tutorhubv1.DisableServiceAccountRequest) (*tutorhubv1.DisableServiceAccountResponse, error) {
	actor, err := adminActor(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseUUID("service_account_id", req.GetServiceAccountId())
	if err != nil {
		return nil, err
	}
	a, err := s.accounts.DisableAccount(auditContext(ctx), actor, id)
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.DisableServiceAccountResponse{ServiceAccount: serviceAccountProto(a)}, nil
}

// CreateKey creates a key and returns its secret, once.
func (s *ServiceAccountServer) CreateKey(ctx context.Context, req *tutorhubv1.CreateKeyRequest) (*tutorhubv1.CreateKeyResponse, error) {
	actor, err := adminActor(ctx)
	if err != nil {
		return nil, err
	}
	id, err := parseUUID("service_account_id", req.GetServiceAccountId())
	if err != nil {
		return nil, err
	}
	in := serviceaccounts.NewKeyInput{Scopes: req.GetScopes(), Description: req.GetDescription()}
	if req.ExpireTime != nil {
		if err := req.GetExpireTime().CheckValid(); err != nil {
			return nil, tutorhub.Invalid("expire_time", "timestamp.valid", "must be a valid timestamp")
		}
		in.ExpiresAt = req.GetExpireTime().AsTime()
	}
	k, secret, err := s.accounts.CreateKey(auditContext(ctx), actor, id, in)
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.CreateKeyResponse{Key: serviceAccountKeyProto(k), Secret: secret}, nil
}

// ListKeys returns one page of an account's keys, newest first, without secrets.
func (s *ServiceAccountServer) ListKeys(ctx context.Context, req *tutorhubv1.ListKeysRequest) (*tutorhubv1.ListKeysResponse, error) {
	id, err := parseUUID("service_account_id", req.GetServiceAccountId())
	if err != nil {
		return nil, err
	}
	ks, err := newKeyset[serviceaccounts.Position](s.tokens, "service-account-keys|account="+id.String(), req.GetPageToken(), pageSize(req.GetPageSize(), defaultPageSize))
	if err != nil {
		return nil, err
	}
	rows, err := s.accounts.ListKeys(ctx, id, ks.After, ks.Limit())
	if err != nil {
		return nil, err
	}
	rows, next, err := page(ks, rows, func(k serviceaccounts.Key) serviceaccounts.Position {
		return serviceaccounts.Position{Time: k.CreatedAt, ID: k.ID}
	})
	if err != nil {
		return nil, err
	}
	res := &tutorhubv1.ListKeysResponse{NextPageToken: next}
	for _, k := range rows {
		res.Keys = append(res.Keys, serviceAccountKeyProto(k))
	}
	return res, nil
}

// RevokeKey revokes a key.
func (s *ServiceAccountServer) RevokeKey(ctx context.Context, req *tutorhubv1.RevokeKeyRequest) (*tutorhubv1.RevokeKeyResponse, error) {
	actor, err := adminActor(ctx)
	if err != nil {
		return nil, err
	}
	accountID, err := parseUUID("service_account_id", req.GetServiceAccountId())
	if err != nil {
		return nil, err
	}
	keyID, err := parseUUID("key_id", req.GetKeyId())
	if err != nil {
		return nil, err
	}
	k, err := s.accounts.RevokeKey(auditContext(ctx), actor, accountID, keyID)
	if err != nil {
		return nil, err
	}
	return &tutorhubv1.RevokeKeyResponse{Key: serviceAccountKeyProto(k)}, nil
}

// adminActor is the calling admin's user id (AccessRules let only admins in).
func adminActor(ctx context.Context) (uuid.UUID, error) {
	c := CallerFrom(ctx)
	if c == nil || !c.HasRole(RoleAdmin) {
		return uuid.Nil, tutorhub.Errorf(tutorhub.EFORBIDDEN, "this needs the admin role")
	}
	id, err := uuid.Parse(c.UserID)
	if err != nil {
		return uuid.Nil, tutorhub.Errorf(tutorhub.EFORBIDDEN, "this needs the admin role")
	}
	return id, nil
}

func parseUUID(field, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, tutorhub.Invalid(field, "string.uuid", "value must be a valid UUID")
	}
	return id, nil
}

func serviceAccountProto(a serviceaccounts.Account) *tutorhubv1.ServiceAccount {
	return &tutorhubv1.ServiceAccount{
		Id: a.ID.String(), Name: a.Name, Description: a.Description, OwnerId: a.OwnerID.String(),
		RequestsPerMinute: int32(a.RequestsPerMinute), CreateTime: timestamppb.New(a.CreatedAt), DisableTime: optionalTime(a.DisabledAt),
	}
}

func serviceAccountKeyProto(k serviceaccounts.Key) *tutorhubv1.ServiceAccountKey {
	scopes := make([]string, len(k.Scopes))
	for i, s := range k.Scopes {
		scopes[i] = string(s)
	}
	return &tutorhubv1.ServiceAccountKey{
		Id: k.ID.String(), ServiceAccountId: k.AccountID.String(), Prefix: k.Prefix, Scopes: scopes,
		Description: k.Description, CreatedBy: k.CreatedBy.String(), CreateTime: timestamppb.New(k.CreatedAt),
		ExpireTime: optionalTime(k.ExpiresAt), RevokeTime: optionalTime(k.RevokedAt), LastUseTime: optionalTime(k.LastUsedAt),
		LastUseIp: k.LastUsedIP,
	}
}

// optionalTime is t as a timestamp, nil when zero.
func optionalTime(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
