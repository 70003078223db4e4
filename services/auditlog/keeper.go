// Package auditlog keeps the audit log in the background: the retention job, which deletes the
// events past KEYSMITH_AUDIT_RETENTION; the scheduled check of the log's chain; and, on
// PostgreSQL, the watch on how long the API's feed holds events back.
package auditlog

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"keysmith/metrics"
	"keysmith/models"
)

// The audit log's background checks, each a job of the serving instance:
//   - the chain, at start and every auditChainCheckInterval: it goes on from the last event it
//     verified, and from the start again every auditChainFullInterval (and at every start of the
//     instance), so that a change to an event already verified is found within a day. Each run
//     has until the next to finish; one cut short goes on from where it stopped;
//   - the API's feed, on PostgreSQL, every auditFeedCheckInterval: how long it holds events back.
const (
	auditChainCheckInterval = 10 * time.Minute
	auditChainFullInterval  = 24 * time.Hour
	auditFeedCheckInterval  = 5 * time.Second
	// auditFeedWarnAfter is how long the feed may hold an event back before the log says so,
	// and auditFeedWarnEvery how often it says it again while it lasts.
	auditFeedWarnAfter = 30 * time.Second
	auditFeedWarnEvery = time.Minute
)

// Keeper keeps the audit log: it prunes it, checks its chain and watches its feed. Each of its
// jobs runs on one goroutine, which alone touches what the job remembers.
type Keeper struct {
	store     *models.Store
	log       *slog.Logger
	retention time.Duration
	// retentionStored tells whether Prune has stored the retention the database enforces.
	retentionStored bool
	// chain is the scheduled check of the chain's memory; feedWarnedAt when the feed's hold
	// was last logged (zero while none is).
	chain        chainCheck
	feedWarnedAt time.Time
	// chainBreaks counts the places where the scheduled check found the chain broken, each
	// once; chainVerified is the last position it verified; feedHeldBack is how long the
	// API's feed has held its oldest committed event back.
	chainBreaks   prometheus.Counter
	chainVerified prometheus.Gauge
	feedHeldBack  prometheus.Gauge
}

// New returns the keeper of store's audit log, which keeps events for retention
// (KEYSMITH_AUDIT_RETENTION), with its metrics in registry.
func New(store *models.Store, log *slog.Logger, registry *metrics.Registry, retention time.Duration) *Keeper {
	return &Keeper{
		store: store, log: log, retention: retention,
		chainBreaks:   registry.Counter("keysmith_audit_chain_breaks_total", "Places where this instance's scheduled check found the audit log's chain broken (an event deleted, changed or inserted), each counted once. Any is an incident."),
		chainVerified: registry.Gauge("keysmith_audit_chain_verified_position", "The position of the newest audit event that this instance's scheduled check verified in the chain (0 before its first check)."),
		feedHeldBack:  registry.Gauge("keysmith_audit_feed_held_back_seconds", "How long the oldest committed audit event that /api/v1/audit-events does not serve yet has waited since it was recorded: on PostgreSQL, a transaction that writes and stays open anywhere on the server holds back the events after it began (0 when none is held back, and on SQLite)."),
	}
}

// chainCheck is the scheduled chain check's memory; only its goroutine touches it.
type chainCheck struct {
	// verified is the last event verified; the next run checks the events after it.
	verified models.AuditChainPoint
	// fullFrom is when the pass from the start under way began (zero when none is), lastFull
	// when the last one that finished began.
	fullFrom, lastFull time.Time
	// reported are the breaks already logged and counted, by AuditChainBreak.Key.
	reported map[string]bool
}

