package web

import (
	"context"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"keysmith/models"
)

const (
	// liveHeartbeats is how many heartbeat intervals an instance stays live after its last
	// heartbeat: one late or failed heartbeat does not make it look gone.
	liveHeartbeats = 3
	// pruneEvery is how often an instance deletes what nobody needs any more: instances gone
	// without deregistering, and old revocations.
	pruneEvery = time.Minute
	// goneInstancesKept is how long an instance that stopped without deregistering stays in
	// the database after it stopped being live.
	goneInstancesKept = time.Hour
	// revocationsKept is how long a revocation and its acknowledgements are kept.
	revocationsKept = 30 * 24 * time.Hour
)

// instance is this process as the instance registry knows it.
type instance struct {
	id        string
	hostname  string
	version   string
	startedAt time.Time
	// listener is the revocation listener's state (a models.ListenerState), reported with
	// each heartbeat.
	listener atomic.Value
}

func newInstance(startedAt time.Time) *instance {
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "unknown"
	}
	i := &instance{id: models.NewInstanceID(), hostname: hostname, version: Version(), startedAt: startedAt}
	i.listener.Store(models.ListenerNotStarted)
	return i
}

// Version is the running build's version: the module version Go stamped into the binary, or
// its VCS revision, or "(devel)".
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	for _, setting := range info.Settings {
		if setting.Key == "vcs.revision" && len(setting.Value) >= 12 {
			return setting.Value[:12]
		}
	}
	return "(devel)"
}

// InstanceID is this process's id in the instance registry, new at every start.
func (s *Server) InstanceID() string { return s.instance.id }

func (s *Server) setListenerState(state models.ListenerState) { s.instance.listener.Store(state) }

// listenerState is the listener's state as the heartbeat reports it: a listener whose
// connection has not proved it caught up within the cache's lease is stalled, whatever it
// was last told.
func (s *Server) listenerState() models.ListenerState {
	state := s.instance.listener.Load().(models.ListenerState)
	if state == models.ListenerListening && !s.Keys.Trusted() {
		return models.ListenerStalled
	}
	return state
}

// heartbeat registers this instance, or tells the database it is still running, within the
// heartbeat interval (and the store's deadline), so one heartbeat never overlaps the next.
func (s *Server) heartbeat(ctx context.Context, address string) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.HeartbeatInterval)
	defer cancel()
	return s.store.Heartbeat(ctx, models.Instance{
		ID: s.instance.id, Address: address, Hostname: s.instance.hostname, Version: s.instance.version,
		StartedAt: s.instance.startedAt, ListenerState: s.listenerState(), CacheEntries: int64(s.Keys.CacheSize()),
	}, liveHeartbeats*s.cfg.HeartbeatInterval)
}

// runHeartbeat writes a heartbeat every interval until ctx ends; one that fails is tried
// again after a quarter of it, so that the instance stays live through a short outage. It
// runs on its own goroutine and never holds up a request. Every pruneEvery it also deletes
// instances long gone and old revocations.
func (s *Server) runHeartbeat(ctx context.Context, address string) {
	interval := s.cfg.HeartbeatInterval
	timer := time.NewTimer(interval)
	defer timer.Stop()
	failing := false
	var pruned time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		err := s.heartbeat(ctx, address)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				s.log.Warn("heartbeat failed; trying again", "instance", s.instance.id, "error", err)
			}
			failing = true
			timer.Reset(interval / 4)
			continue
		case failing:
			failing = false
			s.log.Info("heartbeat written again", "instance", s.instance.id)
		}
		timer.Reset(interval)
		if time.Since(pruned) >= pruneEvery {
			pruned = time.Now()
			s.prune(ctx)
		}
	}
}

// prune deletes instances that stopped without deregistering, long enough ago that no
// revocation counts on them, and revocations past their keeping.
func (s *Server) prune(ctx context.Context) {
	now := s.store.Now()
	if _, err := s.store.PruneInstances(ctx, now.Add(-goneInstancesKept)); err != nil && ctx.Err() == nil {
		s.log.Warn("prune gone instances", "error", err)
	}
	if _, err := s.store.PruneKeyRevocations(ctx, now.Add(-revocationsKept)); err != nil && ctx.Err() == nil {
		s.log.Warn("prune revocations", "error", err)
	}
}

// deregister removes this instance from the registry as it stops, so that no revocation waits
// for its acknowledgement; an instance that cannot deregister stops being live after three
// heartbeat intervals anyway.
func (s *Server) deregister(ctx context.Context) {
	if err := s.store.Deregister(ctx, s.instance.id); err != nil {
		s.log.Warn("stopping: could not deregister this instance; it will look live for a few seconds more", "instance", s.instance.id, "error", err)
	}
}
