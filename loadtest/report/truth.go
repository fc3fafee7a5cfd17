package report

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/uploadonce/uploadonce/loadtest/check"
	"github.com/uploadonce/uploadonce/loadtest/history"
)

// Unknown is how the JSON report renders a figure its ground truth cannot
// decide: never 0, which would read as ok.
const Unknown = "unknown"

// applyTruth records the run's ground truth and marks what it cannot
// decide: a violation, a count or the memcached commands per upload.
func (r *Report) applyTruth(gt history.GroundTruth, memcachedUnknown string) {
	r.GroundTruth = history.GroundTruth{Source: cmp.Or(gt.Source, "emulator log"), EventsUnseen: gt.EventsUnseen}
	if len(gt.Unknown) > 0 || memcachedUnknown != "" {
		r.GroundTruth.Unknown = maps.Clone(gt.Unknown)
		if r.GroundTruth.Unknown == nil {
			r.GroundTruth.Unknown = map[string]string{}
		}
	}
	if memcachedUnknown != "" {
		r.GroundTruth.Unknown["ops_per_upload.memcached"] = memcachedUnknown
		r.OpsPerUpload.unknown = r.OpsPerUpload.unknown.add("memcached")
	}
	for _, name := range sortedKeys(gt.Unknown) {
		switch {
		case strings.HasPrefix(name, "ops_per_upload."):
		case name == "linearizable":
			r.Linearizable = check.LinUnknown
		case strings.HasPrefix(name, "counts."):
			r.Counts.unknown = r.Counts.unknown.add(strings.TrimPrefix(name, "counts."))
		default:
			r.Violations.unknown = r.Violations.unknown.add(name)
		}
	}
}

// undecided names the first violation the ground truth cannot decide, with
// why, or "".
func (r *Report) undecided() string {
	for _, name := range r.Violations.unknown.list() {
		return fmt.Sprintf("%s cannot be decided from %s: %s", name, r.GroundTruth.Source, r.GroundTruth.Unknown[name])
	}
	return ""
}

// MarshalJSON renders the violations the ground truth cannot decide as
// "unknown".
func (v Violations) MarshalJSON() ([]byte, error) {
	type plain Violations
	return markUnknown(plain(v), v.unknown.list())
}

// MarshalJSON renders the counts the ground truth cannot decide as
// "unknown".
func (c Counts) MarshalJSON() ([]byte, error) {
	type plain Counts
	return markUnknown(plain(c), c.unknown.list())
}

// MarshalJSON renders memcached commands per upload as "unknown" when the
// run could not count them.
func (o OpsPerUpload) MarshalJSON() ([]byte, error) {
	type plain OpsPerUpload
	return markUnknown(plain(o), o.unknown.list())
}

// markUnknown marshals v with the named fields replaced by "unknown".
func markUnknown(v any, names []string) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(names) == 0 {
		return b, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for _, n := range names {
		if _, ok := m[n]; ok {
			m[n] = json.RawMessage(`"` + Unknown + `"`)
		}
	}
	return json.Marshal(m)
}

// isUnknown reports whether the ground truth cannot decide a violation.
func (v Violations) isUnknown(name string) bool { return slices.Contains(v.unknown.list(), name) }

// names is a comma-separated list, so that the structs holding one stay
// comparable.
type names string

func (n names) add(name string) names {
	if n == "" {
		return names(name)
	}
	return n + "," + names(name)
}

func (n names) list() []string {
	if n == "" {
		return nil
	}
	return strings.Split(string(n), ",")
}

// text renders a violation count, or "unknown".
func (v Violations) text(name string, n int) string {
	if v.isUnknown(name) {
		return Unknown
	}
	return fmt.Sprint(n)
}
