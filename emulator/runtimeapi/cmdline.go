package runtimeapi

import (
	"errors"
	"strings"
)

// ErrBadCommand is wrapped by Split's errors.
var ErrBadCommand = errors.New("bad function command")

// Split cuts a command line into words as a POSIX shell would, without
// running one: blanks separate words, single quotes keep everything
// literally, double quotes keep everything but a backslash before ", \, $
// or `, and a backslash outside quotes keeps the next character. No
// expansion happens ($VAR, globs and ~ stay as written).
func Split(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	const (
		plain = iota
		single
		double
	)
	state := plain
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch state {
		case single:
			if c == '\'' {
				state = plain
			} else {
				cur.WriteByte(c)
			}
		case double:
			switch {
			case c == '"':
				state = plain
			case c == '\\' && i+1 < len(line) && strings.IndexByte("\"\\$`", line[i+1]) >= 0:
				i++
				cur.WriteByte(line[i])
			default:
				cur.WriteByte(c)
			}
		default:
			switch {
			case c == ' ' || c == '\t' || c == '\n':
				if inWord {
					words = append(words, cur.String())
					cur.Reset()
					inWord = false
				}
				continue
			case c == '\'':
				state = single
			case c == '"':
				state = double
			case c == '\\':
				if i+1 == len(line) {
					return nil, errors.Join(ErrBadCommand, errors.New("trailing backslash"))
				}
				i++
				cur.WriteByte(line[i])
			default:
				cur.WriteByte(c)
			}
			inWord = true
		}
	}
	if state != plain {
		return nil, errors.Join(ErrBadCommand, errors.New("unterminated quote"))
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, errors.Join(ErrBadCommand, errors.New("empty command"))
	}
	return words, nil
}
