// Package logging makes Keysmith's logger: log/slog's text or JSON handler, with warnings and
// errors of one kind summarised to a line a second, so that an outage under load writes tens of
// lines, not one per request.
package logging

import (
	"cmp"
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// summarizeInterval is how often New lets a line of one kind through: an outage that
// fails every request writes about one ERROR line a second per cause, not one per request.
const summarizeInterval = time.Second

// maxSummarizedKinds bounds the kinds a SummarizeHandler remembers. Log messages are fixed
// strings, so it is not reached in practice; it keeps a mistake from growing memory.
const maxSummarizedKinds = 1000

// New returns Keysmith's logger writing to w: format "json" gives log/slog's JSONHandler
// and anything else its TextHandler (config rejects other values); records below level are
// dropped, and WARN and ERROR records are summarised by a SummarizeHandler with an interval of
// one second, so that an outage under load writes tens of lines, not one per request.
func New(w io.Writer, format string, level slog.Leveler) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var handler slog.Handler
	if format == "json" {
		handler = slog.NewJSONHandler(w, opts)
	} else {
		handler = slog.NewTextHandler(w, opts)
	}
	return slog.New(NewSummarizeHandler(handler, summarizeInterval))
}

// SummarizeHandler wraps a slog.Handler so that a failure repeated by every request does not
// flood the log. Records at WARN and above are limited to one per kind per interval, where the
// kind is level plus message; the ones in between are counted, not written, and the next
// written record of that kind carries the attribute suppressed=N, N being how many were left
// out since the previous written one. INFO and DEBUG records pass through untouched, so the
// access log stays one line per request. Handlers derived with WithAttrs and WithGroup share
// the counts.
type SummarizeHandler struct {
	next  slog.Handler
	state *summaryState
	// ops are the WithAttrs and WithGroup calls that derived this handler. Once a group is
	// open, they are replayed on the root handler so that suppressed=N stays at the top level.
	ops     []handlerOp
	grouped bool
}

// handlerOp is one WithGroup (group set) or WithAttrs (attrs set) call.
type handlerOp struct {
	group string
	attrs []slog.Attr
}

// summaryState is shared by a SummarizeHandler and every handler derived from it.
type summaryState struct {
	root     slog.Handler
	interval time.Duration
	now      func() time.Time

	mu    sync.Mutex
	kinds map[logKind]*kindCount
}

type logKind struct {
	level   slog.Level
	message string
}

type kindCount struct {
	writtenAt  time.Time
	suppressed int
}

// pendingSummary is a count left out for one kind, to be written as a line of its own.
type pendingSummary struct {
	kind       logKind
	suppressed int
	at         time.Time
}

// NewSummarizeHandler returns a handler that writes to next at most one WARN-or-above record
// per kind per interval.
func NewSummarizeHandler(next slog.Handler, interval time.Duration) *SummarizeHandler {
	return &SummarizeHandler{next: next, state: &summaryState{
		root:     next,
		interval: interval,
		now:      time.Now,
		kinds:    map[logKind]*kindCount{},
	}}
}

// Enabled reports whether the wrapped handler wants records at level; summarising never adds
// levels.
func (h *SummarizeHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle writes r unless it is WARN or above and a record of its kind was written less than an
// interval ago, in which case it only counts it.
func (h *SummarizeHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		return h.next.Handle(ctx, r)
	}
	write, suppressed, evicted := h.state.admit(logKind{r.Level, r.Message})
	h.state.writeSummaries(ctx, evicted)
	if !write {
		return nil
	}
	if suppressed == 0 {
		return h.next.Handle(ctx, r)
	}
	count := slog.Int("suppressed", suppressed)
	if !h.grouped {
		r = r.Clone() // the caller's record must not see our attribute
		r.AddAttrs(count)
		return h.next.Handle(ctx, r)
	}
	next := h.state.root.WithAttrs([]slog.Attr{count})
	for _, op := range h.ops {
		if op.group != "" {
			next = next.WithGroup(op.group)
		} else {
			next = next.WithAttrs(op.attrs)
		}
	}
	return next.Handle(ctx, r)
}

