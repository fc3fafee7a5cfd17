package embedded

import (
	"fmt"
	"os"
	"time"
)

// Stats are the embedded server's counters, named after memcached's `stats`.
type Stats struct {
	CurrItems           uint64 // items held, including expired ones not yet reclaimed
	TotalItems          uint64 // items ever stored
	Bytes               int64  // bytes held, with a per-item overhead
	LimitMaxBytes       int64  // 0 means unlimited
	CurrConnections     uint64
	TotalConnections    uint64
	RejectedConnections uint64 // refused by SetMaxConns
	CmdGet              uint64 // keys requested by get, gets, gat, gats
	CmdSet              uint64 // storage commands that read their data block
	CmdTouch            uint64
	CmdFlush            uint64
	GetHits             uint64
	GetMisses           uint64
	GetExpired          uint64
	DeleteHits          uint64
	DeleteMisses        uint64
	IncrHits            uint64
	IncrMisses          uint64
	DecrHits            uint64
	DecrMisses          uint64
	CasHits             uint64
	CasBadval           uint64
	CasMisses           uint64
	TouchHits           uint64
	TouchMisses         uint64
	Evictions           uint64 // live items evicted by the memory limit
	Reclaimed           uint64 // expired items removed
	// InternalErrors counts connections closed after a recovered panic. It
	// MUST stay 0; anything else is a bug in the embedded server.
	InternalErrors uint64
}

func (s *session) stats(args []string) {
	if len(args) == 1 && args[0] == "reset" {
		s.e.mu.Lock()
		s.e.st = Stats{TotalItems: s.e.st.TotalItems}
		s.e.mu.Unlock()
		s.writeLine("RESET")
		return
	}
	if len(args) > 0 {
		s.writeLine(replyError)
		return
	}
	st := s.e.Stats()
	s.e.mu.Lock()
	now := s.e.cfg.clock.Now()
	uptime := int64(now.Sub(s.e.started) / time.Second)
	s.e.mu.Unlock()
	stat := func(name string, v any) { s.writeLine(fmt.Sprintf("STAT %s %v", name, v)) }
	stat("pid", os.Getpid())
	stat("uptime", uptime)
	stat("time", now.Unix())
	stat("version", Version)
	stat("curr_connections", st.CurrConnections)
	stat("total_connections", st.TotalConnections)
	stat("rejected_connections", st.RejectedConnections)
	stat("cmd_get", st.CmdGet)
	stat("cmd_set", st.CmdSet)
	stat("cmd_flush", st.CmdFlush)
	stat("cmd_touch", st.CmdTouch)
	stat("get_hits", st.GetHits)
	stat("get_misses", st.GetMisses)
	stat("get_expired", st.GetExpired)
	stat("delete_misses", st.DeleteMisses)
	stat("delete_hits", st.DeleteHits)
	stat("incr_misses", st.IncrMisses)
	stat("incr_hits", st.IncrHits)
	stat("decr_misses", st.DecrMisses)
	stat("decr_hits", st.DecrHits)
	stat("cas_misses", st.CasMisses)
	stat("cas_hits", st.CasHits)
	stat("cas_badval", st.CasBadval)
	stat("touch_hits", st.TouchHits)
	stat("touch_misses", st.TouchMisses)
	stat("limit_maxbytes", st.LimitMaxBytes)
	stat("bytes", st.Bytes)
	stat("curr_items", st.CurrItems)
	stat("total_items", st.TotalItems)
	stat("evictions", st.Evictions)
	stat("reclaimed", st.Reclaimed)
	s.writeLine("END")
}
