// Package objectstore is tutorhub's S3 client: presigned upload and download URLs and the few
// object operations the upload pipeline needs, through aws-sdk-go-v2 against any
// S3-compatible endpoint (AWS S3, GCS's S3 API, the local Versity S3 Gateway).
//
// Guarantees: a presigned upload URL signs the object's exact Content-Length and Content-Type,
// so storage refuses a body of any other size or declared type; presigned URLs name the
// public endpoint; Delete and EnsureBucket are idempotent; a missing object is ErrNotFound.
package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/tutorhub/tutorhub/internal/breaker"
	"github.com/tutorhub/tutorhub/internal/config"
)

// DefaultTimeout bounds the wait for storage to start answering one request (its dial, and
// its answer's headers once the request is sent), unless WithTimeout says otherwise. A body
// being streamed in or out is bounded by the caller's context alone: uploads may be large.
const DefaultTimeout = 10 * time.Second

// Option tunes a Store.
type Option func(*storeOptions)

type storeOptions struct {
	breaker *breaker.Breaker
	timeout time.Duration
}

// WithBreaker guards every request to storage with b: transport errors, timeouts and the
// answers 502, 503 and 504 count as failures, and while b is open calls fail at once
// (errors.Is breaker.ErrOpen), without the SDK retrying them.
func WithBreaker(b *breaker.Breaker) Option { return func(o *storeOptions) { o.breaker = b } }

// WithTimeout sets the wait for storage to start answering one request (default
// DefaultTimeout); the caller's deadline shortens it further.
func WithTimeout(d time.Duration) Option { return func(o *storeOptions) { o.timeout = d } }

// ErrNotFound reports a missing object or bucket.
var ErrNotFound = errors.New("objectstore: not found")

// Store reaches one S3-compatible service.
type Store struct {
	client  *s3.Client
	presign *s3.PresignClient
	sources []string
}

// New builds a Store from the storage configuration. Empty credentials mean the process's
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
func New(cfg config.Storage, opts ...Option) (*Store, error) {
	o := storeOptions{timeout: DefaultTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	id, secret, token := cfg.AccessKeyID, cfg.SecretAccessKey, ""
	if id == "" && secret == "" {
		id, secret, token = os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), os.Getenv("AWS_SESSION_TOKEN")
	}
	if id == "" || secret == "" {
		return nil, errors.New("objectstore: no credentials (TUTORHUB_S3_ACCESS_KEY_ID and TUTORHUB_S3_SECRET_ACCESS_KEY, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
	}
	base := aws.Config{
		Region:      cfg.Region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, token)),
		// No overall timeout (bodies may be large): each call is bounded by its context, and
		// the wait for an answer by the transport's.
		HTTPClient: &http.Client{Transport: transport(o)},
		Retryer:    retryer(o.breaker),
		// Checksums only where S3 requires them: S3-compatible servers differ in support, and a
		// presigned URL must not demand a checksum header the browser does not send.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	client := func(endpoint string) *s3.Client {
		return s3.NewFromConfig(base, func(o *s3.Options) {
			if endpoint != "" {
				o.BaseEndpoint = aws.String(endpoint)
			}
			o.UsePathStyle = cfg.PathStyle
		})
	}
	public := cfg.PublicEndpoint
	if public == "" {
		public = cfg.Endpoint
	}
	sources, err := browserSources(public, cfg.PathStyle)
	if err != nil {
		return nil, err
	}
	return &Store{client: client(cfg.Endpoint), presign: s3.NewPresignClient(client(public)), sources: sources}, nil
}

// transport bounds the dial and the wait for an answer's headers by o.timeout, and puts
// o.breaker, when set, in front of every request.
func transport(o storeOptions) http.RoundTripper {
	t := breaker.NewHTTPTransport(o.timeout)
	t.ResponseHeaderTimeout = o.timeout
	t.MaxIdleConnsPerHost = 64
	if o.breaker == nil {
		return t
	}
	return breaker.Transport(o.breaker, t)
}

