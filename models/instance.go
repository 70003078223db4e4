package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// ListenerState is how far an instance's revocation listener can be relied on, as its
// heartbeat last reported it.
type ListenerState string

// The states of a revocation listener.
const (
	// ListenerNotStarted: the instance has not started its listener (yet).
	ListenerNotStarted ListenerState = "not-started"
	// ListenerListening: subscribed, and caught up within the cache's lease.
	ListenerListening ListenerState = "listening"
	// ListenerStalled: subscribed, but its connection has not proved for over a second that it
	// is caught up; every key is checked against the database meanwhile.
	ListenerStalled ListenerState = "stalled"
	// ListenerReconnecting: the connection failed; every key is checked against the database
	// until it is back.
	ListenerReconnecting ListenerState = "reconnecting"
	// ListenerStopped: the instance is stopping.
	ListenerStopped ListenerState = "stopped"
	// ListenerLocal: SQLite serves one instance, which applies its own changes; there is
	// nothing to listen to.
	ListenerLocal ListenerState = "local"
)

// Label is the state as the instances page says it.
func (s ListenerState) Label() string {
	switch s {
	case ListenerNotStarted:
		return "Not started"
	case ListenerListening:
		return "Listening"
	case ListenerStalled:
		return "Stalled: not caught up for over a second"
	case ListenerReconnecting:
		return "Reconnecting"
	case ListenerStopped:
		return "Stopped"
	case ListenerLocal:
		return "Not needed: one instance (SQLite)"
	}
	return string(s)
}

// Instance is one running Keysmith process as it last reported itself with its heartbeat. The
// console lists the live ones, and counts on them to acknowledge each revocation.
type Instance struct {
	// ID is random and new at every start, so a restarted process is a new instance.
	ID string
	// Address is what the instance listens on; Hostname is the machine's name.
	Address  string
	Hostname string
	Version  string
	// StartedAt is when the process started.
	StartedAt time.Time
	// HeartbeatAt is the last heartbeat; the instance is live until LiveUntil, three heartbeat
	// intervals later, unless it beats again.
	HeartbeatAt   time.Time
	LiveUntil     time.Time
	ListenerState ListenerState
	// CacheEntries is how many verified keys the instance held at its last heartbeat.
	CacheEntries int64
}

// instanceRow is Instance as stored: times in Unix microseconds.
type instanceRow struct {
	ID            string `gorm:"primaryKey"`
	Address       string
	Hostname      string
	Version       string
	StartedAt     int64
	HeartbeatAt   int64
	LiveUntil     int64
	ListenerState string
	CacheEntries  int64
}

func (instanceRow) TableName() string { return "instances" }

func (r instanceRow) instance() Instance {
	return Instance{
		ID: r.ID, Address: r.Address, Hostname: r.Hostname, Version: r.Version,
		StartedAt: time.UnixMicro(r.StartedAt).UTC(), HeartbeatAt: time.UnixMicro(r.HeartbeatAt).UTC(),
		LiveUntil: time.UnixMicro(r.LiveUntil).UTC(), ListenerState: ListenerState(r.ListenerState), CacheEntries: r.CacheEntries,
	}
}

// NewInstanceID returns a random id for an instance starting now.
func NewInstanceID() string { return "in_" + randomBase62(12) }

// Heartbeat registers the instance, or tells that it is still running: it writes what the
// instance reports (its listener's state, its cache size) with the store's time as the
// heartbeat, and keeps it live for liveFor. The instance's id, address, hostname, version and
// start time are written by the first heartbeat and kept after it.
func (s *Store) Heartbeat(ctx context.Context, instance Instance, liveFor time.Duration) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	now := s.now()
	row := instanceRow{
		ID: instance.ID, Address: instance.Address, Hostname: instance.Hostname, Version: instance.Version,
		StartedAt: instance.StartedAt.UnixMicro(), HeartbeatAt: now.UnixMicro(), LiveUntil: now.Add(liveFor).UnixMicro(),
		ListenerState: string(instance.ListenerState), CacheEntries: instance.CacheEntries,
	}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "id"}},
		DoUpdates: clause.AssignmentColumns([]string{"heartbeat_at", "live_until", "listener_state", "cache_entries"}),
	}).Create(&row).Error
	if err != nil {
		return fmt.Errorf("models: heartbeat: %w", err)
	}
	return nil
}

// Deregister removes the instance when it stops, so that no revocation waits for it.
func (s *Store) Deregister(ctx context.Context, instanceID string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.db.WithContext(ctx).Where("id = ?", instanceID).Delete(&instanceRow{}).Error; err != nil {
		return fmt.Errorf("models: deregister instance: %w", err)
	}
	return nil
}

// LiveInstances returns the instances live now, the oldest first.
func (s *Store) LiveInstances(ctx context.Context) ([]Instance, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var rows []instanceRow
	err := s.db.WithContext(ctx).Where("live_until > ?", s.now().UnixMicro()).Order("started_at, id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("models: live instances: %w", err)
	}
	instances := make([]Instance, len(rows))
	for i, row := range rows {
		instances[i] = row.instance()
	}
	return instances, nil
}

// PruneInstances deletes the instances that stopped being live before before: they stopped
// without deregistering (a crash, a kill), and no revocation counts on them any more. It
// returns how many it deleted.
func (s *Store) PruneInstances(ctx context.Context, before time.Time) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res := s.db.WithContext(ctx).Where("live_until < ?", before.UnixMicro()).Delete(&instanceRow{})
	if res.Error != nil {
		return 0, fmt.Errorf("models: prune instances: %w", res.Error)
	}
	return res.RowsAffected, nil
}
