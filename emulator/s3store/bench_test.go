package s3store_test

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
)

// BenchmarkVerifierPattern is the emulator's per-upload store work on
// each backend in one run: put 1 KiB to uploads/, copy it to accepted/,
// delete the upload, from parallel goroutines on distinct keys, into a
// bucket that already holds prefill objects (the accepted copies of
// earlier uploads).
func BenchmarkVerifierPattern(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	for _, prefill := range []int{0, 100_000} {
		for _, im := range impls {
			b.Run(fmt.Sprintf("%s/prefill=%d", im.name, prefill), func(b *testing.B) {
				be := im.make(gofakes3.DefaultTimeSource())
				if err := be.CreateBucket(bkt); err != nil {
					b.Fatal(err)
				}
				for i := range prefill {
					if _, err := be.PutObject(bkt, fmt.Sprintf("accepted/old-%d", i), nil, bytes.NewReader(body), int64(len(body)), nil); err != nil {
						b.Fatal(err)
					}
				}
				var next atomic.Int64
				b.SetParallelism(16)
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						name := fmt.Sprintf("UploadFilename-%d", next.Add(1))
						if _, err := be.PutObject(bkt, "uploads/"+name, map[string]string{"Content-Type": "text/plain"}, bytes.NewReader(body), int64(len(body)), nil); err != nil {
							b.Error(err)
							return
						}
						if _, err := be.CopyObject(bkt, "uploads/"+name, bkt, "accepted/"+name, nil); err != nil {
							b.Error(err)
							return
						}
						if _, err := be.DeleteObject(bkt, "uploads/"+name); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "uploads/s")
			})
		}
	}
}
