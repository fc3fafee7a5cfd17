package fakes3

import (
	"encoding/base64"
	"encoding/binary"

	"github.com/minio/crc64nvme"
)

// S3's default checksum runs on every write; github.com/minio/crc64nvme
// computes it with tables made once (and SIMD where the CPU has it), where
// hash/crc64 takes a byte at a time for a polynomial other than ISO's or
// ECMA's.

// crc64NVMESum is body's CRC64NVME.
func crc64NVMESum(body []byte) uint64 { return crc64nvme.Checksum(body) }

// crc64NVMEBase64 is body's CRC64NVME as S3 sends it: big-endian, base64.
func crc64NVMEBase64(body []byte) string {
	var raw [8]byte
	binary.BigEndian.PutUint64(raw[:], crc64NVMESum(body))
	var out [12]byte
	base64.StdEncoding.Encode(out[:], raw[:])
	return string(out[:])
}
