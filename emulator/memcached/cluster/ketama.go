package cluster

import (
	"crypto/md5"
	"crypto/sha512"
	"encoding/binary"
	"slices"
	"sort"
	"strconv"
)

// ketamaPointsPerNode is spymemcached's DefaultKetamaNodeLocatorConfiguration
// node repetitions; each digest gives four points.
const ketamaPointsPerNode = 160

// ketama is spymemcached's KetamaNodeLocator with KETAMA_HASH: a ring of
// 160 points per node, a key going to the first point at or after its hash,
// wrapping to the first point.
type ketama struct {
	points []uint32 // ascending, distinct
	owner  []int    // owner[i] is the node index of points[i]
	hash   digestFunc
}

// digestFunc is the locator's message digest: MD5 in spymemcached, SHA-384
// in the AWS client since 1.2.0. Only the first 16 bytes are read.
type digestFunc func(s string) []byte

func md5Digest(s string) []byte {
	d := md5.Sum([]byte(s))
	return d[:]
}

func sha384Digest(s string) []byte {
	d := sha512.Sum384([]byte(s))
	return d[:]
}

func newKetama(nodes []Node, digest digestFunc) *ketama {
	// The locator puts points into a TreeMap node by node, so on a
	// collision the later node keeps the point.
	owner := make(map[uint32]int, len(nodes)*ketamaPointsPerNode)
	for i, n := range nodes {
		name := n.spyName() + "-"
		for rep := 0; rep < ketamaPointsPerNode/4; rep++ {
			d := digest(name + strconv.Itoa(rep))
			for h := 0; h < 4; h++ {
				owner[binary.LittleEndian.Uint32(d[h*4:])] = i
			}
		}
	}
	k := &ketama{points: make([]uint32, 0, len(owner))}
	for p := range owner {
		k.points = append(k.points, p)
	}
	slices.Sort(k.points)
	k.owner = make([]int, len(k.points))
	for i, p := range k.points {
		k.owner[i] = owner[p]
	}
	k.hash = digest
	return k
}

func (k *ketama) pick(key string) int {
	h := binary.LittleEndian.Uint32(k.hash(key))
	i := sort.Search(len(k.points), func(i int) bool { return k.points[i] >= h })
	if i == len(k.points) {
		i = 0
	}
	return k.owner[i]
}
