package cost

import (
	"bytes"
	_ "embed" // the default price table
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

//go:embed prices.yaml
var defaultPrices []byte

// DefaultSource names the embedded table in reports and errors.
const DefaultSource = "prices.yaml (embedded)"

// maxFileBytes bounds a price file.
const maxFileBytes = 1 << 20

// Price is one line of the table: USD buys Per units of Unit.
type Price struct {
	USD    float64 `yaml:"usd" json:"usd"`
	Per    float64 `yaml:"per" json:"per"`
	Unit   string  `yaml:"unit" json:"unit"`
	Source string  `yaml:"source" json:"source"` // the AWS pricing page
	AsOf   string  `yaml:"as_of" json:"as_of"`   // YYYY-MM-DD the price was read
}

// Each is the price of one unit.
func (p Price) Each() float64 { return p.USD / p.Per }

// Table is the price table. Decode it with Decode or Load; Default is the
// embedded one.
type Table struct {
	Region      string      `yaml:"region" json:"region"`
	DynamoDB    DynamoDB    `yaml:"dynamodb" json:"dynamodb"`
	ElastiCache ElastiCache `yaml:"elasticache" json:"elasticache"`
	S3          S3          `yaml:"s3" json:"s3"`
	Lambda      Lambda      `yaml:"lambda" json:"lambda"`
	APIGateway  APIGateway  `yaml:"api_gateway" json:"api_gateway"`

	// File is where the table came from (a path, or DefaultSource).
	File string `yaml:"-" json:"file"`
	// lines maps a dotted field path (s3.get.usd) to its line in File.
	lines map[string]int
}

// DynamoDB is on-demand capacity.
type DynamoDB struct {
	WriteRequestUnit Price `yaml:"write_request_unit" json:"write_request_unit"`
	ReadRequestUnit  Price `yaml:"read_request_unit" json:"read_request_unit"`
}

// ElastiCache is node-hours by node type, and serverless memcached.
type ElastiCache struct {
	Nodes      map[string]Price    `yaml:"nodes" json:"nodes"`
	Serverless ServerlessMemcached `yaml:"serverless_memcached" json:"serverless_memcached"`
}

// ServerlessMemcached is ElastiCache Serverless for memcached.
type ServerlessMemcached struct {
	// MinimumGB is the least data storage billed, whatever is stored.
	MinimumGB float64 `yaml:"minimum_gb" json:"minimum_gb"`
	Storage   Price   `yaml:"storage" json:"storage"` // per GB-hour
	ECPU      Price   `yaml:"ecpu" json:"ecpu"`
}

// S3 is S3 Standard requests.
type S3 struct {
	PutCopyPostList Price `yaml:"put_copy_post_list" json:"put_copy_post_list"`
	// Get also prices HEAD and every request S3 lists as "other".
	Get    Price `yaml:"get" json:"get"`
	Delete Price `yaml:"delete" json:"delete"`
}

// Lambda is requests and compute (GB-seconds).
type Lambda struct {
	Requests Price `yaml:"requests" json:"requests"`
	Compute  Price `yaml:"compute" json:"compute"`
}

// APIGateway is REST and HTTP API requests.
type APIGateway struct {
	REST Price `yaml:"rest" json:"rest"`
	HTTP Price `yaml:"http" json:"http"`
}

// Error is a problem in a price file, at the line its value is on.
type Error struct {
	File  string
	Line  int    // 1-based; 0 when the field is not in the file
	Field string // dotted path, e.g. s3.get.usd
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

var defaultTable = sync.OnceValues(func() (*Table, error) { return Decode(DefaultSource, defaultPrices) })

// Default returns the embedded table. It panics if that table is invalid,
// which TestDefaultTable rules out; callers must not modify it.
func Default() *Table {
	t, err := defaultTable()
	if err != nil {
		panic("cost: embedded price table: " + err.Error())
	}
	return t
}

// Load reads, decodes and validates the price file at path.
func Load(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	if len(data) > maxFileBytes {
		return nil, &Error{File: path, Msg: fmt.Sprintf("file is larger than %d bytes", maxFileBytes)}
	}
	return Decode(path, data)
}

// Decode decodes one price table strictly (an unknown field is an error)
// and validates it; name is used in errors.
func Decode(name string, data []byte) (t *Table, err error) {
	// Third-party parser, untrusted input: a panic in it is bad input.
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, &Error{File: name, Msg: fmt.Sprintf("YAML parser failed: %v", r)}
		}
	}()
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlError(name, err)
	}
	if len(file.Docs) != 1 || file.Docs[0].Body == nil {
		return nil, &Error{File: name, Msg: "want exactly one YAML document, a mapping (region:, dynamodb:, ...)"}
	}
	body := file.Docs[0].Body
	if _, ok := body.(*ast.MappingNode); !ok {
		e := &Error{File: name, Msg: "a price table is a mapping (region:, dynamodb:, ...)"}
		if tk := body.GetToken(); tk != nil {
			e.Line = tk.Position.Line
		}
		return nil, e
	}
	t = &Table{File: name, lines: map[string]int{}}
	indexLines(body, "", t.lines)
	dec := yaml.NewDecoder(bytes.NewReader(nil), yaml.DisallowUnknownField())
	if err := dec.DecodeFromNode(body, t); err != nil {
		return nil, yamlError(name, err)
	}
	if err := t.Validate(); err != nil {
		return nil, err
	}
	return t, nil
}

