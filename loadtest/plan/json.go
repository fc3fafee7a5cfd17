package plan

import (
	"cmp"
	"encoding/json"
	"time"

	"github.com/uploadonce/uploadonce/emulator/memcached/cluster"
)

// The JSON form of a plan, as reports carry it: snake_case names, as the
// scenario files use, and durations as text ("30s"), not nanoseconds.

type planJSON struct {
	Name        string      `json:"name"`
	Seed        uint64      `json:"seed"`
	Stack       stackJSON   `json:"stack"`
	Groups      []groupJSON `json:"groups"`
	Concurrency int         `json:"concurrency"`
	Rate        float64     `json:"rate"`
	Window      int         `json:"window"`
	Faults      []faultJSON `json:"faults"`
	Timeout     string      `json:"timeout"`
}

type stackJSON struct {
	Strategy          string  `json:"strategy"`
	Memcached         string  `json:"memcached"`
	MemcachedMemoryMB int     `json:"memcached_memory_mb"`
	Clock             string  `json:"clock"`
	Method            string  `json:"method"`
	URLExpiry         string  `json:"url_expiry"`
	TokenTTL          string  `json:"token_ttl"`
	KeepRejected      bool    `json:"keep_rejected"`
	EventDelay        string  `json:"event_delay"`
	EventDuplicates   float64 `json:"event_duplicates"`
	EventReorder      string  `json:"event_reorder"`
	EventCoalesce     bool    `json:"event_coalesce"`
	MaxEventAge       string  `json:"max_event_age"`
	LambdaConcurrency int     `json:"lambda_concurrency"`
	LambdaRetries     int     `json:"lambda_retries"`
	LambdaErrorRate   float64 `json:"lambda_error_rate"`

	MemcachedHashing         string `json:"memcached_hashing"`
	VerifierMemcachedHashing string `json:"verifier_memcached_hashing,omitempty"`
}

type groupJSON struct {
	Name    string       `json:"name"`
	Tokens  int          `json:"tokens"`
	Uploads []uploadJSON `json:"uploads"`
}

type uploadJSON struct {
	At            string `json:"at"`
	AfterPrevious bool   `json:"after_previous,omitempty"`
	Method        string `json:"method,omitempty"`
	Size          int    `json:"size"`
	Content       string `json:"content"`
}

type faultJSON struct {
	Kind     string `json:"kind"`
	At       string `json:"at"`
	Duration string `json:"duration,omitempty"`
	Value    int64  `json:"value,omitempty"`
}

func dur(d time.Duration) string { return d.String() }

// MarshalJSON writes the plan as reports carry it.
func (p Plan) MarshalJSON() ([]byte, error) {
	out := planJSON{Name: p.Name, Seed: p.Seed, Stack: p.Stack.json(), Concurrency: p.Concurrency, Rate: p.Rate,
		Window: p.Window, Timeout: dur(p.Timeout), Groups: []groupJSON{}, Faults: []faultJSON{}}
	for _, g := range p.Groups {
		gj := groupJSON{Name: g.Name, Tokens: g.Tokens, Uploads: []uploadJSON{}}
		for _, u := range g.Uploads {
			gj.Uploads = append(gj.Uploads, uploadJSON{At: dur(u.At), AfterPrevious: u.AfterPrevious, Method: string(u.Method),
				Size: u.Size, Content: u.Content})
		}
		out.Groups = append(out.Groups, gj)
	}
	for _, f := range p.Faults {
		fj := faultJSON{Kind: f.Kind, At: dur(f.At), Value: f.Value}
		if f.Duration > 0 {
			fj.Duration = dur(f.Duration)
		}
		out.Faults = append(out.Faults, fj)
	}
	return json.Marshal(out)
}

func (s Stack) json() stackJSON {
	method, _ := s.UploadMethod()
	delay := "0"
	if s.Delivery.Delay != nil {
		delay = s.Delivery.Delay.String()
	}
	out := stackJSON{Strategy: s.Strategy, Memcached: s.Memcached.String(), MemcachedMemoryMB: s.MemcachedMemoryMB,
		Clock: string(s.Clock), Method: string(method), URLExpiry: dur(s.URLExpiry), TokenTTL: dur(s.TokenTTL),
		KeepRejected: s.KeepRejected, EventDelay: delay, EventDuplicates: s.Delivery.Duplicates,
		EventReorder: dur(s.Delivery.ReorderWindow), EventCoalesce: s.Delivery.Coalesce, MaxEventAge: dur(s.MaxEventAge),
		LambdaConcurrency: s.LambdaConcurrency, LambdaRetries: s.LambdaRetries, LambdaErrorRate: s.LambdaErrorRate}
	out.MemcachedHashing = string(cmp.Or(s.MemcachedHashing, cluster.DefaultHashing))
	if s.VerifierMemcachedHashing != "" && s.VerifierMemcachedHashing != s.MemcachedHashing {
		out.VerifierMemcachedHashing = string(s.VerifierMemcachedHashing)
	}
	return out
}
