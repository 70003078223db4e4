package web

import (
	"context"
	"errors"
	"time"

	"keysmith/models"
)

// The audit log's background checks, each run by nowAndEvery:
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

// checkAuditChain verifies the audit chain after the last event verified (or from its start,
// at start and once a day), and logs, counts and audits each break it finds, once. A run that
// holds logs the newest event verified, position and link: the log so keeps anchors that
// `keysmith audit verify --anchor` checks, which show the newest events deleted even with the
// chain's head rewritten.
func (s *Server) checkAuditChain(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, auditChainCheckInterval)
	defer cancel()
	check := &s.chainCheck
	now := time.Now()
	if check.fullFrom.IsZero() && (check.lastFull.IsZero() || now.Sub(check.lastFull) >= auditChainFullInterval) {
		check.fullFrom, check.verified = now, models.AuditChainPoint{}
	}
	report, err := s.store.VerifyAuditChain(ctx, models.AuditChainCheck{After: check.verified})
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
		s.log.Error("the audit log's chain is broken: an event was deleted, changed or inserted", "position", b.Position, "event_id", b.EventID, "problem", b.Problem)
		if _, err := s.store.RecordAuditChainBreak(ctx, b); err != nil {
			s.log.Error("could not record a break of the audit chain in the audit log", "position", b.Position, "error", err)
		}
		s.Metrics.auditChainBreaks.Inc()
	}
	advanced := report.Last.Position > check.verified.Position
	if report.Last.Position > 0 {
		check.verified = report.Last
		s.Metrics.auditChainVerified.Set(float64(report.Last.Position))
	}
	if err != nil {
		return err
	}
	full := !check.fullFrom.IsZero()
	if full {
		check.lastFull, check.fullFrom = check.fullFrom, time.Time{}
	}
	if report.Holds() && (advanced || full) {
		s.log.Info("audit chain verified", "anchor", report.Last.String(), "from_start", full, "events_checked", report.Checked, "unkeyed_to", report.UnkeyedTo)
	}
	return nil
}

// checkAuditFeed sets keysmith_audit_feed_held_back_seconds, and past auditFeedWarnAfter logs
// a warning naming the transaction that holds the feed back, once every auditFeedWarnEvery
// while it lasts, and a line when it is over.
func (s *Server) checkAuditFeed(ctx context.Context) error {
	hold, err := s.store.AuditFeedHold(ctx)
	if err != nil {
		return err
	}
	s.Metrics.auditFeedHeldBack.Set(hold.Waiting.Seconds())
	now := time.Now()
	switch {
	case hold.Waiting > auditFeedWarnAfter && now.Sub(s.feedWarnedAt) >= auditFeedWarnEvery:
		s.feedWarnedAt = now
		s.log.Warn("the audit feed (/api/v1/audit-events) holds events back: a transaction that writes and stays open on the database server holds back every event written after it began, until it ends",
			"held_back", hold.Waiting.Round(time.Second).String(), "holder", hold.Holder.String(),
			"holder_pid", hold.Holder.PID, "holder_database", hold.Holder.Database, "holder_application", hold.Holder.Application)
	case hold.Waiting <= auditFeedWarnAfter && !s.feedWarnedAt.IsZero():
		s.feedWarnedAt = time.Time{}
		s.log.Info("the audit feed no longer holds events back past the warning's threshold", "held_back", hold.Waiting.Round(time.Second).String())
	}
	return nil
}

// storeAuditRetention stores KEYSMITH_AUDIT_RETENTION as the retention the database enforces,
// when it differs. A runtime role may not: the database keeps the owner's, and the log says so.
func (s *Server) storeAuditRetention(ctx context.Context) {
	stored, err := s.store.AuditRetention(ctx)
	if err != nil {
		s.log.Error("read the audit retention the database enforces", "error", err)
		return
	}
	if stored == s.cfg.AuditRetention {
		return
	}
	err = s.store.SetAuditRetention(ctx, s.cfg.AuditRetention)
	if errors.Is(err, models.ErrAuditRetentionFixed) {
		s.log.Warn("the database enforces another audit retention than KEYSMITH_AUDIT_RETENTION, and this database role may not change it: no event younger than the database's retention is deleted; run `keysmith migrate` as the owner role with KEYSMITH_AUDIT_RETENTION set to change it",
			"database_retention", stored.String(), "audit_retention", s.cfg.AuditRetention.String())
		return
	}
	if err != nil {
		s.log.Error("store the audit retention", "error", err)
	}
}
