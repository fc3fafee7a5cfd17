package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/uploadonce/uploadonce/emulator/memcached/cluster"
	"github.com/uploadonce/uploadonce/emulator/onetime"
)

// Environment variables the handlers read (DESIGN §4, "Functions"). The
// reference's names are kept where it has one. deploy/template.yaml sets
// exactly these; a test holds the two lists together.
const (
	EnvHandler           = "_HANDLER"
	EnvBucketName        = "BUCKET_NAME"
	EnvBucketPrefix      = "BUCKET_PREFIX"
	EnvAcceptedPrefix    = "ACCEPTED_PREFIX"
	EnvMemcachedEndpoint = "MEMCACHED_ENDPOINT"
	EnvURLExpiry         = "TIMEOUT_IN_SECONDS"
	EnvTokenTTL          = "TOKEN_TTL_SECONDS"
	EnvStrategy          = "STRATEGY"
	EnvUploadMethod      = "UPLOAD_METHOD"
	EnvDecisionLogPrefix = "DECISION_LOG_PREFIX"
	// EnvMemcachedDiscovery "elasticache" makes MEMCACHED_ENDPOINT a
	// cluster's configuration endpoint: the nodes are read from it at init
	// and again at most every 60 s. Unset or "none": the endpoint lists the
	// nodes.
	EnvMemcachedDiscovery = "MEMCACHED_DISCOVERY"
	// EnvMemcachedHashing is the key placement: modulo (gomemcache's, the
	// default), ketama (the AWS ElastiCache Cluster Client's), ketama-md5
	// (spymemcached's) or rendezvous (pymemcache HashClient's). Every
	// function on one cluster must place keys alike.
	EnvMemcachedHashing = "MEMCACHED_HASHING"
)

// ConfigVars lists the configuration variables, _HANDLER aside (the
// template sets that as the function's Handler, not as a variable).
var ConfigVars = []string{
	EnvBucketName, EnvBucketPrefix, EnvAcceptedPrefix, EnvMemcachedEndpoint, EnvURLExpiry,
	EnvTokenTTL, EnvStrategy, EnvUploadMethod, EnvDecisionLogPrefix, EnvMemcachedDiscovery, EnvMemcachedHashing,
}

// Handler names, as _HANDLER carries them.
const (
	HandlerIssue  = "issue"
	HandlerVerify = "verify"
)

// ConfigError names the variable that made init fail.
type ConfigError struct {
	Var     string
	Value   string
	Problem string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("environment variable %s=%q: %s", e.Var, e.Value, e.Problem)
}

// config is the function's configuration, read once at init.
type config struct {
	Handler           string
	Bucket            string
	Prefix            string
	AcceptedPrefix    string
	MemcachedAddrs    []string // empty for the S3 strategies
	URLExpiry         time.Duration
	TokenTTL          time.Duration
	Strategy          string
	Method            onetime.Method
	DecisionLogPrefix string

	// MemcachedDiscovery and MemcachedHashing say how MemcachedAddrs are
	// read and keys placed.
	MemcachedDiscovery cluster.Discovery
	MemcachedHashing   cluster.Hashing
}

// loadConfig reads the configuration from getenv and checks every value;
// the first bad variable is returned as a *ConfigError.
func loadConfig(getenv func(string) string) (config, error) {
	c := config{
		Handler:           getenv(EnvHandler),
		Bucket:            getenv(EnvBucketName),
		Prefix:            orDefault(getenv(EnvBucketPrefix), onetime.DefaultPrefix),
		AcceptedPrefix:    orDefault(getenv(EnvAcceptedPrefix), onetime.AcceptedPrefix),
		Strategy:          orDefault(getenv(EnvStrategy), onetime.CAS),
		DecisionLogPrefix: getenv(EnvDecisionLogPrefix),
	}
	bad := func(name, problem string) error {
		return &ConfigError{Var: name, Value: getenv(name), Problem: problem}
	}
	if c.Handler != HandlerIssue && c.Handler != HandlerVerify {
		return config{}, bad(EnvHandler, "want issue or verify")
	}
	if c.Bucket == "" {
		return config{}, bad(EnvBucketName, "required")
	}
	if !strings.HasSuffix(c.Prefix, "/") {
		return config{}, bad(EnvBucketPrefix, `must end with "/"`)
	}
	if !strings.HasSuffix(c.AcceptedPrefix, "/") || c.AcceptedPrefix == c.Prefix {
		return config{}, bad(EnvAcceptedPrefix, `must end with "/" and differ from `+EnvBucketPrefix)
	}
	if p := c.DecisionLogPrefix; p != "" && (strings.HasPrefix(p, c.Prefix) || strings.HasPrefix(p, c.AcceptedPrefix)) {
		return config{}, bad(EnvDecisionLogPrefix, "must lie outside "+EnvBucketPrefix+" and "+EnvAcceptedPrefix)
	}
	if _, ok := onetime.LookupStrategy(c.Strategy); !ok {
		return config{}, bad(EnvStrategy, "want one of "+strings.Join(onetime.StrategyNames(), ", "))
	}
	var err error
	if c.URLExpiry, err = seconds(getenv(EnvURLExpiry), onetime.DefaultURLExpiry, 604800); err != nil {
		return config{}, bad(EnvURLExpiry, err.Error())
	}
	if c.TokenTTL, err = seconds(getenv(EnvTokenTTL), onetime.DefaultTokenTTL, 30*24*3600); err != nil {
		return config{}, bad(EnvTokenTTL, err.Error())
	}
	if c.Method, err = uploadMethod(getenv(EnvUploadMethod), c.Strategy); err != nil {
		return config{}, bad(EnvUploadMethod, err.Error())
	}
	if c.MemcachedDiscovery, err = cluster.ParseDiscovery(getenv(EnvMemcachedDiscovery)); err != nil {
		return config{}, bad(EnvMemcachedDiscovery, err.Error())
	}
	if c.MemcachedHashing, err = cluster.ParseHashing(getenv(EnvMemcachedHashing)); err != nil {
		return config{}, bad(EnvMemcachedHashing, err.Error())
	}
	if onetime.UsesMemcached(c.Strategy) {
		if c.MemcachedAddrs, err = addrs(getenv(EnvMemcachedEndpoint)); err != nil {
			return config{}, bad(EnvMemcachedEndpoint, err.Error())
		}
	}
	return c, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// seconds reads a whole number of seconds in 1..limit; empty means def.
func seconds(s string, def time.Duration, limit int64) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > limit {
		return 0, fmt.Errorf("want whole seconds from 1 to %d", limit)
	}
	return time.Duration(n) * time.Second, nil
}

// uploadMethod reads post or put; if-none-match needs put, and is its default.
func uploadMethod(s, strategy string) (onetime.Method, error) {
	var m onetime.Method
	if s != "" {
		var err error
		if m, err = onetime.ParseMethod(s); err != nil {
			return "", err
		}
	}
	return onetime.UploadMethod(strategy, m)
}

// addrs reads HOST:PORT[,HOST:PORT...].
func addrs(s string) ([]string, error) {
	if s == "" {
		return nil, fmt.Errorf("required by the memcached strategies: HOST:PORT[,HOST:PORT...]")
	}
	var out []string
	for _, a := range strings.Split(s, ",") {
		a = strings.TrimSpace(a)
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" {
			return nil, fmt.Errorf("%q is not HOST:PORT", a)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q: port must be 1 to 65535", a)
		}
		out = append(out, a)
	}
	return out, nil
}
