package scenario

import (
	"github.com/uploadonce/uploadonce/loadtest/expect"
	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// Scenario is a decoded scenario file. Field comments give the YAML name;
// the package documentation has the whole schema with defaults.
type Scenario struct {
	Name      string  `yaml:"name"`
	Seed      *uint64 `yaml:"seed"`
	Clock     string  `yaml:"clock"`
	Memcached string  `yaml:"memcached"`
	// MemcachedMemoryMB is memcached's -m (the embedded server's byte
	// limit); 0 keeps memcached.DefaultMemoryMB.
	MemcachedMemoryMB int      `yaml:"memcached_memory_mb"`
	Method            string   `yaml:"method"`
	URLExpiry         Duration `yaml:"url_expiry"`
	TokenTTL          Duration `yaml:"token_ttl"`
	KeepRejected      bool     `yaml:"keep_rejected"`
	// Strategy and Strategies are exclusive; neither means DefaultStrategy.
	Strategy   string   `yaml:"strategy"`
	Strategies []string `yaml:"strategies"`
	Events     Events   `yaml:"events"`
	Lambda     Lambda   `yaml:"lambda"`
	// Functions run the verifier and issuer as function processes over
	// the Lambda Runtime API instead of in process.
	Functions   Functions     `yaml:"functions"`
	Concurrency int           `yaml:"concurrency"`
	Rate        float64       `yaml:"rate"`
	Timeout     Duration      `yaml:"timeout"`
	Groups      []Group       `yaml:"groups"`
	Faults      []Fault       `yaml:"faults"`
	Expect      expect.Expect `yaml:"expect"`

	// MemcachedHashing is the clients' key placement (cluster.Hashing);
	// VerifierMemcachedHashing the verifier's when it differs.
	MemcachedHashing         string `yaml:"memcached_hashing"`
	VerifierMemcachedHashing string `yaml:"verifier_memcached_hashing"`

	// file names the source in errors; pos maps field paths to where their
	// values are written; flags maps fields set by a command-line override
	// to the flag that set them.
	file  string
	pos   map[string]position
	flags map[string]string
}

// Defaults of optional fields: the same as every command's (package plan).
const (
	DefaultStrategy    = plan.DefaultStrategy
	DefaultClock       = string(plan.ClockVirtual)
	DefaultConcurrency = plan.DefaultConcurrency
	DefaultTimeout     = plan.DefaultTimeout
	DefaultSeed        = plan.DefaultSeed
	DefaultTokens      = 1
	DefaultSize        = plan.DefaultBodySize
)

// Limits checked by Validate and Load.
const (
	MaxTokens          = 2_000_000
	MaxUploadsPerToken = 1000
	MaxBodyBytes       = 64 << 20
	MaxTotalBodyBytes  = 2 << 30
	MaxConcurrency     = 4096
	MaxFileBytes       = 1 << 20
)

// Events is the S3 event delivery model.
type Events struct {
	Delay      string   `yaml:"delay"` // s3event.ParseDelay syntax
	Duplicates float64  `yaml:"duplicates"`
	Reorder    Duration `yaml:"reorder"`
	Coalesce   bool     `yaml:"coalesce"`
	MaxAge     Duration `yaml:"max_age"`
}

// Lambda is the verifier's invoker.
type Lambda struct {
	Concurrency int     `yaml:"concurrency"` // 0 = the invoker's default
	Retries     *int    `yaml:"retries"`     // nil = the invoker's default
	ErrorRate   float64 `yaml:"error_rate"`
}

// Functions are the function processes (DESIGN §4, "Functions").
type Functions struct {
	Verify  string            `yaml:"verify"` // command line, split like a shell's
	Issue   string            `yaml:"issue"`
	Env     map[string]string `yaml:"env"`
	Timeout Duration          `yaml:"timeout"` // 0 or absent: 10s
}

// Group is a set of tokens that receive the same uploads.
type Group struct {
	Name    string   `yaml:"name"`
	Tokens  *int     `yaml:"tokens"` // nil = DefaultTokens
	Uploads []Upload `yaml:"uploads"`
}

// TokenCount is the number of tokens the group issues.
func (g Group) TokenCount() int {
	if g.Tokens == nil {
		return DefaultTokens
	}
	return *g.Tokens
}

// Upload is one upload of each token of a group. At and AfterPrevious are
// exclusive; neither means at 0s.
type Upload struct {
	At            *Duration `yaml:"at"`
	AfterPrevious *Duration `yaml:"after_previous"`
	Method        string    `yaml:"method"`
	Size          *int      `yaml:"size"`
	Content       string    `yaml:"content"`
}

// Fault is an injected failure; Kind is one of the plan.Fault kinds.
type Fault struct {
	Kind     string   `yaml:"kind"`
	At       Duration `yaml:"at"`
	Duration Duration `yaml:"duration"`
	Value    int64    `yaml:"value"`
}

// File returns the name the scenario was loaded from.
func (s *Scenario) File() string { return s.file }

// StrategyNames returns the strategies the scenario runs, in file order.
func (s *Scenario) StrategyNames() []string {
	switch {
	case len(s.Strategies) > 0:
		return append([]string(nil), s.Strategies...)
	case s.Strategy != "":
		return []string{s.Strategy}
	}
	return []string{DefaultStrategy}
}
