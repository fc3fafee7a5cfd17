package embedded

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strconv"
	"time"
)

// --- protocol ---

// reply constants: exactly memcached's.
const (
	replyError     = "ERROR"
	replyBadFormat = "CLIENT_ERROR bad command line format"
	replyBadChunk  = "CLIENT_ERROR bad data chunk"
	replyTooLarge  = "SERVER_ERROR object too large for cache"
	replyBadExp    = "CLIENT_ERROR invalid exptime argument"
	replyBadDelta  = "CLIENT_ERROR invalid numeric delta argument"
	replyLineLong  = "CLIENT_ERROR line too long"
	replyDeleteUse = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"
)

type session struct {
	e *Server
	r *bufio.Reader
	w *bufio.Writer
}

func (e *Server) serve(c net.Conn) {
	s := &session{e: e, r: bufio.NewReaderSize(c, MaxCommandLine), w: bufio.NewWriter(c)}
	for {
		line, err := s.r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			s.writeLine(replyLineLong)
			_ = s.w.Flush()
			return
		}
		if err != nil {
			return // EOF or a closed connection; a partial line is dropped
		}
		// Tokens are copied out of the reader's buffer before a data block
		// is read into it.
		tokens := splitTokens(line)
		if d := time.Duration(e.latency.Load()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-e.done:
				t.Stop()
				return
			}
		}
		if !e.waitUnpaused() {
			return
		}
		if quit := s.dispatch(tokens); quit {
			_ = s.w.Flush()
			return
		}
		// Flush once a pipelined batch is answered, not after each reply.
		if s.r.Buffered() == 0 {
			if err := s.w.Flush(); err != nil {
				return
			}
		}
	}
}

// splitTokens splits a command line on spaces, as memcached does (a tab is
// part of a token), dropping the line end.
func splitTokens(line []byte) []string {
	n := len(line)
	if n > 0 && line[n-1] == '\n' {
		n--
	}
	if n > 0 && line[n-1] == '\r' {
		n--
	}
	var out []string
	for i := 0; i < n; {
		for i < n && line[i] == ' ' {
			i++
		}
		j := i
		for j < n && line[j] != ' ' {
			j++
		}
		if j > i {
			out = append(out, string(line[i:j]))
		}
		i = j
	}
	return out
}

func validKey(k string) bool {
	if len(k) == 0 || len(k) > MaxKeyLength {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] == 0x7f {
			return false
		}
	}
	return true
}

func (s *session) writeLine(l string) {
	_, _ = s.w.WriteString(l)
	_, _ = s.w.WriteString("\r\n")
}

// reply writes l unless the command asked for noreply.
func (s *session) reply(noreply bool, l string) {
	if !noreply {
		s.writeLine(l)
	}
}

// dispatch runs one command and reports whether to close the connection.
func (s *session) dispatch(tok []string) (quit bool) {
	if len(tok) == 0 {
		s.writeLine(replyError)
		return false
	}
	switch cmd := tok[0]; cmd {
	case "get", "gets":
		s.get(tok[1:], cmd == "gets", false, 0)
	case "gat", "gats":
		if len(tok) < 3 {
			s.writeLine(replyError)
			return false
		}
		exptime, err := strconv.ParseInt(tok[1], 10, 32)
		if err != nil {
			s.writeLine(replyBadExp)
			return false
		}
		s.get(tok[2:], cmd == "gats", true, exptime)
	case "set", "add", "replace", "append", "prepend", "cas":
		return s.storage(storeModes[cmd], tok)
	case "delete":
		s.delete(tok)
	case "touch":
		s.touch(tok)
	case "incr", "decr":
		s.incrDecr(cmd == "incr", tok)
	case "flush_all":
		s.flushAll(tok)
	case "version":
		s.writeLine("VERSION " + Version)
	case "verbosity":
		if len(tok) < 2 || len(tok) > 3 {
			s.writeLine(replyError)
			return false
		}
		s.reply(tok[len(tok)-1] == "noreply" && len(tok) == 3, "OK")
	case "stats":
		s.stats(tok[1:])
	case "config":
		s.config(tok)
	case "quit":
		return true
	default:
		s.writeLine(replyError)
	}
	return false
}

func (s *session) get(keys []string, withCAS, touch bool, exptime int64) {
	if len(keys) == 0 {
		s.writeLine(replyError)
		return
	}
	for _, k := range keys {
		if !validKey(k) {
			s.writeLine(replyBadFormat)
			return
		}
	}
	buf := make([]byte, 0, 64)
	for _, h := range s.e.get(keys, touch, exptime) {
		buf = append(buf[:0], "VALUE "...)
		buf = append(buf, h.key...)
		buf = append(buf, ' ')
		buf = strconv.AppendUint(buf, uint64(h.flags), 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(len(h.value)), 10)
		if withCAS {
			buf = append(buf, ' ')
			buf = strconv.AppendUint(buf, h.cas, 10)
		}
		buf = append(buf, "\r\n"...)
		_, _ = s.w.Write(buf)
		_, _ = s.w.Write(h.value)
		_, _ = s.w.WriteString("\r\n")
	}
	s.writeLine("END")
}