// WithAttrs returns a handler whose records carry attrs and which shares h's counts.
func (h *SummarizeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	return h.derive(h.next.WithAttrs(attrs), handlerOp{attrs: slices.Clone(attrs)})
}

// WithGroup returns a handler whose attributes go in group name and which shares h's counts.
func (h *SummarizeHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	derived := h.derive(h.next.WithGroup(name), handlerOp{group: name})
	derived.grouped = true
	return derived
}

func (h *SummarizeHandler) derive(next slog.Handler, op handlerOp) *SummarizeHandler {
	return &SummarizeHandler{
		next:    next,
		state:   h.state,
		ops:     append(slices.Clip(h.ops), op),
		grouped: h.grouped,
	}
}

// Flush writes, for every kind with records left out since its last written line, one line
// with the kind's level and message and suppressed=N, so that the last second of an outage is
// not lost. The server calls it at shutdown.
func (h *SummarizeHandler) Flush(ctx context.Context) {
	h.state.writeSummaries(ctx, h.state.takePending())
}

// Flush writes the summaries that log's handler holds, if it is a SummarizeHandler or was
// derived from one with With or WithGroup; main calls it at shutdown with the logger it has.
func Flush(log *slog.Logger) {
	if log == nil {
		return
	}
	if h, ok := log.Handler().(*SummarizeHandler); ok {
		h.Flush(context.Background())
	}
}

// admit decides whether a record of kind k is written and, if so, how many it follows that
// were left out. When a new kind needs room, evicted holds a count that must still be written.
func (s *summaryState) admit(k logKind) (write bool, suppressed int, evicted []pendingSummary) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	count, ok := s.kinds[k]
	if !ok {
		if len(s.kinds) >= maxSummarizedKinds {
			evicted = s.makeRoom(now)
		}
		s.kinds[k] = &kindCount{writtenAt: now}
		return true, 0, evicted
	}
	if now.Sub(count.writtenAt) < s.interval {
		count.suppressed++
		return false, 0, nil
	}
	suppressed = count.suppressed
	count.writtenAt, count.suppressed = now, 0
	return true, suppressed, nil
}

// makeRoom forgets the kinds that hold nothing: interval over, nothing left out. If every kind
// is still busy, it forgets the one written longest ago and returns its count to be written.
func (s *summaryState) makeRoom(now time.Time) []pendingSummary {
	for k, count := range s.kinds {
		if count.suppressed == 0 && now.Sub(count.writtenAt) >= s.interval {
			delete(s.kinds, k)
		}
	}
	if len(s.kinds) < maxSummarizedKinds {
		return nil
	}
	var oldest logKind
	var oldestCount *kindCount
	for k, count := range s.kinds {
		if oldestCount == nil || count.writtenAt.Before(oldestCount.writtenAt) {
			oldest, oldestCount = k, count
		}
	}
	delete(s.kinds, oldest)
	if oldestCount.suppressed == 0 {
		return nil
	}
	return []pendingSummary{{kind: oldest, suppressed: oldestCount.suppressed, at: now}}
}

// takePending returns every count not yet written, in a stable order, and resets them.
func (s *summaryState) takePending() []pendingSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var pending []pendingSummary
	for k, count := range s.kinds {
		if count.suppressed > 0 {
			pending = append(pending, pendingSummary{kind: k, suppressed: count.suppressed, at: now})
			count.suppressed = 0
		}
	}
	slices.SortFunc(pending, func(a, b pendingSummary) int {
		return cmp.Or(cmp.Compare(b.kind.level, a.kind.level), cmp.Compare(a.kind.message, b.kind.message))
	})
	return pending
}

// writeSummaries writes each count as its own line, without the attributes of any derived
// handler, since the records it stands for may have come through different ones.
func (s *summaryState) writeSummaries(ctx context.Context, pending []pendingSummary) {
	for _, p := range pending {
		if !s.root.Enabled(ctx, p.kind.level) {
			continue
		}
		r := slog.NewRecord(p.at, p.kind.level, p.kind.message, 0)
		r.AddAttrs(slog.Int("suppressed", p.suppressed))
		_ = s.root.Handle(ctx, r) // nowhere left to report a failing log writer
	}
}
