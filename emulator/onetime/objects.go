package onetime

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithy "github.com/aws/smithy-go"
)

// Objects is what the verifier does to S3 after a verdict.
type Objects interface {
	// Copy copies Bucket/SrcKey (at SrcVersionID when set) to Bucket/DstKey.
	// With IfMatch set it fails with ErrPreconditionFailed unless the source
	// ETag equals it. A missing source is ErrNoSuchKey.
	Copy(ctx context.Context, in CopyInput) error
	// Delete removes Bucket/Key (the version when VersionID is set). With
	// IfMatch set, only an object with that ETag is removed. Deleting what
	// is not there succeeds, as in S3.
	Delete(ctx context.Context, in DeleteInput) error
	// Head returns the current object's ETag and version, or ErrNoSuchKey.
	Head(ctx context.Context, bucket, key string) (ObjectInfo, error)
}

// VersionLister is the optional capability the versioning strategy needs.
type VersionLister interface {
	// Versions returns the versions of exactly key, oldest first, without
	// delete markers.
	Versions(ctx context.Context, bucket, key string) ([]ObjectInfo, error)
}

// CopyInput names a copy.
type CopyInput struct {
	Bucket, SrcKey, SrcVersionID, DstKey, IfMatch string
}

// DeleteInput names a delete.
type DeleteInput struct {
	Bucket, Key, VersionID, IfMatch string
}

// ObjectInfo is what Head and Versions report.
type ObjectInfo struct {
	Key       string
	ETag      string // without quotes
	VersionID string
	Size      int64
}

// Errors that Objects implementations return (wrapped or not).
var (
	ErrNoSuchKey          = errors.New("no such key")
	ErrPreconditionFailed = errors.New("precondition failed")
)

// S3Objects implements Objects and VersionLister with the AWS SDK, for use
// in a real Lambda or against the emulator over HTTP.
type S3Objects struct {
	Client *s3.Client
}

var (
	_ Objects       = S3Objects{}
	_ VersionLister = S3Objects{}
)

// Copy implements Objects.
func (o S3Objects) Copy(ctx context.Context, in CopyInput) error {
	src := in.Bucket + "/" + copySourceKey(in.SrcKey)
	if in.SrcVersionID != "" {
		src += "?versionId=" + url.QueryEscape(in.SrcVersionID)
	}
	input := &s3.CopyObjectInput{Bucket: aws.String(in.Bucket), Key: aws.String(in.DstKey), CopySource: aws.String(src)}
	if in.IfMatch != "" {
		input.CopySourceIfMatch = aws.String(quote(in.IfMatch))
	}
	_, err := o.Client.CopyObject(ctx, input)
	return mapS3Error(err)
}

// Delete implements Objects.
func (o S3Objects) Delete(ctx context.Context, in DeleteInput) error {
	input := &s3.DeleteObjectInput{Bucket: aws.String(in.Bucket), Key: aws.String(in.Key)}
	if in.VersionID != "" {
		input.VersionId = aws.String(in.VersionID)
	}
	if in.IfMatch != "" {
		input.IfMatch = aws.String(quote(in.IfMatch))
	}
	_, err := o.Client.DeleteObject(ctx, input)
	err = mapS3Error(err)
	if errors.Is(err, ErrNoSuchKey) {
		return nil
	}
	return err
}

// Head implements Objects.
func (o S3Objects) Head(ctx context.Context, bucket, key string) (ObjectInfo, error) {
	out, err := o.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return ObjectInfo{}, mapS3Error(err)
	}
	return ObjectInfo{Key: key, ETag: strings.Trim(aws.ToString(out.ETag), `"`),
		VersionID: aws.ToString(out.VersionId), Size: aws.ToInt64(out.ContentLength)}, nil
}

// Versions implements VersionLister.
func (o S3Objects) Versions(ctx context.Context, bucket, key string) ([]ObjectInfo, error) {
	var out []ObjectInfo
	p := s3.NewListObjectVersionsPaginator(o.Client, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(key)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, mapS3Error(err)
		}
		for _, v := range page.Versions {
			if aws.ToString(v.Key) != key {
				continue
			}
			out = append(out, ObjectInfo{Key: key, ETag: strings.Trim(aws.ToString(v.ETag), `"`),
				VersionID: aws.ToString(v.VersionId), Size: aws.ToInt64(v.Size)})
		}
	}
	// S3 lists the newest first.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

func mapS3Error(err error) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchVersion":
			return errors.Join(ErrNoSuchKey, err)
		case "PreconditionFailed":
			return errors.Join(ErrPreconditionFailed, err)
		}
	}
	return err
}

func escapeKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// copySourceKey escapes a key for x-amz-copy-source. S3 and botocore read
// the header with query unescaping, where "+" is a space, so unlike a URL
// path it must encode "+" (and every other reserved character).
func copySourceKey(key string) string {
	parts := strings.Split(key, "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(url.QueryEscape(p), "+", "%20")
	}
	return strings.Join(parts, "/")
}

func quote(etag string) string {
	if strings.HasPrefix(etag, `"`) {
		return etag
	}
	return `"` + etag + `"`
}
