package cluster

import (
	"encoding/binary"
	"math/bits"
)

// rendezvous is pymemcache's RendezvousHash (highest random weight): every
// node scores murmur3_32("<node>-<key>", seed 0) and the highest wins; on a
// tie the greater node name wins, whatever the node order.
//
// pymemcache hashes the characters of a Python str, each taken as one byte;
// for ASCII keys (pymemcache refuses others unless allow_unicode_keys is
// set) that is murmur3 of the key's bytes, which is what this computes.
type rendezvous struct {
	names []string // pymemcache node keys, "host:port"
}

func newRendezvous(nodes []Node) *rendezvous {
	r := &rendezvous{names: make([]string, len(nodes))}
	for i, n := range nodes {
		r.names[i] = n.pyName() + "-"
	}
	return r
}

func (r *rendezvous) pick(key string) int {
	best, bestScore := 0, uint32(0)
	for i, name := range r.names {
		score := murmur3Strings(name, key)
		if i == 0 || score > bestScore || (score == bestScore && name > r.names[best]) {
			best, bestScore = i, score
		}
	}
	return best
}

// murmur3Strings is MurmurHash3 x86_32 with seed 0 of a+b, without
// joining them.
func murmur3Strings(a, b string) uint32 {
	const (
		c1 = 0xcc9e2d51
		c2 = 0x1b873593
	)
	var h, k uint32
	var block [4]byte
	n := 0 // bytes in block
	for _, s := range [2]string{a, b} {
		for i := 0; i < len(s); i++ {
			block[n] = s[i]
			n++
			if n < 4 {
				continue
			}
			k = binary.LittleEndian.Uint32(block[:])
			k *= c1
			k = bits.RotateLeft32(k, 15)
			k *= c2
			h ^= k
			h = bits.RotateLeft32(h, 13)
			h = h*5 + 0xe6546b64
			n = 0
		}
	}
	k = 0
	switch n {
	case 3:
		k ^= uint32(block[2]) << 16
		fallthrough
	case 2:
		k ^= uint32(block[1]) << 8
		fallthrough
	case 1:
		k ^= uint32(block[0])
		k *= c1
		k = bits.RotateLeft32(k, 15)
		k *= c2
		h ^= k
	}
	h ^= uint32(len(a) + len(b))
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}
