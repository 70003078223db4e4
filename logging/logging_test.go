package logging

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// summarizingLogger returns a logger writing JSON through a SummarizeHandler with a one-second
// interval, the handler, the output and the handler's clock, which the test moves by hand.
func summarizingLogger(t *testing.T) (*slog.Logger, *SummarizeHandler, *bytes.Buffer, *time.Time) {
	t.Helper()
	var out bytes.Buffer
	handler := NewSummarizeHandler(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}), time.Second)
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	handler.state.now = func() time.Time { return now }
	return slog.New(handler), handler, &out, &now
}

// logLines parses every line of out as one JSON object.
func logLines(t *testing.T, out *bytes.Buffer) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for line := range strings.Lines(out.String()) {
		var fields map[string]any
		if err := json.Unmarshal([]byte(line), &fields); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		lines = append(lines, fields)
	}
	return lines
}

// field returns the value at a dotted path such as "db.table", printed; "<nil>" when absent.
func field(line map[string]any, path string) string {
	var value any = line
	for name := range strings.SplitSeq(path, ".") {
		group, ok := value.(map[string]any)
		if !ok {
			return "<nil>"
		}
		value = group[name]
	}
	return fmt.Sprint(value)
}

func TestSummarizeWritesOneLinePerKindPerInterval(t *testing.T) {
	log, _, out, now := summarizingLogger(t)
	for range 10_000 {
		log.Error("database unavailable", "error", "connection refused")
	}
	lines := logLines(t, out)
	if len(lines) != 1 {
		t.Fatalf("got %d lines for 10,000 errors within a second, want 1", len(lines))
	}
	if got, want := field(lines[0], "suppressed"), "<nil>"; got != want {
		t.Errorf("first line: got suppressed %q, want %q", got, want)
	}

	*now = now.Add(time.Second)
	log.Error("database unavailable", "error", "connection refused")
	lines = logLines(t, out)
	if len(lines) != 2 {
		t.Fatalf("got %d lines after the interval, want 2", len(lines))
	}
	for name, want := range map[string]string{
		"level":      "ERROR",
		"msg":        "database unavailable",
		"error":      "connection refused",
		"suppressed": "9999",
	} {
		if got := field(lines[1], name); got != want {
			t.Errorf("second line: got %s %q, want %q", name, got, want)
		}
	}
}

func TestSummarizeIntervalBoundary(t *testing.T) {
	tests := []struct {
		name           string
		elapsed        time.Duration
		wantLines      int
		wantSuppressed string
	}{
		{"same instant", 0, 1, "<nil>"},
		{"just inside the interval", time.Second - time.Nanosecond, 1, "<nil>"},
		{"interval over", time.Second, 2, "1"},
		{"long after", time.Hour, 2, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log, _, out, now := summarizingLogger(t)
			log.Warn("slow query")
			log.Warn("slow query")
			*now = now.Add(tt.elapsed)
			log.Warn("slow query")
			lines := logLines(t, out)
			if len(lines) != tt.wantLines {
				t.Fatalf("got %d lines, want %d", len(lines), tt.wantLines)
			}
			if got := field(lines[len(lines)-1], "suppressed"); got != tt.wantSuppressed {
				t.Errorf("last line: got suppressed %q, want %q", got, tt.wantSuppressed)
			}
		})
	}
}

func TestSummarizeCountsKindsSeparately(t *testing.T) {
	kinds := []struct {
		level   slog.Level
		message string
		times   int
	}{
		{slog.LevelError, "database unavailable", 3},
		{slog.LevelWarn, "database unavailable", 2},
		{slog.LevelError, "session store unavailable", 5},
	}
	log, _, out, now := summarizingLogger(t)
	for _, kind := range kinds {
		for range kind.times {
			log.Log(t.Context(), kind.level, kind.message)
		}
	}
	if got := len(logLines(t, out)); got != len(kinds) {
		t.Fatalf("got %d lines, want one per kind, %d", got, len(kinds))
	}

	*now = now.Add(time.Second)
	for _, kind := range kinds {
		log.Log(t.Context(), kind.level, kind.message)
	}
	lines := logLines(t, out)[len(kinds):]
	if len(lines) != len(kinds) {
		t.Fatalf("got %d lines after the interval, want %d", len(lines), len(kinds))
	}
	for i, kind := range kinds {
		if got, want := field(lines[i], "level")+" "+field(lines[i], "msg"), kind.level.String()+" "+kind.message; got != want {
			t.Errorf("line %d: got %q, want %q", i, got, want)
		}
		if got, want := field(lines[i], "suppressed"), fmt.Sprint(kind.times-1); got != want {
			t.Errorf("%s %q: got suppressed %q, want %q", kind.level, kind.message, got, want)
		}
	}
}

