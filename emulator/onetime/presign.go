package onetime

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Presigner makes the upload URL of a token.
type Presigner interface {
	PresignPost(ctx context.Context, bucket, key string, expires time.Duration) (PresignedPost, error)
	PresignPut(ctx context.Context, bucket, key string, expires time.Duration, ifNoneMatch bool) (PresignedPut, error)
}

// PresignedPost is a browser-form upload: POST every field, then "file".
type PresignedPost struct {
	URL    string
	Fields map[string]string
}

// PresignedPut is a presigned PUT URL and the headers the client must send.
type PresignedPut struct {
	URL     string
	Headers http.Header
}

// SDKPresigner presigns with the AWS SDK for Go v2. The signing time comes
// from Clock, so that presigned URLs expire on the emulator's clock; the SDK
// does all canonicalisation and signing.
type SDKPresigner struct {
	Client *s3.PresignClient
	Clock  Clock
}

var _ Presigner = SDKPresigner{}

// NewSDKPresigner presigns for client on clk.
func NewSDKPresigner(client *s3.Client, clk Clock) SDKPresigner {
	return SDKPresigner{Client: s3.NewPresignClient(client), Clock: clk}
}

// PresignPost implements Presigner with s3.PresignClient.PresignPostObject.
func (p SDKPresigner) PresignPost(ctx context.Context, bucket, key string, expires time.Duration) (PresignedPost, error) {
	out, err := p.Client.PresignPostObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)},
		func(o *s3.PresignPostOptions) {
			o.Expires = expires
			o.PostPresigner = clockedPostPresigner{inner: o.PostPresigner, clock: p.Clock, expires: expires}
		})
	if err != nil {
		return PresignedPost{}, fmt.Errorf("presign POST: %w", err)
	}
	return PresignedPost{URL: out.URL, Fields: out.Values}, nil
}

// PresignPut implements Presigner with s3.PresignClient.PresignPutObject.
// With ifNoneMatch the URL signs "If-None-Match: *", which the client must
// then send.
func (p SDKPresigner) PresignPut(ctx context.Context, bucket, key string, expires time.Duration, ifNoneMatch bool) (PresignedPut, error) {
	in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}
	if ifNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	out, err := p.Client.PresignPutObject(ctx, in, func(o *s3.PresignOptions) {
		o.Expires = expires
		o.Presigner = clockedPresigner{inner: v4.NewSigner(func(so *v4.SignerOptions) { so.DisableURIPathEscaping = true }), clock: p.Clock}
	})
	if err != nil {
		return PresignedPut{}, fmt.Errorf("presign PUT: %w", err)
	}
	h := http.Header{}
	for k, vs := range out.SignedHeader {
		if http.CanonicalHeaderKey(k) == "Host" {
			continue
		}
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	return PresignedPut{URL: out.URL, Headers: h}, nil
}

// clockedPresigner replaces the SDK's wall-clock signing time with Clock's.
type clockedPresigner struct {
	inner *v4.Signer
	clock Clock
}

func (c clockedPresigner) PresignHTTP(ctx context.Context, creds aws.Credentials, r *http.Request, payloadHash, service, region string,
	_ time.Time, optFns ...func(*v4.SignerOptions)) (string, http.Header, error) {
	return c.inner.PresignHTTP(ctx, creds, r, payloadHash, service, region, c.clock.Now().UTC(), optFns...)
}

// clockedPostPresigner wraps the SDK's own POST presigner, replacing only
// the signing and expiration times.
type clockedPostPresigner struct {
	inner   s3.PresignPost
	clock   Clock
	expires time.Duration
}

func (c clockedPostPresigner) PresignPost(creds aws.Credentials, bucket, key, region, service string, _ time.Time,
	conditions []any, _ time.Time, optFns ...func(*v4.SignerOptions)) (map[string]string, error) {
	now := c.clock.Now().UTC()
	return c.inner.PresignPost(creds, bucket, key, region, service, now, conditions, now.Add(c.expires), optFns...)
}
