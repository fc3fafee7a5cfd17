package fakes3

import (
	"encoding/base64"
	"encoding/binary"
)

// S3's default checksum runs on every write, so it gets a CRC64NVME of its
// own: hash/crc64 takes a byte at a time for a table other than ISO's or
// ECMA's (below 2 KiB; above, it builds a 16 KiB table per call), and
// s3auth.NewChecksum makes a table per hash. This one is slicing-by-8 on
// tables made once.

// crc64NVMEPoly is the reversed CRC-64/NVME polynomial.
const crc64NVMEPoly = 0x9a6c9329ac4bc9b5

var crc64NVMETables = func() *[8][256]uint64 {
	var t [8][256]uint64
	for i := range t[0] {
		crc := uint64(i)
		for range 8 {
			if crc&1 == 1 {
				crc = crc>>1 ^ crc64NVMEPoly
			} else {
				crc >>= 1
			}
		}
		t[0][i] = crc
	}
	for k := 1; k < 8; k++ {
		for i := range t[k] {
			prev := t[k-1][i]
			t[k][i] = prev>>8 ^ t[0][byte(prev)]
		}
	}
	return &t
}()

// crc64NVMESum is body's CRC64NVME.
func crc64NVMESum(body []byte) uint64 {
	t := crc64NVMETables
	crc := ^uint64(0)
	for len(body) >= 8 {
		crc ^= binary.LittleEndian.Uint64(body)
		crc = t[7][crc&0xff] ^ t[6][crc>>8&0xff] ^ t[5][crc>>16&0xff] ^ t[4][crc>>24&0xff] ^
			t[3][crc>>32&0xff] ^ t[2][crc>>40&0xff] ^ t[1][crc>>48&0xff] ^ t[0][crc>>56]
		body = body[8:]
	}
	for _, v := range body {
		crc = t[0][byte(crc)^v] ^ crc>>8
	}
	return ^crc
}

// crc64NVMEBase64 is body's CRC64NVME as S3 sends it: big-endian, base64.
func crc64NVMEBase64(body []byte) string {
	var raw [8]byte
	binary.BigEndian.PutUint64(raw[:], crc64NVMESum(body))
	var out [12]byte
	base64.StdEncoding.Encode(out[:], raw[:])
	return string(out[:])
}