// retryer is the SDK's standard retryer, except that a refusal of the open breaker b is
// final: retrying it would only wait out the SDK's backoff to be refused again.
func retryer(b *breaker.Breaker) func() aws.Retryer {
	if b == nil {
		return nil
	}
	return func() aws.Retryer {
		return retry.NewStandard(func(so *retry.StandardOptions) {
			so.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
				if errors.Is(err, breaker.ErrOpen) {
					return aws.FalseTernary
				}
				return aws.UnknownTernary
			})}, so.Retryables...)
		})
	}
}

// BrowserSources are the Content-Security-Policy sources of the presigned URLs the store
// makes: what a page must allow to PUT to them and show images from them.
func (s *Store) BrowserSources() []string { return slices.Clone(s.sources) }

// browserSources is the origin of a path-style endpoint, every bucket's host of a
// virtual-hosted one, or AWS S3's hosts without an endpoint.
func browserSources(endpoint string, pathStyle bool) ([]string, error) {
	if endpoint == "" {
		return []string{"https://*.amazonaws.com"}, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("objectstore: endpoint %q is not an http or https URL", endpoint)
	}
	if pathStyle {
		return []string{u.Scheme + "://" + u.Host}, nil
	}
	return []string{u.Scheme + "://*." + u.Host}, nil
}

// ObjectInfo describes a stored object.
type ObjectInfo struct {
	Size        int64
	ContentType string
}

// PresignedRequest is a URL with the headers the client must send with it, exactly.
type PresignedRequest struct {
	URL     string
	Method  string
	Headers map[string]string
}

// PresignPut returns a PUT for bucket/key valid for ttl, signed for exactly size bytes of
// contentType.
func (s *Store) PresignPut(ctx context.Context, bucket, key, contentType string, size int64, ttl time.Duration) (PresignedRequest, error) {
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(key),
		ContentType:   aws.String(contentType),
		ContentLength: aws.Int64(size),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return PresignedRequest{}, fmt.Errorf("presign put %s/%s: %w", bucket, key, err)
	}
	headers := map[string]string{}
	for k, v := range req.SignedHeader {
		if k == "Host" || len(v) == 0 {
			continue
		}
		headers[k] = v[0]
	}
	headers["Content-Length"] = strconv.FormatInt(size, 10)
	headers["Content-Type"] = contentType
	return PresignedRequest{URL: req.URL, Method: req.Method, Headers: headers}, nil
}

// PresignGet returns a GET URL for bucket/key valid for ttl; the response is served as an
// attachment of contentType so a browser never renders it inline as another type.
func (s *Store) PresignGet(ctx context.Context, bucket, key, contentType string, ttl time.Duration) (string, error) {
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket:                     aws.String(bucket),
		Key:                        aws.String(key),
		ResponseContentType:        aws.String(contentType),
		ResponseContentDisposition: aws.String("attachment"),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign get %s/%s: %w", bucket, key, err)
	}
	return req.URL, nil
}

// EnsureBucket creates bucket unless it exists.
func (s *Store) EnsureBucket(ctx context.Context, bucket string) error {
	_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	var exists *types.BucketAlreadyExists
	if err == nil || errors.As(err, &owned) || errors.As(err, &exists) {
		return nil
	}
	if _, herr := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)}); herr == nil {
		return nil
	}
	return fmt.Errorf("create bucket %s: %w", bucket, err)
}

// AllowBrowserUploads sets bucket's CORS configuration so pages served from origins may PUT
// objects with presigned URLs (the preflight, and the headers on the PUT's answer); it
// replaces any configuration the bucket had. Presigned GETs need none: an <img> or a link
// reads them without CORS.
func (s *Store) AllowBrowserUploads(ctx context.Context, bucket string, origins []string) error {
	_, err := s.client.PutBucketCors(ctx, &s3.PutBucketCorsInput{
		Bucket: aws.String(bucket),
		CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
			AllowedOrigins: origins,
			AllowedMethods: []string{http.MethodPut},
			AllowedHeaders: []string{"content-type"},
			ExposeHeaders:  []string{"ETag"},
			MaxAgeSeconds:  aws.Int32(600),
		}}},
	})
	if err != nil {
		return fmt.Errorf("cors of bucket %s: %w", bucket, err)
	}
	return nil
}

