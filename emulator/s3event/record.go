// Package s3event builds S3 event notification records and delivers them
// the way S3 does: at least once, after a delay, in no guaranteed order.
//
// Records are github.com/aws/aws-lambda-go/events types, shaped as S3 sends
// them (eventVersion 2.1, one record per message, form-encoded key).
package s3event

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Event names, without the "s3:" prefix, as they appear in records.
const (
	ObjectCreatedPut                 = "ObjectCreated:Put"
	ObjectCreatedPost                = "ObjectCreated:Post"
	ObjectCreatedCopy                = "ObjectCreated:Copy"
	ObjectCreatedCompleteMultipart   = "ObjectCreated:CompleteMultipartUpload"
	ObjectRemovedDelete              = "ObjectRemoved:Delete"
	ObjectRemovedDeleteMarkerCreated = "ObjectRemoved:DeleteMarkerCreated"
	eventVersion                     = "2.1"
	eventSource                      = "aws:s3"
	schemaVersion                    = "1.0"
	configurationID                  = "uploadonce-verifier"
	sequencerWidth                   = 16
)

// Write describes one committed S3 operation.
type Write struct {
	EventName string
	Bucket    string
	Key       string // as stored, not encoded
	Size      int64
	ETag      string // with or without quotes; records carry none
	VersionID string // only for versioned buckets
	Time      time.Time
	SourceIP  string
	RequestID string
}

// Builder makes records for one region. It hands out sequencers that grow
// for every key (they grow globally, which is stronger).
type Builder struct {
	Region string

	mu  sync.Mutex
	seq uint64
}

// NewBuilder returns a Builder for region (us-east-1 when empty).
func NewBuilder(region string) *Builder {
	if region == "" {
		region = "us-east-1"
	}
	return &Builder{Region: region}
}

// Record returns the event record for w.
func (b *Builder) Record(w Write) events.S3EventRecord {
	b.mu.Lock()
	b.seq++
	seq := b.seq
	b.mu.Unlock()

	ip := w.SourceIP
	if ip == "" {
		ip = "127.0.0.1"
	}
	return events.S3EventRecord{
		EventVersion:      eventVersion,
		EventSource:       eventSource,
		AWSRegion:         b.Region,
		EventTime:         w.Time.UTC(),
		EventName:         w.EventName,
		PrincipalID:       events.S3UserIdentity{PrincipalID: "AWS:UPLOADONCE"},
		RequestParameters: events.S3RequestParameters{SourceIPAddress: ip},
		ResponseElements: map[string]string{
			"x-amz-request-id": w.RequestID,
			"x-amz-id-2":       "uploadonce/" + w.RequestID,
		},
		S3: events.S3Entity{
			SchemaVersion:   schemaVersion,
			ConfigurationID: configurationID,
			Bucket: events.S3Bucket{
				Name:          w.Bucket,
				OwnerIdentity: events.S3UserIdentity{PrincipalID: "UPLOADONCE"},
				Arn:           "arn:aws:s3:::" + w.Bucket,
			},
			Object: events.S3Object{
				Key:           EncodeKey(w.Key),
				URLDecodedKey: w.Key,
				Size:          w.Size,
				ETag:          strings.Trim(w.ETag, `"`),
				VersionID:     w.VersionID,
				Sequencer:     fmt.Sprintf("%0*X", sequencerWidth, seq),
			},
		},
	}
}

// EncodeKey form-encodes a key as S3 does in event records: a space becomes
// "+", and "/" is kept.
func EncodeKey(key string) string {
	return strings.ReplaceAll(url.QueryEscape(key), "%2F", "/")
}

// DecodeKey reverses EncodeKey.
func DecodeKey(key string) (string, error) {
	return url.QueryUnescape(key)
}

// CompareSequencers orders two sequencers of the same key: it right-pads the
// shorter with zeros and compares the strings, as AWS documents. The result
// is meaningless for sequencers of different keys.
func CompareSequencers(a, b string) int {
	a, b = strings.ToUpper(a), strings.ToUpper(b)
	for len(a) < len(b) {
		a += strings.Repeat("0", len(b)-len(a))
	}
	for len(b) < len(a) {
		b += strings.Repeat("0", len(a)-len(b))
	}
	return strings.Compare(a, b)
}

// IsCreated reports whether name is an ObjectCreated event.
func IsCreated(name string) bool { return strings.HasPrefix(name, "ObjectCreated:") }