// CheckChain verifies the audit chain after the last event verified (or from its start,
// at start and once a day), and logs, counts and audits each break it finds, once. A run that
// holds logs the newest event verified, position and link: the log so keeps anchors that
// `keysmith audit verify --anchor` checks, which show the newest events deleted even with the
// chain's head rewritten.
func (k *Keeper) CheckChain(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, auditChainCheckInterval)
	defer cancel()
	check := &k.chain
	now := time.Now()
	if check.fullFrom.IsZero() && (check.lastFull.IsZero() || now.Sub(check.lastFull) >= auditChainFullInterval) {
		check.fullFrom, check.verified = now, models.AuditChainPoint{}
	}
	report, err := k.store.VerifyAuditChain(ctx, models.AuditChainCheck{After: check.verified})
	var keyErr *models.AuditKeyError
	if errors.As(err, &keyErr) {
		return err
	}
	for _, b := range report.Breaks {
		if check.reported == nil {
			check.reported = map[string]bool{}
		}
		if check.reported[b.Key()] {
			continue
		}
		check.reported[b.Key()] = true
		k.log.Error("the audit log's chain is broken: an event was deleted, changed or inserted", "position", b.Position, "event_id", b.EventID, "problem", b.Problem)
		if _, err := k.store.RecordAuditChainBreak(ctx, b); err != nil {
			k.log.Error("could not record a break of the audit chain in the audit log", "position", b.Position, "error", err)
		}
		k.chainBreaks.Inc()
	}
	advanced := report.Last.Position > check.verified.Position
	if report.Last.Position > 0 {
		check.verified = report.Last
		k.chainVerified.Set(float64(report.Last.Position))
	}
	if err != nil {
		return err
	}
	full := !check.fullFrom.IsZero()
	if full {
		check.lastFull, check.fullFrom = check.fullFrom, time.Time{}
	}
	if report.Holds() && (advanced || full) {
		k.log.Info("audit chain verified", "anchor", report.Last.String(), "from_start", full, "events_checked", report.Checked, "unkeyed_to", report.UnkeyedTo)
	}
	return nil
}

// CheckFeed sets keysmith_audit_feed_held_back_seconds, and past auditFeedWarnAfter logs
// a warning naming the transaction that holds the feed back, once every auditFeedWarnEvery
// while it lasts, and a line when it is over.
func (k *Keeper) CheckFeed(ctx context.Context) error {
	hold, err := k.store.AuditFeedHold(ctx)
	if err != nil {
		return err
	}
	k.feedHeldBack.Set(hold.Waiting.Seconds())
	now := time.Now()
	switch {
	case hold.Waiting > auditFeedWarnAfter && now.Sub(k.feedWarnedAt) >= auditFeedWarnEvery:
		k.feedWarnedAt = now
		k.log.Warn("the audit feed (/api/v1/audit-events) holds events back: a transaction that writes and stays open on the database server holds back every event written after it began, until it ends",
			"held_back", hold.Waiting.Round(time.Second).String(), "holder", hold.Holder.String(),
			"holder_pid", hold.Holder.PID, "holder_database", hold.Holder.Database, "holder_application", hold.Holder.Application)
	case hold.Waiting <= auditFeedWarnAfter && !k.feedWarnedAt.IsZero():
		k.feedWarnedAt = time.Time{}
		k.log.Info("the audit feed no longer holds events back past the warning's threshold", "held_back", hold.Waiting.Round(time.Second).String())
	}
	return nil
}

// StoreRetention stores KEYSMITH_AUDIT_RETENTION as the retention the database enforces,
// when it differs. A runtime role may not: the database keeps the owner's, and the log says so.
func (k *Keeper) StoreRetention(ctx context.Context) {
	stored, err := k.store.AuditRetention(ctx)
	if err != nil {
		k.log.Error("read the audit retention the database enforces", "error", err)
		return
	}
	if stored == k.retention {
		return
	}
	err = k.store.SetAuditRetention(ctx, k.retention)
	if errors.Is(err, models.ErrAuditRetentionFixed) {
		k.log.Warn("the database enforces another audit retention than KEYSMITH_AUDIT_RETENTION, and this database role may not change it: no event younger than the database's retention is deleted; run `keysmith migrate` as the owner role with KEYSMITH_AUDIT_RETENTION set to change it",
			"database_retention", stored.String(), "audit_retention", k.retention.String())
		return
	}
	if err != nil {
		k.log.Error("store the audit retention", "error", err)
	}
}

// Prune deletes the audit events past the retention period (the one deletion the append-only
// log allows, see models.Store.PruneAuditEvents), the tombstones of secrets past theirs, and
// the marks of refusals from hours over. Its first run stores the retention as the one the
// database enforces, when the database role may (StoreRetention).
func (k *Keeper) Prune(ctx context.Context) error {
	if !k.retentionStored {
		k.retentionStored = true
		k.StoreRetention(ctx)
	}
	now := k.store.Now()
	_, err := k.store.PruneAuditEvents(ctx, now.Add(-k.retention))
	_, refusalsErr := k.store.PruneKeyRefusals(ctx, now.Add(-models.KeyTombstonesKept), now.Add(-time.Hour))
	return errors.Join(err, refusalsErr)
}
