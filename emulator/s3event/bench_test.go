package s3event

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// BenchmarkRecordEncode builds one record and encodes it as the S3Event a
// Lambda receives.
func BenchmarkRecordEncode(b *testing.B) {
	bld := NewBuilder("us-east-1")
	w := Write{EventName: ObjectCreatedPost, Bucket: "uploadonce", Key: "uploads/UploadFilename-20261125_120000-abcdefghijklmnopqrstuv",
		Size: 1024, ETag: "5d41402abc4b2a76b9719d911017c592", Time: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		rec := bld.Record(w)
		if _, err := json.Marshal(events.S3Event{Records: []events.S3EventRecord{rec}}); err != nil {
			b.Fatal(err)
		}
	}
}
