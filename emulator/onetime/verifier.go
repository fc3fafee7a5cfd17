package onetime

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Decision is one verifier verdict on one event record.
type Decision struct {
	Key        string    `json:"key"`
	Bucket     string    `json:"bucket"`
	Decision   string    `json:"decision"` // "accepted" or "rejected"
	Reason     Reason    `json:"reason"`
	Detail     string    `json:"detail,omitempty"`
	ETag       string    `json:"eTag"`
	VersionID  string    `json:"versionId"`
	Sequencer  string    `json:"sequencer"`
	Size       int64     `json:"size"`
	EventName  string    `json:"eventName"`
	EventTime  time.Time `json:"eventTime"`
	Time       time.Time `json:"time"`
	Strategy   string    `json:"strategy"`
	Redelivery bool      `json:"redelivery,omitempty"`
	// Retryable marks a fail-closed rejection after an infrastructure error;
	// the invoker retries the event, so a later decision may follow.
	Retryable bool `json:"retryable,omitempty"`
}

// Decision values.
const (
	Accepted = "accepted"
	Rejected = "rejected"
)

// Verifier is the S3-notification handler: it runs the guard on each
// ObjectCreated record and moves accepted uploads to accepted/.
type Verifier struct {
	Strategy Strategy
	Objects  Objects
	Clock    Clock
	Prefix   string // DefaultPrefix when empty
	// AcceptedPrefix is where accepted uploads are copied; AcceptedPrefix
	// (the package constant) when empty.
	AcceptedPrefix string
	// Record, when set, is called with every decision.
	Record func(Decision)
	// KeepRejected leaves rejected uploads in place, as the reference does;
	// by default they are deleted (only the rejected version or ETag).
	KeepRejected bool
}

// Handle is a Lambda handler for S3 events. It returns an error when a
// record could not be decided for an infrastructure reason, so that the
// invoker retries; the record was then rejected (fail closed).
func (v *Verifier) Handle(ctx context.Context, ev events.S3Event) error {
	var errs []error
	for _, rec := range ev.Records {
		if err := v.handleRecord(ctx, rec); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (v *Verifier) handleRecord(ctx context.Context, rec events.S3EventRecord) error {
	prefix := v.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	key := rec.S3.Object.URLDecodedKey
	if key == "" {
		k, err := url.QueryUnescape(rec.S3.Object.Key)
		if err != nil {
			return fmt.Errorf("event key %q: %w", rec.S3.Object.Key, err)
		}
		key = k
	}
	u := Upload{
		Bucket: rec.S3.Bucket.Name, Key: key, Size: rec.S3.Object.Size,
		ETag: strings.Trim(rec.S3.Object.ETag, `"`), VersionID: rec.S3.Object.VersionID,
		Sequencer: rec.S3.Object.Sequencer, EventName: rec.EventName, EventTime: rec.EventTime,
	}
	d := Decision{Key: key, Bucket: u.Bucket, ETag: u.ETag, VersionID: u.VersionID, Sequencer: u.Sequencer,
		Size: u.Size, EventName: u.EventName, EventTime: u.EventTime, Strategy: v.Strategy.Name()}
	if !strings.HasPrefix(rec.EventName, "ObjectCreated:") || !strings.HasPrefix(key, prefix) {
		// The notification filter is ObjectCreated on uploads/; anything
		// else is not ours to judge and is ignored without a decision.
		return nil
	}

	verdict, err := v.Strategy.Claim(ctx, u)
	if err != nil {
		v.record(d, Rejected, ReasonInfrastructure, err.Error(), true)
		return fmt.Errorf("claim %s: %w", key, err)
	}
	d.Redelivery = verdict.Redelivery
	if !verdict.Accept {
		detail := ""
		if !v.KeepRejected {
			detail = v.removeRejected(ctx, u)
		}
		v.record(d, Rejected, verdict.Reason, detail, false)
		return nil
	}

	if err := v.accept(ctx, u, verdict); err != nil {
		if errors.Is(err, ErrPreconditionFailed) {
			// The bytes this event announced were replaced before the copy;
			// accepting the newer bytes would accept the wrong upload.
			v.record(d, Rejected, ReasonOverwritten, err.Error(), false)
			return nil
		}
		v.record(d, Rejected, ReasonInfrastructure, err.Error(), true)
		return fmt.Errorf("accept %s: %w", key, err)
	}
	v.record(d, Accepted, verdict.Reason, "", false)
	return nil
}

// removeRejected deletes a rejected upload when that cannot hurt a winner.
// A version is always safe to delete. In an unversioned bucket every write
// of a URL shares one object, and duplicates often carry the same bytes and
// so the same ETag: deleting before the winner's copy exists would take the
// winner's object away. Then the upload is left for the winner's accept,
// which deletes it after copying. It returns a note for the decision.
func (v *Verifier) removeRejected(ctx context.Context, u Upload) string {
	in := DeleteInput{Bucket: u.Bucket, Key: u.Key, VersionID: u.VersionID}
	if u.VersionID == "" {
		if _, err := v.Objects.Head(ctx, u.Bucket, v.acceptedKey(u.Key)); err != nil {
			return "left in place: no accepted copy exists yet, so the object may be the winner's"
		}
		in.IfMatch = u.ETag
	}
	if err := v.Objects.Delete(ctx, in); err != nil && !errors.Is(err, ErrPreconditionFailed) {
		return "delete of the rejected upload failed: " + err.Error()
	}
	return ""
}

func (v *Verifier) acceptedKey(key string) string {
	prefix := v.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	accepted := v.AcceptedPrefix
	if accepted == "" {
		accepted = AcceptedPrefix
	}
	return accepted + strings.TrimPrefix(key, prefix)
}

// accept copies the upload to accepted/<name> and removes it from uploads/.
func (v *Verifier) accept(ctx context.Context, u Upload, verdict Verdict) error {
	dst := v.acceptedKey(u.Key)
	src := CopyInput{Bucket: u.Bucket, SrcKey: u.Key, SrcVersionID: verdict.CopyVersionID, DstKey: dst, IfMatch: verdict.IfMatch}
	err := v.Objects.Copy(ctx, src)
	if errors.Is(err, ErrNoSuchKey) {
		// A redelivery (or a retry after a partial accept) finds the source
		// already moved: done, if accepted/ holds this upload's bytes.
		info, herr := v.Objects.Head(ctx, u.Bucket, dst)
		if herr == nil && (u.ETag == "" || info.ETag == u.ETag) {
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	if verdict.KeepSource {
		return nil
	}
	del := DeleteInput{Bucket: u.Bucket, Key: u.Key}
	if verdict.CopyVersionID == "" {
		del.IfMatch = u.ETag
	}
	if err := v.Objects.Delete(ctx, del); err != nil && !errors.Is(err, ErrPreconditionFailed) {
		return fmt.Errorf("delete %s after copy: %w", u.Key, err)
	}
	return nil
}

func (v *Verifier) record(d Decision, decision string, reason Reason, detail string, retryable bool) {
	d.Decision, d.Reason, d.Detail, d.Retryable = decision, reason, detail, retryable
	d.Time = v.Clock.Now()
	if v.Record != nil {
		v.Record(d)
	}
}
