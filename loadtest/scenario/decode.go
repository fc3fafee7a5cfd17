package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/uploadonce/uploadonce/loadtest/expect"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// Error is a problem in a scenario, at the place its value came from.
type Error struct {
	File   string
	Line   int    // 1-based; 0 when the field is not in the file
	Column int    // 1-based; 0 when unknown
	Field  string // e.g. groups[0].uploads[1].at; "" for the whole file
	Source string // the flag that set the field, when not the file
	Msg    string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Column > 0 {
			fmt.Fprintf(&b, ":%d", e.Column)
		}
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		if e.Source != "" {
			fmt.Fprintf(&b, " (set by %s)", e.Source)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads and decodes the scenario file at path. It does not validate:
// apply overrides, then call Validate.
func Load(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	if len(data) > MaxFileBytes {
		return nil, &Error{File: path, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileBytes)}
	}
	return Decode(path, data)
}

// Decode decodes one scenario document strictly; name is used in errors
// and, without directory and extension, as the default scenario name.
func Decode(name string, data []byte) (s *Scenario, err error) {
	// The YAML library is third-party code fed untrusted input; a panic in
	// it must still reach the caller as bad input, not crash the run.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, &Error{File: name, Msg: fmt.Sprintf("YAML parser failed: %v", r)}
		}
	}()
	if len(data) > MaxFileBytes {
		return nil, &Error{File: name, Msg: fmt.Sprintf("file is larger than %d bytes", MaxFileBytes)}
	}
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, yamlError(name, err, nil)
	}
	var docs []*ast.DocumentNode
	for _, d := range file.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d)
		}
	}
	switch {
	case len(docs) == 0:
		return nil, &Error{File: name, Msg: "empty scenario: want a mapping with at least groups"}
	case len(docs) > 1:
		tk := docs[1].Start
		if tk == nil {
			tk = docs[1].Body.GetToken()
		}
		e := &Error{File: name, Msg: "more than one YAML document; put each scenario in its own file"}
		if tk != nil {
			e.Line, e.Column = tk.Position.Line, tk.Position.Column
		}
		return nil, e
	}
	body := docs[0].Body
	if _, ok := body.(*ast.MappingNode); !ok {
		tk := body.GetToken()
		e := &Error{File: name, Msg: "a scenario is a mapping of fields (name:, groups:, expect:, ...)"}
		if tk != nil {
			e.Line, e.Column = tk.Position.Line, tk.Position.Column
		}
		return nil, e
	}
	ix := indexNodes(body)
	s = &Scenario{file: name, pos: ix.pos}
	dec := yaml.NewDecoder(bytes.NewReader(nil), yaml.DisallowUnknownField())
	if err := dec.DecodeFromNode(body, s); err != nil {
		return nil, yamlError(name, err, ix.paths)
	}
	if s.Name == "" {
		s.Name = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	}
	return s, nil
}

// yamlError turns an error of the YAML library or of this package's
// unmarshalers into an *Error naming file, line, column and field.
func yamlError(file string, err error, paths map[*token.Token]string) error {
	var fe *expect.SyntaxError
	if errors.As(err, &fe) {
		e := &Error{File: file, Msg: fe.Msg}
		if tk := fe.Node.GetToken(); tk != nil {
			e.Line, e.Column = tk.Position.Line, tk.Position.Column
			e.Field = paths[tk]
		}
		return e
	}
	var ye yaml.Error
	if errors.As(err, &ye) {
		e := &Error{File: file, Msg: ye.GetMessage()}
		if tk := ye.GetToken(); tk != nil {
			e.Line, e.Column = tk.Position.Line, tk.Position.Column
			e.Field = paths[tk]
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			// The library names the Go struct, not the YAML field.
			e.Msg = fmt.Sprintf("wrong type: got %s, want %s", yamlKind(te.SrcType.String()), yamlKind(te.DstType.String()))
		}
		return e
	}
	return &Error{File: file, Msg: err.Error()}
}

func yamlKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["), strings.HasPrefix(goType, "scenario."):
		return "a mapping"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"), strings.HasPrefix(goType, "*int"), strings.HasPrefix(goType, "*uint"):
		return "an integer"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "bool":
		return "true or false"
	case goType == "string":
		return "a string"
	}
	return goType
}

// position is where a field's value is written.
type position struct{ line, col int }

type nodeIndex struct {
	pos   map[string]position     // field path -> value position
	paths map[*token.Token]string // token -> field path
}

