package fakes3

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"hash/crc64"
	"testing"
)

// BenchmarkDefaultChecksum1KiB is what S3's default checksum adds to a
// 1 KiB write: one CRC64NVME over the body, into metadata the write owns.
func BenchmarkDefaultChecksum1KiB(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		meta := map[string]string{"Content-Type": DefaultContentType}
		if _, sum := withDefaultChecksum(meta, body); sum == "" {
			b.Fatal("no checksum")
		}
	}
}

// TestCRC64NVMEAgreesWithHashCRC64: the default checksum's CRC64NVME is
// hash/crc64's with S3's polynomial, at every length around the 8-byte
// steps, and S3's check value for "123456789".
func TestCRC64NVMEAgreesWithHashCRC64(t *testing.T) {
	tab := crc64.MakeTable(0x9a6c9329ac4bc9b5) // CRC-64/NVME, reversed
	body := make([]byte, 4200)
	for i := range body {
		body[i] = byte(i*131 + i>>7)
	}
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 1024, 2047, 2048, 4200} {
		if got, want := crc64NVMESum(body[:n]), crc64.Checksum(body[:n], tab); got != want {
			t.Errorf("length %d: %x, hash/crc64 %x", n, got, want)
		}
	}
	if got := crc64NVMESum([]byte("123456789")); got != 0xae8b14860a799888 {
		t.Errorf("check value %x, want ae8b14860a799888", got)
	}
	var raw [8]byte
	binary.BigEndian.PutUint64(raw[:], crc64.Checksum(body, tab))
	if got, want := crc64NVMEBase64(body), base64.StdEncoding.EncodeToString(raw[:]); got != want {
		t.Errorf("base64 %q, want %q", got, want)
	}
}
