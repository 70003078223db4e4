package models_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"keysmith/models"
	"keysmith/models/modelstest"
)

// clock is a settable time for the store, so tests move time without sleeping.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time          { return c.now }
func (c *clock) Advance(d time.Duration) { c.now = c.now.Add(d) }
func newClock(store *models.Store) *clock {
	c := &clock{now: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}
	store.SetClock(c.Now)
	return c
}

func liveIDs(t *testing.T, store *models.Store) string {
	t.Helper()
	instances, err := store.LiveInstances(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, instance := range instances {
		ids = append(ids, instance.ID)
	}
	return strings.Join(ids, ",")
}

// An instance registers with its first heartbeat, stays live for the window each heartbeat
// gives it, keeps what it registered with, and reports its listener and cache each time.
func TestHeartbeatRegistersAndKeepsAnInstanceLive(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		clock := newClock(store)
		started := clock.Now()
		first := models.Instance{ID: "in_first", Address: "127.0.0.1:8080", Hostname: "web-1", Version: "v1.2.3",
			StartedAt: started, ListenerState: models.ListenerNotStarted}
		if err := store.Heartbeat(ctx, first, 3*time.Second); err != nil {
			t.Fatal(err)
		}
		if got := liveIDs(t, store); got != "in_first" {
			t.Fatalf("live after registering: got %q, want %q", got, "in_first")
		}

		clock.Advance(2 * time.Second)
		second := models.Instance{ID: "in_second", Address: "127.0.0.1:8081", Hostname: "web-2", Version: "v1.2.3",
			StartedAt: clock.Now(), ListenerState: models.ListenerListening}
		if err := store.Heartbeat(ctx, second, 3*time.Second); err != nil {
			t.Fatal(err)
		}
		// A later heartbeat reports a new state and cache size; what was registered stays.
		again := first
		again.Address, again.Version, again.ListenerState, again.CacheEntries = "changed", "changed", models.ListenerListening, 42
		if err := store.Heartbeat(ctx, again, 3*time.Second); err != nil {
			t.Fatal(err)
		}
		instances, err := store.LiveInstances(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(instances) != 2 {
			t.Fatalf("live instances: got %d, want 2", len(instances))
		}
		got := instances[0]
		want := models.Instance{ID: "in_first", Address: "127.0.0.1:8080", Hostname: "web-1", Version: "v1.2.3",
			StartedAt: started, HeartbeatAt: clock.Now(), LiveUntil: clock.Now().Add(3 * time.Second),
			ListenerState: models.ListenerListening, CacheEntries: 42}
		if got != want {
			t.Errorf("first instance after its second heartbeat:\n got %+v\nwant %+v", got, want)
		}

		// Live until three intervals pass without a heartbeat, and not a moment longer.
		clock.Advance(3*time.Second - time.Microsecond)
		if got := liveIDs(t, store); got != "in_first,in_second" {
			t.Errorf("live just before the window ends: got %q, want %q", got, "in_first,in_second")
		}
		clock.Advance(time.Microsecond)
		if got := liveIDs(t, store); got != "" {
			t.Errorf("live once the window ended: got %q, want none", got)
		}
		// A heartbeat after an outage makes it live again.
		if err := store.Heartbeat(ctx, second, 3*time.Second); err != nil {
			t.Fatal(err)
		}
		if got := liveIDs(t, store); got != "in_second" {
			t.Errorf("live after a late heartbeat: got %q, want %q", got, "in_second")
		}
	})
}

// An instance that stops deregisters; one that vanished is pruned once it has not been live
// for long enough, and not before.
func TestInstancesDeregisterAndArePruned(t *testing.T) {
	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		ctx := context.Background()
		clock := newClock(store)
		for _, id := range []string{"in_stops", "in_crashes", "in_runs"} {
			if err := store.Heartbeat(ctx, models.Instance{ID: id, StartedAt: clock.Now(), ListenerState: models.ListenerLocal}, time.Second); err != nil {
				t.Fatal(err)
			}
		}
		if err := store.Deregister(ctx, "in_stops"); err != nil {
			t.Fatal(err)
		}
		if got := liveIDs(t, store); got != "in_crashes,in_runs" {
			t.Errorf("live after a deregistration: got %q, want %q", got, "in_crashes,in_runs")
		}

		clock.Advance(time.Hour)
		if err := store.Heartbeat(ctx, models.Instance{ID: "in_runs", ListenerState: models.ListenerLocal}, time.Second); err != nil {
			t.Fatal(err)
		}
		// in_crashes stopped being live an hour minus a second ago.
		for _, c := range []struct {
			before time.Time
			want   int64
		}{
			{clock.Now().Add(-time.Hour), 0},
			{clock.Now().Add(-time.Hour + 2*time.Second), 1},
			{clock.Now(), 0},
		} {
			pruned, err := store.PruneInstances(ctx, c.before)
			if err != nil {
				t.Fatal(err)
			}
			if pruned != c.want {
				t.Errorf("pruned before %v: got %d, want %d", c.before, pruned, c.want)
			}
		}
		if got := liveIDs(t, store); got != "in_runs" {
			t.Errorf("live after pruning: got %q, want %q", got, "in_runs")
		}
	})
}
