// Package cluster is this process among the instances that share the database: its place in
// the instance registry (registration, heartbeat, deregistration), the revocation listener that
// keeps its key cache true to every instance's changes, its acknowledgements of the
// revocations it applies, and the proof of a revocation that the console shows.
package cluster

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"keysmith/metrics"
	"keysmith/models"
	"keysmith/services/keyauth"
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

// Instance is this process in the instance registry. Its methods are safe for concurrent use.
type Instance struct {
	store *models.Store
	keys  *keyauth.Verifier
	log   *slog.Logger
	// heartbeatInterval is how often the instance tells the registry it runs; it counts as
	// live for liveHeartbeats of them.
	heartbeatInterval time.Duration

	id        string
	hostname  string
	version   string
	startedAt time.Time
	// listener is the revocation listener's state (a models.ListenerState), reported with
	// each heartbeat.
	listener atomic.Value
	// acks are the acknowledgements of the revocations it applied, waiting to be written.
	acks *revocationAcks
	// revocations counts the revocations its listener heard.
	revocations prometheus.Counter
}

// New returns this process as an instance of the cluster, with a new id, over store, whose
// listener will apply what it hears to keys. It registers itself at its first heartbeat.
func New(store *models.Store, keys *keyauth.Verifier, log *slog.Logger, registry *metrics.Registry, heartbeatInterval time.Duration) *Instance {
	hostname, err := os.Hostname()
	if err != nil {
		hostname = "unknown"
	}
	i := &Instance{
		store: store, keys: keys, log: log, heartbeatInterval: heartbeatInterval,
		id: models.NewInstanceID(), hostname: hostname, version: Version(), startedAt: store.Now(),
		acks:        newRevocationAcks(),
		revocations: registry.Counter("keysmith_revocations_received_total", "Revocation announcements heard by this instance's listener: keys deleted or disabled on any instance, evicted here if cached."),
	}
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

// ID is this process's id in the instance registry, new at every start.
func (i *Instance) ID() string { return i.id }

func (i *Instance) setListenerState(state models.ListenerState) { i.listener.Store(state) }

// listenerState is the listener's state as the heartbeat reports it: a listener whose
// connection has not proved it caught up within the cache's lease is stalled, whatever it
// was last told.
func (i *Instance) listenerState() models.ListenerState {
	state := i.listener.Load().(models.ListenerState)
	if state == models.ListenerListening && !i.keys.Trusted() {
		return models.ListenerStalled
	}
	return state
}

// Heartbeat registers this instance, serving at address, or tells the database it is still
// running, within the heartbeat interval (and the store's deadline), so one heartbeat never
// overlaps the next.
func (i *Instance) Heartbeat(ctx context.Context, address string) error {
	ctx, cancel := context.WithTimeout(ctx, i.heartbeatInterval)
	defer cancel()
	return i.store.Heartbeat(ctx, models.Instance{
		ID: i.id, Address: address, Hostname: i.hostname, Version: i.version,
		StartedAt: i.startedAt, ListenerState: i.listenerState(), CacheEntries: int64(i.keys.CacheSize()),
	}, liveHeartbeats*i.heartbeatInterval)
}

// RunHeartbeat writes a heartbeat every interval until ctx ends; one that fails is tried
// again after a quarter of it, so that the instance stays live through a short outage. It
// runs on its own goroutine and never holds up a request. Every pruneEvery it also deletes
// instances long gone and old revocations.
func (i *Instance) RunHeartbeat(ctx context.Context, address string) {
	interval := i.heartbeatInterval
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
		err := i.Heartbeat(ctx, address)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if !failing {
				i.log.Warn("heartbeat failed; trying again", "instance", i.id, "error", err)
			}
			failing = true
			timer.Reset(interval / 4)
			continue
		case failing:
			failing = false
			i.log.Info("heartbeat written again", "instance", i.id)
		}
		timer.Reset(interval)
		if time.Since(pruned) >= pruneEvery {
			pruned = time.Now()
			i.prune(ctx)
		}
	}
}

// prune deletes instances that stopped without deregistering, long enough ago that no
// revocation counts on them, and revocations past their keeping.
func (i *Instance) prune(ctx context.Context) {
	now := i.store.Now()
	if _, err := i.store.PruneInstances(ctx, now.Add(-goneInstancesKept)); err != nil && ctx.Err() == nil {
		i.log.Warn("prune gone instances", "error", err)
	}
	if _, err := i.store.PruneKeyRevocations(ctx, now.Add(-revocationsKept)); err != nil && ctx.Err() == nil {
		i.log.Warn("prune revocations", "error", err)
	}
}

// Deregister removes this instance from the registry as it stops, so that no revocation waits
// for its acknowledgement; an instance that cannot deregister stops being live after three
// heartbeat intervals anyway.
func (i *Instance) Deregister(ctx context.Context) {
	if err := i.store.Deregister(ctx, i.id); err != nil {
		i.log.Warn("stopping: could not deregister this instance; it will look live for a few seconds more", "instance", i.id, "error", err)
	}
}