// Head describes bucket/key.
func (s *Store) Head(ctx context.Context, bucket, key string) (ObjectInfo, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("head %s/%s: %w", bucket, key, notFound(err))
	}
	return ObjectInfo{Size: aws.ToInt64(out.ContentLength), ContentType: aws.ToString(out.ContentType)}, nil
}

// Open streams bucket/key; the caller closes the body.
func (s *Store) Open(ctx context.Context, bucket, key string) (io.ReadCloser, ObjectInfo, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %s/%s: %w", bucket, key, notFound(err))
	}
	return out.Body, ObjectInfo{Size: aws.ToInt64(out.ContentLength), ContentType: aws.ToString(out.ContentType)}, nil
}

// ReadHead returns at most n bytes from the start of bucket/key.
func (s *Store) ReadHead(ctx context.Context, bucket, key string, n int) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Range: aws.String(fmt.Sprintf("bytes=0-%d", n-1)),
	})
	if err != nil {
		var re *smithy.GenericAPIError
		if errors.As(err, &re) && re.Code == "InvalidRange" { // an empty object
			return nil, nil
		}
		return nil, fmt.Errorf("get %s/%s: %w", bucket, key, notFound(err))
	}
	defer out.Body.Close()
	return io.ReadAll(io.LimitReader(out.Body, int64(n)))
}

// Put stores body (size bytes of contentType) as bucket/key.
func (s *Store) Put(ctx context.Context, bucket, key, contentType string, body io.ReadSeeker, size int64) error {
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: body,
		ContentLength: aws.Int64(size), ContentType: aws.String(contentType),
	})
	if err != nil {
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	return nil
}

// Copy copies srcBucket/key to dstBucket/key inside the storage (no bytes pass through here).
func (s *Store) Copy(ctx context.Context, srcBucket, dstBucket, key string) error {
	_, err := s.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: aws.String(dstBucket), Key: aws.String(key), CopySource: aws.String(srcBucket + "/" + key),
	})
	if err != nil {
		return fmt.Errorf("copy %s/%s to %s: %w", srcBucket, key, dstBucket, notFound(err))
	}
	return nil
}

// Delete removes bucket/key; a missing object is no error.
func (s *Store) Delete(ctx context.Context, bucket, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil && !errors.Is(notFound(err), ErrNotFound) {
		return fmt.Errorf("delete %s/%s: %w", bucket, key, err)
	}
	return nil
}

// List returns the keys of bucket that start with prefix (at most 1000).
func (s *Store) List(ctx context.Context, bucket, prefix string) ([]string, error) {
	out, err := s.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", bucket, notFound(err))
	}
	keys := make([]string, 0, len(out.Contents))
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys, nil
}

// DeleteBucket empties and removes bucket (for tests and teardown).
func (s *Store) DeleteBucket(ctx context.Context, bucket string) error {
	for {
		keys, err := s.List(ctx, bucket, "")
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			break
		}
		for _, k := range keys {
			if err := s.Delete(ctx, bucket, k); err != nil {
				return err
			}
		}
	}
	if _, err := s.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil && !errors.Is(notFound(err), ErrNotFound) {
		return fmt.Errorf("delete bucket %s: %w", bucket, err)
	}
	return nil
}

// notFound turns S3's several spellings of "no such object or bucket" into ErrNotFound.
func notFound(err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	var nsb *types.NoSuchBucket
	if errors.As(err, &nsk) || errors.As(err, &nf) || errors.As(err, &nsb) {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	var api smithy.APIError
	if errors.As(err, &api) && (api.ErrorCode() == "NotFound" || api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NoSuchBucket") {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return err
}