func TestSummarizePassesInfoAndDebugThrough(t *testing.T) {
	log, _, out, _ := summarizingLogger(t)
	for range 1000 {
		log.Info("request", "status", 200)
		log.Debug("cache hit")
	}
	lines := logLines(t, out)
	if len(lines) != 2000 {
		t.Fatalf("got %d lines for 2,000 INFO and DEBUG records, want 2000", len(lines))
	}
	for i, line := range lines {
		if got, want := field(line, "suppressed"), "<nil>"; got != want {
			t.Fatalf("line %d: got suppressed %q, want %q", i, got, want)
		}
	}
}

func TestSummarizeDerivedLoggersShareCountsAndKeepAttrs(t *testing.T) {
	log, _, out, now := summarizingLogger(t)
	first := log.With("request_id", "r1")
	second := log.With("request_id", "r2")
	grouped := log.WithGroup("db").With("table", "api_keys")

	first.Error("database unavailable")
	second.Error("database unavailable")
	grouped.Error("database unavailable", "op", "select")
	*now = now.Add(time.Second)
	grouped.Error("database unavailable", "op", "select")
	*now = now.Add(time.Second)
	second.Error("database unavailable")
	first.Error("database unavailable")
	*now = now.Add(time.Second)
	second.Error("database unavailable")

	want := []map[string]string{
		{"request_id": "r1", "suppressed": "<nil>", "db.table": "<nil>"},
		{"request_id": "<nil>", "suppressed": "2", "db.table": "api_keys", "db.op": "select", "db.suppressed": "<nil>"},
		{"request_id": "r2", "suppressed": "<nil>"},
		{"request_id": "r2", "suppressed": "1"},
	}
	lines := logLines(t, out)
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d", len(lines), len(want))
	}
	for i, fields := range want {
		for name, wantValue := range fields {
			if got := field(lines[i], name); got != wantValue {
				t.Errorf("line %d: got %s %q, want %q", i, name, got, wantValue)
			}
		}
	}
}

func TestFlushLogWritesPendingCounts(t *testing.T) {
	log, _, out, now := summarizingLogger(t)
	for range 5 {
		log.Error("database unavailable")
	}
	for range 3 {
		log.Warn("slow query")
	}
	log.Error("setup token expired")

	Flush(log.With("request_id", "r1"))
	want := []map[string]string{
		{"level": "ERROR", "msg": "database unavailable", "suppressed": "4", "request_id": "<nil>"},
		{"level": "WARN", "msg": "slow query", "suppressed": "2", "request_id": "<nil>"},
	}
	lines := logLines(t, out)[3:]
	if len(lines) != len(want) {
		t.Fatalf("got %d lines from Flush, want %d", len(lines), len(want))
	}
	for i, fields := range want {
		for name, wantValue := range fields {
			if got := field(lines[i], name); got != wantValue {
				t.Errorf("summary %d: got %s %q, want %q", i, name, got, wantValue)
			}
		}
	}

	before := out.Len()
	Flush(log)
	if got := out.String()[before:]; got != "" {
		t.Errorf("a second flush wrote %q, want %q", got, "")
	}
	*now = now.Add(time.Second)
	log.Error("database unavailable")
	if got, want := field(logLines(t, out)[5], "suppressed"), "<nil>"; got != want {
		t.Errorf("after a flush: got suppressed %q, want %q", got, want)
	}

	Flush(slog.New(slog.NewTextHandler(io.Discard, nil)))
	Flush(nil)
}

// textLine matches the level and message of a TextHandler line whose message has no spaces;
// textSuppressed matches its count.
var (
	textLine       = regexp.MustCompile(`^time=\S+ level=(\S+) msg=(\S+)`)
	textSuppressed = regexp.MustCompile(`suppressed=(\d+)`)
)