func yamlError(file string, err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		e := &Error{File: file, Msg: ye.GetMessage()}
		if tk := ye.GetToken(); tk != nil {
			e.Line = tk.Position.Line
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			// The library names the Go struct field, not the YAML one.
			want := te.DstType.String()
			switch te.DstType.Kind() {
			case reflect.Float64:
				want = "a number"
			case reflect.String:
				want = "a string"
			case reflect.Map, reflect.Struct:
				want = "a mapping"
			}
			e.Msg = "wrong type: want " + want
		}
		return e
	}
	return &Error{File: file, Msg: err.Error()}
}

// indexLines records the line of every mapping key under n, by dotted path.
func indexLines(n ast.Node, prefix string, lines map[string]int) {
	m, ok := n.(*ast.MappingNode)
	if !ok {
		return
	}
	for _, kv := range m.Values {
		key := kv.Key.String()
		if s, ok := kv.Key.(*ast.StringNode); ok {
			key = s.Value
		}
		path := key
		if prefix != "" {
			path = prefix + "." + key
		}
		if tk := kv.Key.GetToken(); tk != nil {
			lines[path] = tk.Position.Line
		}
		indexLines(kv.Value, path, lines)
	}
}

// line returns the line of path, or of its nearest ancestor in the file.
func (t *Table) line(path string) int {
	for p := path; p != ""; {
		if l, ok := t.lines[p]; ok {
			return l
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

func (t *Table) errorf(path, format string, args ...any) error {
	return &Error{File: t.File, Line: t.line(path), Field: path, Msg: fmt.Sprintf(format, args...)}
}

// Prices lists every price with its dotted path, in file order (node types
// sorted).
func (t *Table) Prices() []NamedPrice {
	out := []NamedPrice{
		{"dynamodb.write_request_unit", t.DynamoDB.WriteRequestUnit},
		{"dynamodb.read_request_unit", t.DynamoDB.ReadRequestUnit},
	}
	names := make([]string, 0, len(t.ElastiCache.Nodes))
	for n := range t.ElastiCache.Nodes {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		out = append(out, NamedPrice{"elasticache.nodes." + n, t.ElastiCache.Nodes[n]})
	}
	return append(out,
		NamedPrice{"elasticache.serverless_memcached.storage", t.ElastiCache.Serverless.Storage},
		NamedPrice{"elasticache.serverless_memcached.ecpu", t.ElastiCache.Serverless.ECPU},
		NamedPrice{"s3.put_copy_post_list", t.S3.PutCopyPostList},
		NamedPrice{"s3.get", t.S3.Get},
		NamedPrice{"s3.delete", t.S3.Delete},
		NamedPrice{"lambda.requests", t.Lambda.Requests},
		NamedPrice{"lambda.compute", t.Lambda.Compute},
		NamedPrice{"api_gateway.rest", t.APIGateway.REST},
		NamedPrice{"api_gateway.http", t.APIGateway.HTTP},
	)
}

// NamedPrice is a price and its dotted path in the table.
type NamedPrice struct {
	Path  string
	Price Price
}

// Validate checks that every price is present, non-negative, and names its
// source page and date.
func (t *Table) Validate() error {
	if t.Region == "" {
		return t.errorf("region", "missing: name the AWS region the prices are for")
	}
	if len(t.ElastiCache.Nodes) == 0 {
		return t.errorf("elasticache.nodes", "missing: list at least one node type with its node-hour price")
	}
	if ms := t.ElastiCache.Serverless.MinimumGB; ms < 0 || math.IsNaN(ms) || math.IsInf(ms, 0) {
		return t.errorf("elasticache.serverless_memcached.minimum_gb", "%v: want a non-negative number", ms)
	}
	for _, np := range t.Prices() {
		if err := t.validatePrice(np.Path, np.Price); err != nil {
			return err
		}
	}
	return nil
}

func (t *Table) validatePrice(path string, p Price) error {
	if _, ok := t.lines[path]; !ok && t.lines != nil {
		return t.errorf(path, "missing: want usd, per, unit, source and as_of")
	}
	switch {
	case p.USD < 0 || math.IsNaN(p.USD) || math.IsInf(p.USD, 0):
		return t.errorf(path+".usd", "%v: want a non-negative price", p.USD)
	case !(p.Per > 0) || math.IsInf(p.Per, 0):
		return t.errorf(path+".per", "%v: want the positive number of units the price buys (1000000 for per million)", p.Per)
	case p.Unit == "":
		return t.errorf(path+".unit", "missing: say what is counted (request, node-hour, GB-second, ...)")
	case p.Source == "":
		return t.errorf(path+".source", "missing: give the URL of the AWS pricing page")
	}
	if u, err := url.Parse(p.Source); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return t.errorf(path+".source", "%q: want the http(s) URL of the AWS pricing page", p.Source)
	}
	if p.AsOf == "" {
		return t.errorf(path+".as_of", "missing: give the date the price was read (YYYY-MM-DD)")
	}
	if _, err := time.Parse(time.DateOnly, p.AsOf); err != nil {
		return t.errorf(path+".as_of", "%q: want a date, YYYY-MM-DD", p.AsOf)
	}
	return nil
}

// NodeTypes returns the node types the table prices, sorted.
func (t *Table) NodeTypes() []string {
	out := make([]string, 0, len(t.ElastiCache.Nodes))
	for n := range t.ElastiCache.Nodes {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// AsOf returns the oldest and newest as_of dates in the table.
func (t *Table) AsOf() (oldest, newest string) {
	for _, np := range t.Prices() {
		if oldest == "" || np.Price.AsOf < oldest {
			oldest = np.Price.AsOf
		}
		newest = max(newest, np.Price.AsOf)
	}
	return oldest, newest
}
