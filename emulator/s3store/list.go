package s3store

import (
	"slices"
	"sort"
	"strings"

	"github.com/johannesboyne/gofakes3"
)

// sortedKeys returns the bucket's keys in order, as of some moment during
// the call. The index is rebuilt only when keys appeared or disappeared
// since it was built; a key deleted since is skipped by the caller.
func (b *bucket) sortedKeys() []string {
	b.idxMu.Lock()
	defer b.idxMu.Unlock()
	// Read the counter before walking the map: a key added during the walk
	// moves the counter past this value, so the next call rebuilds.
	at := b.keysChanged.Load()
	if b.idx != nil && at == b.idxAt {
		return b.idx
	}
	keys := make([]string, 0, len(b.idx))
	b.objects.Range(func(k, _ any) bool {
		keys = append(keys, k.(string))
		return true
	})
	slices.Sort(keys)
	b.idx, b.idxAt = keys, at
	return keys
}

// snapshot returns key's versions, oldest first, or nil.
func (b *bucket) snapshot(key string) []*version {
	o := b.load(key)
	if o == nil {
		return nil
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	return slices.Clone(o.versions)
}

// scan walks keys from the first one after marker (all of them when marker
// is empty) that start with p.Prefix, in order. A key below a delimiter is
// reported once for its whole group, as the group's common prefix, with
// the group's keys; visit returns false to stop.
func scan(keys []string, marker string, p *gofakes3.Prefix, visit func(commonPrefix string, group []string) bool) {
	prefix, delim := "", ""
	if p != nil && p.HasPrefix {
		prefix = p.Prefix
	}
	if p != nil && p.HasDelimiter {
		delim = p.Delimiter
	}
	i := sort.SearchStrings(keys, prefix)
	if marker != "" {
		j := sort.SearchStrings(keys, marker)
		if j < len(keys) && keys[j] == marker {
			j++
		}
		i = max(i, j)
	}
	for i < len(keys) && strings.HasPrefix(keys[i], prefix) {
		key := keys[i]
		cp := ""
		if delim != "" {
			if d := strings.Index(key[len(prefix):], delim); d >= 0 {
				cp = key[:len(prefix)+d+len(delim)]
			}
		}
		if cp == "" {
			if !visit("", keys[i:i+1]) {
				return
			}
			i++
			continue
		}
		end := i + sort.Search(len(keys)-i, func(n int) bool { return !strings.HasPrefix(keys[i+n], cp) })
		if !visit(cp, keys[i:end]) {
			return
		}
		i = end
	}
}

// live returns key's current version when it is an object, not a marker.
func (b *bucket) live(key string) *version {
	vs := b.snapshot(key)
	if len(vs) == 0 || vs[len(vs)-1].marker {
		return nil
	}
	return vs[len(vs)-1]
}

// ListBucket implements gofakes3.Backend: keys in order, with prefix,
// delimiter and marker. A page that ends on a common prefix has the last
// key below that prefix as its NextMarker, so the next page goes on after
// the whole group.
func (s *Store) ListBucket(name string, p *gofakes3.Prefix, page gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	b, err := s.bucket(name)
	if err != nil {
		return nil, err
	}
	out := gofakes3.NewObjectList()
	var count int64
	marker := ""
	if page.HasMarker {
		marker = page.Marker
	}
	scan(b.sortedKeys(), marker, p, func(cp string, group []string) bool {
		var v *version
		if cp != "" {
			if !slices.ContainsFunc(group, func(k string) bool { return b.live(k) != nil }) {
				return true
			}
		} else if v = b.live(group[0]); v == nil {
			return true
		}
		if page.MaxKeys > 0 && count >= page.MaxKeys {
			out.IsTruncated = true
			return false
		}
		if cp != "" {
			out.AddPrefix(cp)
		} else {
			out.Add(&gofakes3.Content{Key: group[0], LastModified: gofakes3.NewContentTime(v.modified),
				ETag: `"` + v.eTag() + `"`, Size: int64(len(v.body)), StorageClass: gofakes3.StorageStandard})
		}
		count++
		out.NextMarker = group[len(group)-1]
		return true
	})
	if !out.IsTruncated {
		out.NextMarker = ""
	}
	return out, nil
}

// ListBucketVersions implements gofakes3.VersionedBackend: keys in order,
// each key's versions and delete markers newest first. As in S3, a key
// marker alone starts after that key; with a version id marker it starts
// after that version of the key.
func (s *Store) ListBucketVersions(name string, p *gofakes3.Prefix, page *gofakes3.ListBucketVersionsPage) (*gofakes3.ListBucketVersionsResult, error) {
	if page == nil {
		page = &gofakes3.ListBucketVersionsPage{}
	}
	out := gofakes3.NewListBucketVersionsResult(name, p, page)
	b, err := s.bucket(name)
	if err != nil {
		return out, err
	}
	l := versionLister{b: b, out: out, max: page.MaxKeys}
	keys := b.sortedKeys()
	marker := page.KeyMarker
	if page.HasVersionIDMarker && page.VersionIDMarker != "" {
		// Resume inside the marker key, then go on after it.
		if l.key(page.KeyMarker, page.VersionIDMarker) {
			scan(keys, marker, p, l.visit)
		}
	} else {
		scan(keys, marker, p, l.visit)
	}
	if !out.IsTruncated {
		out.NextKeyMarker, out.NextVersionIDMarker = "", ""
	}
	return out, nil
}

type versionLister struct {
	b     *bucket
	out   *gofakes3.ListBucketVersionsResult
	max   int64
	count int64
}

func (l *versionLister) visit(cp string, group []string) bool {
	if cp != "" {
		if l.full() {
			return false
		}
		l.out.AddPrefix(cp)
		l.count++
		l.out.NextKeyMarker, l.out.NextVersionIDMarker = group[len(group)-1], ""
		return true
	}
	return l.key(group[0], "")
}

func (l *versionLister) full() bool {
	if l.max > 0 && l.count >= l.max {
		l.out.IsTruncated = true
		return true
	}
	return false
}

// key lists key's versions newest first, after version after when it is
// set; it returns false when the page is full.
func (l *versionLister) key(key string, after gofakes3.VersionID) bool {
	vs := l.b.snapshot(key)
	i := len(vs) - 1
	if after != "" {
		if after == "null" {
			after = ""
		}
		for i >= 0 && vs[i].id != after {
			i--
		}
		i-- // the marker itself was listed on the previous page
	}
	for ; i >= 0; i-- {
		if l.full() {
			return false
		}
		v := vs[i]
		latest := i == len(vs)-1
		if v.marker {
			l.out.Versions = append(l.out.Versions, &gofakes3.DeleteMarker{Key: key, VersionID: v.id, IsLatest: latest,
				LastModified: gofakes3.NewContentTime(v.modified)})
		} else {
			l.out.Versions = append(l.out.Versions, &gofakes3.Version{Key: key, VersionID: v.id, IsLatest: latest,
				LastModified: gofakes3.NewContentTime(v.modified), Size: int64(len(v.body)),
				ETag: `"` + v.eTag() + `"`, StorageClass: gofakes3.StorageStandard})
		}
		l.count++
		l.out.NextKeyMarker, l.out.NextVersionIDMarker = key, v.id
		if v.id == "" {
			l.out.NextVersionIDMarker = "null"
		}
	}
	return true
}