// storage handles set/add/replace/append/prepend/cas:
//
//	<cmd> <key> <flags> <exptime> <bytes> [<cas unique>] [noreply]\r\n<data>\r\n
func (s *session) storage(mode storeMode, tok []string) (quit bool) {
	want := 5
	if mode == modeCAS {
		want = 6
	}
	if len(tok) != want && len(tok) != want+1 {
		s.writeLine(replyError)
		return false
	}
	noreply := len(tok) == want+1 && tok[want] == "noreply"
	key := tok[1]
	flags, err1 := strconv.ParseUint(tok[2], 10, 32)
	exptime, err2 := strconv.ParseInt(tok[3], 10, 32)
	vlen, err3 := strconv.ParseInt(tok[4], 10, 32)
	var casIn uint64
	var err4 error
	if mode == modeCAS {
		casIn, err4 = strconv.ParseUint(tok[5], 10, 64)
	}
	// Like memcached, a bad command line does not swallow the data block:
	// the client's data line is then read as a command.
	if !validKey(key) || err1 != nil || err2 != nil || err3 != nil || err4 != nil || vlen < 0 {
		s.reply(noreply, replyBadFormat)
		return false
	}
	if int64(len(key))+vlen+itemOverhead > int64(s.e.cfg.maxItemSize) {
		s.e.tooLarge(mode, key)
		if _, err := io.CopyN(io.Discard, s.r, vlen+2); err != nil {
			return true
		}
		s.reply(noreply, replyTooLarge)
		return false
	}
	data := make([]byte, vlen+2)
	if _, err := io.ReadFull(s.r, data); err != nil {
		return true
	}
	if data[vlen] != '\r' || data[vlen+1] != '\n' {
		s.reply(noreply, replyBadChunk)
		return false
	}
	s.reply(noreply, s.e.store(mode, key, uint32(flags), exptime, data[:vlen:vlen], casIn))
	return false
}

// delete <key> [0] [noreply]; the 0 is a legacy time that memcached still
// accepts.
func (s *session) delete(tok []string) {
	if len(tok) < 2 || len(tok) > 4 {
		s.writeLine(replyError)
		return
	}
	noreply := len(tok) > 2 && tok[len(tok)-1] == "noreply"
	rest := tok[2:]
	if noreply {
		rest = rest[:len(rest)-1]
	}
	if len(rest) > 1 || len(rest) == 1 && rest[0] != "0" {
		s.reply(noreply, replyDeleteUse)
		return
	}
	if !validKey(tok[1]) {
		s.reply(noreply, replyBadFormat)
		return
	}
	s.reply(noreply, s.e.delete(tok[1]))
}

// keyArg checks a "<cmd> <key> <arg> [noreply]" line: it answers ERROR to
// a wrong number of tokens and a bad format to a bad key, and reports
// whether the command goes on.
func (s *session) keyArg(tok []string) (noreply, ok bool) {
	if len(tok) != 3 && len(tok) != 4 {
		s.writeLine(replyError)
		return false, false
	}
	noreply = len(tok) == 4 && tok[3] == "noreply"
	if !validKey(tok[1]) {
		s.reply(noreply, replyBadFormat)
		return noreply, false
	}
	return noreply, true
}

// touch <key> <exptime> [noreply]
func (s *session) touch(tok []string) {
	noreply, ok := s.keyArg(tok)
	if !ok {
		return
	}
	exptime, err := strconv.ParseInt(tok[2], 10, 32)
	if err != nil {
		s.reply(noreply, replyBadExp)
		return
	}
	s.reply(noreply, s.e.touch(tok[1], exptime))
}

// incr|decr <key> <delta> [noreply]
func (s *session) incrDecr(incr bool, tok []string) {
	noreply, ok := s.keyArg(tok)
	if !ok {
		return
	}
	delta, err := strconv.ParseUint(tok[2], 10, 64)
	if err != nil {
		s.reply(noreply, replyBadDelta)
		return
	}
	s.reply(noreply, s.e.incrDecr(incr, tok[1], delta))
}

// flush_all [delay] [noreply]
func (s *session) flushAll(tok []string) {
	if len(tok) > 3 {
		s.writeLine(replyError)
		return
	}
	noreply := len(tok) > 1 && tok[len(tok)-1] == "noreply"
	args := tok[1:]
	if noreply {
		args = args[:len(args)-1]
	}
	var delay int64
	if len(args) == 1 {
		d, err := strconv.ParseInt(args[0], 10, 32)
		if err != nil {
			s.reply(noreply, replyBadFormat)
			return
		}
		delay = d
	} else if len(args) > 1 {
		s.reply(noreply, replyError)
		return
	}
	s.e.flush(delay)
	s.reply(noreply, "OK")
}
