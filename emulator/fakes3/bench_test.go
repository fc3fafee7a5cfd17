package fakes3_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/uploadonce/uploadonce/emulator/fakes3"
)

// BenchmarkPresignedPut1KiB serves a presigned PUT of 1 KiB, with no
// checksum, through the handler: the load generator's write.
func BenchmarkPresignedPut1KiB(b *testing.B) {
	srv := fakes3.New(fakes3.Config{})
	if err := srv.CreateBucket(bucket, false); err != nil {
		b.Fatal(err)
	}
	client := s3.New(s3.Options{Region: fakes3.DefaultRegion, BaseEndpoint: aws.String("http://s3.local"), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(fakes3.DefaultAccessKeyID, fakes3.DefaultSecretAccessKey, "")})
	out, err := s3.NewPresignClient(client).PresignPutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("bench")})
	if err != nil {
		b.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPut, out.URL, bytes.NewReader(body))
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("PUT = %d %s", w.Code, w.Body)
		}
	}
}