// indexNodes walks the document and records, for every field, where its
// value is (scalars) or where its key is (mappings and lists), so that
// Validate can point at the line a bad value came from.
func indexNodes(root ast.Node) nodeIndex {
	ix := nodeIndex{pos: map[string]position{}, paths: map[*token.Token]string{}}
	var walk func(n ast.Node, path string, depth int)
	mark := func(n ast.Node, path string) {
		if n == nil {
			return
		}
		if tk := n.GetToken(); tk != nil {
			if _, seen := ix.paths[tk]; !seen {
				ix.paths[tk] = path
			}
		}
	}
	walk = func(n ast.Node, path string, depth int) {
		if n == nil || depth > 200 {
			return
		}
		mark(n, path)
		switch n := n.(type) {
		case *ast.MappingNode:
			for _, mv := range n.Values {
				walk(mv, path, depth+1)
			}
		case *ast.MappingValueNode:
			if n.Key == nil {
				return
			}
			key := n.Key.GetToken()
			name := ""
			if key != nil {
				name = key.Value
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			mark(n.Key, p)
			at := key
			switch n.Value.(type) {
			case *ast.MappingNode, *ast.SequenceNode, nil:
			default:
				if tk := n.Value.GetToken(); tk != nil {
					at = tk
				}
			}
			if at != nil {
				if _, seen := ix.pos[p]; !seen {
					ix.pos[p] = position{at.Position.Line, at.Position.Column}
				}
			}
			walk(n.Value, p, depth+1)
		case *ast.SequenceNode:
			for i, v := range n.Values {
				p := fmt.Sprintf("%s[%d]", path, i)
				if v != nil {
					if tk := v.GetToken(); tk != nil {
						if _, seen := ix.pos[p]; !seen {
							ix.pos[p] = position{tk.Position.Line, tk.Position.Column}
						}
					}
				}
				walk(v, p, depth+1)
			}
		case *ast.AnchorNode:
			walk(n.Value, path, depth+1)
		case *ast.TagNode:
			walk(n.Value, path, depth+1)
		}
	}
	walk(root, "", 0)
	return ix
}

// errorAt builds an *Error for field, at the position of the field or of
// its nearest ancestor written in the file.
func (s *Scenario) errorAt(field, format string, args ...any) *Error {
	e := &Error{File: s.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if src, ok := s.flags[field]; ok {
		e.Source = src
		return e
	}
	for p := field; p != ""; p = parentPath(p) {
		if at, ok := s.pos[p]; ok {
			e.Line, e.Column = at.line, at.col
			break
		}
	}
	return e
}

func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i <= 0 {
		return ""
	}
	return p[:i]
}

// Duration is a time.Duration written with a unit ("40s"); a bare 0 is
// zero.
type Duration time.Duration

// D returns the duration as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML implements yaml.NodeUnmarshaler.
func (d *Duration) UnmarshalYAML(n ast.Node) error {
	switch v := n.(type) {
	case *ast.NullNode:
		*d = 0
		return nil
	case *ast.IntegerNode:
		if v.GetToken().Value == "0" {
			*d = 0
			return nil
		}
		return expect.NewSyntaxError(n, fmt.Sprintf("duration %s needs a unit, e.g. %ss or %sms", v.GetToken().Value, v.GetToken().Value, v.GetToken().Value))
	case *ast.StringNode:
		t, err := time.ParseDuration(strings.TrimSpace(v.Value))
		if err != nil {
			return expect.NewSyntaxError(n, fmt.Sprintf("bad duration %q: want e.g. 250ms, 40s or 2m", v.Value))
		}
		*d = Duration(t)
		return nil
	}
	return expect.NewSyntaxError(n, fmt.Sprintf("want a duration such as 40s, got %s", expect.NodeKind(n)))
}

// MarshalYAML writes the duration as text.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// OverrideMemcached replaces the memcached spec, as --memcached does;
// errors about it then name the flag.
func (s *Scenario) OverrideMemcached(spec string) {
	s.override("memcached", "--memcached", func() { s.Memcached = spec })
}

// OverrideClock replaces the clock, as --clock does.
func (s *Scenario) OverrideClock(clock string) {
	s.override("clock", "--clock", func() { s.Clock = clock })
}

func (s *Scenario) override(field, flag string, set func()) {
	if s.flags == nil {
		s.flags = map[string]string{}
	}
	s.flags[field] = flag
	set()
}
