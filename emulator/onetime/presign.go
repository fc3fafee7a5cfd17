package onetime

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
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
//
// Against a custom path-style endpoint (the emulator) it skips the S3
// client's per-call middleware stack, which only resolves the endpoint, and
// signs with the same SDK pieces that stack ends in: the v4 signer for PUT
// and the SDK's own POST policy signer. Against AWS it uses
// s3.PresignClient as is.
type SDKPresigner struct {
	Client *s3.PresignClient
	Clock  Clock
	// MaxUploadSize, when positive, bounds every POST grant with the policy
	// condition ["content-length-range", 0, MaxUploadSize]; zero grants any
	// size, as the reference does. (A presigned PUT cannot carry a range.)
	MaxUploadSize int64

	direct   bool
	endpoint string // base URL, no trailing slash
	region   string
	creds    aws.CredentialsProvider
	signer   *v4.Signer
	post     s3.PresignPost
}

var _ Presigner = (*SDKPresigner)(nil)

// NewSDKPresigner presigns for client on clk.
func NewSDKPresigner(client *s3.Client, clk Clock) *SDKPresigner {
	p := &SDKPresigner{Client: s3.NewPresignClient(client), Clock: clk}
	o := client.Options()
	if o.BaseEndpoint == nil || !o.UsePathStyle || o.Credentials == nil {
		return p
	}
	// Borrow the SDK's POST presigner: PresignPostObject installs it before
	// applying option functions.
	_, _ = p.Client.PresignPostObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("b"), Key: aws.String("k")},
		func(po *s3.PresignPostOptions) { p.post = po.PostPresigner })
	if p.post == nil {
		return p
	}
	p.direct = true
	p.endpoint = strings.TrimSuffix(*o.BaseEndpoint, "/")
	p.region = o.Region
	p.creds = o.Credentials
	p.signer = v4.NewSigner(func(so *v4.SignerOptions) { so.DisableURIPathEscaping = true })
	return p
}

// PresignPost implements Presigner.
func (p *SDKPresigner) PresignPost(ctx context.Context, bucket, key string, expires time.Duration) (PresignedPost, error) {
	if p.direct {
		creds, err := p.creds.Retrieve(ctx)
		if err != nil {
			return PresignedPost{}, fmt.Errorf("presign POST: credentials: %w", err)
		}
		now := p.Clock.Now().UTC()
		fields, err := p.post.PresignPost(creds, bucket, key, p.region, "s3", now, p.conditions(), now.Add(expires))
		if err != nil {
			return PresignedPost{}, fmt.Errorf("presign POST: %w", err)
		}
		return PresignedPost{URL: p.endpointFor(ctx) + "/" + bucket, Fields: fields}, nil
	}
	out, err := p.Client.PresignPostObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)},
		func(o *s3.PresignPostOptions) {
			o.Expires = expires
			o.Conditions = p.conditions()
			o.PostPresigner = clockedPostPresigner{inner: o.PostPresigner, clock: p.Clock, expires: expires}
		})
	if err != nil {
		return PresignedPost{}, fmt.Errorf("presign POST: %w", err)
	}
	return PresignedPost{URL: out.URL, Fields: out.Values}, nil
}

// PresignPut implements Presigner. With ifNoneMatch the URL signs
// "If-None-Match: *", which the client must then send.
func (p *SDKPresigner) PresignPut(ctx context.Context, bucket, key string, expires time.Duration, ifNoneMatch bool) (PresignedPut, error) {
	if p.direct {
		return p.presignPutDirect(ctx, bucket, key, expires, ifNoneMatch)
	}
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
	return PresignedPut{URL: out.URL, Headers: withoutHost(out.SignedHeader)}, nil
}

func (p *SDKPresigner) presignPutDirect(ctx context.Context, bucket, key string, expires time.Duration, ifNoneMatch bool) (PresignedPut, error) {
	creds, err := p.creds.Retrieve(ctx)
	if err != nil {
		return PresignedPut{}, fmt.Errorf("presign PUT: credentials: %w", err)
	}
	u := p.endpointFor(ctx) + "/" + bucket + "/" + escapeKey(key) + "?X-Amz-Expires=" + strconv.FormatInt(int64(expires/time.Second), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, nil)
	if err != nil {
		return PresignedPut{}, fmt.Errorf("presign PUT: %w", err)
	}
	if ifNoneMatch {
		req.Header.Set("If-None-Match", "*")
	}
	signed, hdr, err := p.signer.PresignHTTP(ctx, creds, req, "UNSIGNED-PAYLOAD", "s3", p.region, p.Clock.Now().UTC())
	if err != nil {
		return PresignedPut{}, fmt.Errorf("presign PUT: %w", err)
	}
	return PresignedPut{URL: signed, Headers: withoutHost(hdr)}, nil
}

// conditions are the extra POST policy conditions of every grant.
func (p *SDKPresigner) conditions() []any {
	if p.MaxUploadSize <= 0 {
		return nil
	}
	return []any{[]any{"content-length-range", 0, p.MaxUploadSize}}
}

type endpointKey struct{}

// WithEndpoint returns ctx carrying base (scheme://host[:port], no trailing
// slash) as the S3 endpoint of the URLs presigned under it: the host an
// emulator's client called, so that the URL reaches the emulator from where
// the client is. Only presigning against a custom endpoint honours it.
func WithEndpoint(ctx context.Context, base string) context.Context {
	return context.WithValue(ctx, endpointKey{}, strings.TrimSuffix(base, "/"))
}

// endpointFor is ctx's endpoint (WithEndpoint), else the client's.
func (p *SDKPresigner) endpointFor(ctx context.Context) string {
	if base, ok := ctx.Value(endpointKey{}).(string); ok && base != "" {
		return base
	}
	return p.endpoint
}

func withoutHost(in http.Header) http.Header {
	h := http.Header{}
	for k, vs := range in {
		if http.CanonicalHeaderKey(k) == "Host" {
			continue
		}
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	return h
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