func TestNewLogger(t *testing.T) {
	tests := []struct {
		format string
		level  slog.Level
		want   []string
	}{
		{"json", slog.LevelInfo, []string{"INFO request", "WARN slow", "ERROR down", "ERROR down"}},
		{"json", slog.LevelDebug, []string{"DEBUG detail", "INFO request", "WARN slow", "ERROR down", "ERROR down"}},
		{"json", slog.LevelError, []string{"ERROR down", "ERROR down"}},
		{"text", slog.LevelInfo, []string{"INFO request", "WARN slow", "ERROR down", "ERROR down"}},
		{"", slog.LevelWarn, []string{"WARN slow", "ERROR down", "ERROR down"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("format %q at %s", tt.format, tt.level), func(t *testing.T) {
			var out bytes.Buffer
			log := New(&out, tt.format, tt.level)
			log.Debug("detail")
			log.Info("request", "status", 200)
			log.Warn("slow", "duration_ms", 1200)
			for range 100 {
				log.Error("down", "error", "connection refused")
			}
			Flush(log) // the last line: down with suppressed=99

			var got []string
			var last string
			for line := range strings.Lines(out.String()) {
				if tt.format == "json" {
					var fields map[string]any
					if err := json.Unmarshal([]byte(line), &fields); err != nil {
						t.Fatalf("line %q is not JSON: %v", line, err)
					}
					for _, name := range []string{"time", "level", "msg"} {
						if _, ok := fields[name]; !ok {
							t.Errorf("line %q has no %q", line, name)
						}
					}
					got = append(got, field(fields, "level")+" "+field(fields, "msg"))
					last = field(fields, "suppressed")
					continue
				}
				match := textLine.FindStringSubmatch(line)
				if match == nil {
					t.Fatalf("line %q is not a text log line", line)
				}
				got = append(got, match[1]+" "+match[2])
				last = ""
				if count := textSuppressed.FindStringSubmatch(line); count != nil {
					last = count[1]
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got lines %q, want %q", got, tt.want)
			}
			if want := "99"; last != want {
				t.Errorf("last line: got suppressed %q, want %q", last, want)
			}
		})
	}
}

func TestSummarizeKindsAreBounded(t *testing.T) {
	log, handler, out, now := summarizingLogger(t)
	log.Error("first")
	log.Error("first")
	for i := range maxSummarizedKinds {
		*now = now.Add(time.Microsecond)
		log.Error(fmt.Sprintf("kind %d", i))
	}
	if got := len(handler.state.kinds); got > maxSummarizedKinds {
		t.Errorf("got %d kinds tracked, want at most %d", got, maxSummarizedKinds)
	}
	var evicted []string
	for _, line := range logLines(t, out) {
		if field(line, "msg") == "first" {
			evicted = append(evicted, field(line, "suppressed"))
		}
	}
	if want := []string{"<nil>", "1"}; strings.Join(evicted, ",") != strings.Join(want, ",") {
		t.Errorf("lines of the evicted kind: got suppressed %q, want %q", evicted, want)
	}

	*now = now.Add(2 * time.Second)
	log.Error("one more")
	if got, want := len(handler.state.kinds), 1; got != want {
		t.Errorf("after every kind went idle: got %d kinds tracked, want %d", got, want)
	}
}

func TestSummarizeConcurrentLogging(t *testing.T) {
	var out bytes.Buffer
	handler := NewSummarizeHandler(slog.NewJSONHandler(&out, nil), time.Second)
	var ticks atomic.Int64
	start := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	handler.state.now = func() time.Time { return start.Add(time.Duration(ticks.Add(1)) * 100 * time.Microsecond) }
	log := slog.New(handler)

	const workers, perWorker = 32, 500
	var wg sync.WaitGroup
	for worker := range workers {
		wg.Go(func() {
			mine := log.With("worker", worker)
			db := log.WithGroup("db").With("table", "api_keys")
			for range perWorker {
				mine.Info("request")
				mine.Error("database unavailable")
				db.Warn("slow query")
			}
		})
	}
	wg.Wait()
	Flush(log)

	// Every record is either a line of its own, which carries the logger's attributes, or
	// counted in a suppressed=N of a later line or of a Flush summary.
	accounted := map[string]int{}
	lines := map[string]int{}
	for _, line := range logLines(t, &out) {
		kind := field(line, "level") + " " + field(line, "msg")
		if field(line, "worker") != "<nil>" || field(line, "db.table") != "<nil>" {
			accounted[kind]++
			lines[kind]++
		}
		if n := field(line, "suppressed"); n != "<nil>" {
			count, err := strconv.Atoi(n)
			if err != nil {
				t.Fatalf("got suppressed %q, want a number", n)
			}
			accounted[kind] += count
		}
	}
	for _, kind := range []string{"INFO request", "ERROR database unavailable", "WARN slow query"} {
		if got, want := accounted[kind], workers*perWorker; got != want {
			t.Errorf("%s: got %d records accounted for, want %d", kind, got, want)
		}
	}
	if got, want := lines["INFO request"], workers*perWorker; got != want {
		t.Errorf("got %d access lines, want %d", got, want)
	}
	// 32,000 clock reads at 100µs each span 3.2 s: a handful of lines per kind.
	for _, kind := range []string{"ERROR database unavailable", "WARN slow query"} {
		if got := lines[kind]; got > 10 {
			t.Errorf("%s: got %d lines, want at most 10", kind, got)
		}
	}
}
