package loadtest

import (
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/uploadonce/uploadonce/loadtest/plan"
)

// startProgress shows progress until the returned stop is called.
func (e *engine) startProgress() (stop func()) {
	if e.o.progress == nil {
		return func() {}
	}
	total := e.p.Uploads()
	every := 2 * time.Second
	if e.o.terminal {
		every = 250 * time.Millisecond
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if e.o.terminal {
					e.progressLine(total)
					fmt.Fprintln(e.o.progress)
				}
				return
			case <-t.C:
				e.progressLine(total)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

func (e *engine) progressLine(total int) {
	n := e.cl.Uploads()
	rate := 0.0
	if s := e.cl.FirstSend(); s > 0 {
		if el := time.Duration(e.rec.Now() - s).Seconds(); el > 0 {
			rate = float64(n) / el
		}
	}
	v := e.rec.DoubleAccepts()
	if e.o.terminal {
		fmt.Fprintf(e.o.progress, "\r%d/%d uploads, %.0f/s, %d violations so far, %d decisions   ", n, total, rate, v, e.rec.Decided())
		return
	}
	// Progress shows even when the run logs only warnings.
	pl := e.log.Level(min(e.log.GetLevel(), zerolog.InfoLevel))
	pl.Info().Int64("done", n).Int("total", total).Float64("uploads_per_s", rate).Int64("violations_so_far", v).
		Int64("decisions", e.rec.Decided()).Msg("progress")
}

// Body returns the bytes of upload j of token idx. ContentSame gives every
// upload of a token the same bytes, ContentUnique different bytes; any
// other content is sent literally. Bodies are never stored, only their MD5.
func Body(seed uint64, idx, j int, u plan.Upload) []byte {
	var unit string
	switch u.Content {
	case "", plan.ContentSame:
		unit = strconv.Itoa(idx) + ".s." + strconv.FormatUint(seed, 10) + "|"
	case plan.ContentUnique:
		unit = strconv.Itoa(idx) + "." + strconv.Itoa(j) + "." + strconv.FormatUint(seed, 10) + "|"
	default:
		return []byte(u.Content)
	}
	size := u.Size
	if size == 0 {
		size = plan.DefaultBodySize
	}
	b := make([]byte, size)
	for i := range b {
		b[i] = unit[i%len(unit)]
	}
	return b
}
