package pull

import (
	"fmt"
	"io"
	"time"
)

// progress draws a one-line bar on w: bytes done/total, percentage, rate and
// ETA, redrawn at most every 200 ms (a 1 GB download would otherwise write
// megabytes of terminal updates). It is used by one goroutine at a time.
type progress struct {
	w          io.Writer
	label      string
	total      int64 // -1 when unknown
	done       int64
	start      time.Time
	startBytes int64 // bytes present before this session (resumed)
	last       time.Time
	now        func() time.Time
}

func newProgress(w io.Writer, label string, now func() time.Time) *progress {
	if now == nil {
		now = time.Now
	}
	return &progress{w: w, label: label, total: -1, now: now}
}

// begin starts (or restarts) the bar at done bytes of total.
func (p *progress) begin(done, total int64) {
	if p == nil || p.w == nil {
		return
	}
	p.done, p.total, p.startBytes = done, total, done
	p.start = p.now()
	p.last = time.Time{}
	p.draw(false)
}

func (p *progress) add(n int) {
	if p == nil || p.w == nil {
		return
	}
	p.done += int64(n)
	p.draw(false)
}

// finish draws the final state and ends the line.
func (p *progress) finish() {
	if p == nil || p.w == nil {
		return
	}
	p.draw(true)
	fmt.Fprintln(p.w)
}

func (p *progress) draw(force bool) {
	now := p.now()
	if !force && !p.last.IsZero() && now.Sub(p.last) < 200*time.Millisecond {
		return
	}
	p.last = now
	el := now.Sub(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(p.done-p.startBytes) / el
	}
	line := fmt.Sprintf("\r%s  %s", p.label, humanBytes(p.done))
	if p.total >= 0 {
		pct := 100.0
		if p.total > 0 {
			pct = 100 * float64(p.done) / float64(p.total)
		}
		const width = 24
		fill := int(pct / 100 * width)
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = ' '
			if i < fill {
				bar[i] = '='
			}
		}
		line += fmt.Sprintf(" / %s [%s] %5.1f%%", humanBytes(p.total), bar, pct)
	}
	line += fmt.Sprintf("  %s/s", humanBytes(int64(rate)))
	if p.total > 0 && rate > 0 && p.done < p.total {
		eta := time.Duration(float64(p.total-p.done) / rate * float64(time.Second)).Round(time.Second)
		line += "  ETA " + eta.String()
	}
	fmt.Fprintf(p.w, "%-100s", line)
}

// humanBytes formats n with binary units.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
