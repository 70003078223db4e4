package models

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// AuditFilter selects audit events; every field set must hold. Values are matched exactly.
type AuditFilter struct {
	// Actor is an actor's type (user, key, cli, anonymous, system), id (a user id, a key's
	// public id) or label (a user's email, the operating system user of the command line).
	Actor string
	// Action is an action (key.deleted) or a family of actions (key).
	Action string
	// Key is a key's public id: the events whose actor or target it is.
	Key string
	// User is a user's id or email: the events whose actor or target they are.
	User string
	// From and To bound the time: From included, To excluded; zero for no bound.
	From, To time.Time
}

// auditAction is what an action filter may be: a family, or a family and a verb.
var auditAction = regexp.MustCompile(`^[a-z_]{1,40}(\.[a-z_]{1,40})?$`)

// maxAuditFilterValue bounds the text filters, as events bound their fields.
const maxAuditFilterValue = maxAuditField

// Validate returns a FieldError naming the filter that no event could match, or nil.
func (f AuditFilter) Validate() error {
	for _, field := range []struct{ name, value string }{{"actor", f.Actor}, {"action", f.Action}, {"key", f.Key}, {"user", f.User}} {
		if err := CheckText(field.name, field.value, false); err != nil {
			return err
		}
		if len(field.value) > maxAuditFilterValue {
			return &FieldError{Field: field.name, Message: fmt.Sprintf("must be at most %d bytes", maxAuditFilterValue)}
		}
	}
	if f.Action != "" && !auditAction.MatchString(f.Action) {
		return &FieldError{Field: "action", Message: "must be an action such as key.deleted, or a family of actions such as key"}
	}
	if f.Key != "" && !wellFormedPublicID(f.Key) {
		return &FieldError{Field: "key", Message: "must be a key id (ak_ and 16 letters or digits)"}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return &FieldError{Field: "to", Message: "must come after from"}
	}
	return nil
}

// apply adds the filter's conditions to query.
func (f AuditFilter) apply(query *gorm.DB) *gorm.DB {
	if f.Actor != "" {
		query = query.Where("(actor_type = ? OR actor_id = ? OR actor_label IN (?, ?))", f.Actor, f.Actor, f.Actor, strings.ToLower(f.Actor))
	}
	if family, verb, ok := strings.Cut(f.Action, "."); ok {
		query = query.Where("action = ?", family+"."+verb)
	} else if f.Action != "" {
		query = query.Where("action LIKE ? ESCAPE '\\'", escapeLike(f.Action)+".%")
	}
	if f.Key != "" {
		query = query.Where("((target_type = ? AND target_id = ?) OR (actor_type = ? AND actor_id = ?))", TargetKey, f.Key, ActorKey, f.Key)
	}
	if f.User != "" {
		email := strings.ToLower(f.User)
		query = query.Where("((target_type = ? AND (target_id = ? OR target_label = ?)) OR (actor_type = ? AND (actor_id = ? OR actor_label = ?)))",
			TargetUser, f.User, email, ActorUser, f.User, email)
	}
	if !f.From.IsZero() {
		query = query.Where("at >= ?", f.From.UnixMicro())
	}
	if !f.To.IsZero() {
		query = query.Where("at < ?", f.To.UnixMicro())
	}
	return query
}

// auditColumns are the columns of an event that both databases have (not PostgreSQL's xid).
const auditColumns = "id, at, actor_type, actor_id, actor_label, action, target_type, target_id, target_label, address, user_agent, request_id, detail, chain_seq, chain_link"

// event is the row as an AuditEvent.
func (r auditRow) event() AuditEvent {
	ev := AuditEvent{
		ID: r.ID, At: time.UnixMicro(r.At).UTC(),
		Actor:  AuditActor{Type: r.ActorType, ID: r.ActorID, Label: r.ActorLabel, Address: r.Address, UserAgent: r.UserAgent, RequestID: r.RequestID},
		Action: r.Action, TargetType: r.TargetType, TargetID: r.TargetID, TargetLabel: r.TargetLabel, Detail: r.Detail,
	}
	if r.ChainSeq != nil {
		ev.Chain = AuditChainPoint{Position: *r.ChainSeq, Link: r.ChainLink}
	}
	return ev
}

// AuditLogQuery selects a page of the console's audit log, newest first: the Limit events
// before the event Before, or after the event After, or the newest.
type AuditLogQuery struct {
	Filter        AuditFilter
	Before, After int64
	Limit         int
}

// AuditLogPage is a page of the audit log, newest first, and whether newer or older events
// match beyond it.
type AuditLogPage struct {
	Events       []AuditEvent
	Newer, Older bool
}

// maxAuditPage bounds every read of the audit log.
const maxAuditPage = 1000

// AuditLog returns a page of the events that match q.Filter, newest first. An invalid filter
// is a FieldError.
func (s *Store) AuditLog(ctx context.Context, q AuditLogQuery) (AuditLogPage, error) {
	if err := q.Filter.Validate(); err != nil {
		return AuditLogPage{}, err
	}
	q.Limit = min(max(q.Limit, 1), maxAuditPage)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	db := s.db.WithContext(ctx)
	matching := func() *gorm.DB { return q.Filter.apply(db.Model(&auditRow{})) }
	var rows []auditRow
	query, order := matching(), "id DESC"
	switch {
	case q.After > 0:
		query, order = query.Where("id > ?", q.After), "id ASC"
	case q.Before > 0:
		query = query.Where("id < ?", q.Before)
	}
	if err := query.Select(auditColumns).Order(order).Limit(q.Limit + 1).Find(&rows).Error; err != nil {
		return AuditLogPage{}, fmt.Errorf("models: audit log: %w", err)
	}
	more := len(rows) > q.Limit
	rows = rows[:min(len(rows), q.Limit)]
	if q.After > 0 {
		slices.Reverse(rows)
	}
	page := AuditLogPage{Events: make([]AuditEvent, len(rows))}
	for i, row := range rows {
		page.Events[i] = row.event()
	}
	// The side the page was not read towards: is there anything beyond its first event, or
	// beyond the event it was read from when it is empty?
	exists := func(condition string, id int64) (bool, error) {
		var ids []int64
		err := matching().Where(condition, id).Limit(1).Pluck("id", &ids).Error
		return len(ids) > 0, err
	}
	var err error
	switch {
	case q.After > 0:
		page.Newer = more
		edge := q.After + 1
		if len(rows) > 0 {
			edge = rows[len(rows)-1].ID
		}
		page.Older, err = exists("id < ?", edge)
	case q.Before > 0:
		page.Older = more
		edge := q.Before - 1
		if len(rows) > 0 {
			edge = rows[0].ID
		}
		page.Newer, err = exists("id > ?", edge)
	default:
		page.Older = more
	}
	if err != nil {
		return AuditLogPage{}, fmt.Errorf("models: audit log: %w", err)
	}
	return page, nil
}

// AuditCursor is a position in the audit log as the API reads it, oldest first: after the
// event id, written by transaction xid (PostgreSQL; 0 on SQLite). Its text form is opaque.
type AuditCursor struct {
	xid uint64
	id  int64
}

// auditCursorVersion begins every cursor's text, so that its form can change.
const auditCursorVersion = "a1"

// String is the cursor's opaque text form, for a URL.
func (c AuditCursor) String() string {
	if c == (AuditCursor{}) {
		return ""
	}
	raw := auditCursorVersion + "." + strconv.FormatUint(c.xid, 10) + "." + strconv.FormatInt(c.id, 10)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// ParseAuditCursor reads a cursor that AuditEventsAfter returned; "" is the beginning. Any
// other text is a FieldError.
func ParseAuditCursor(s string) (AuditCursor, error) {
	if s == "" {
		return AuditCursor{}, nil
	}
	invalid := &FieldError{Field: "cursor", Message: "is not a cursor this API returned: pass next_cursor as it came, or leave it out to start from the oldest event"}
	if len(s) > 100 {
		return AuditCursor{}, invalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return AuditCursor{}, invalid
	}
	parts := strings.Split(string(raw), ".")
	if len(parts) != 3 || parts[0] != auditCursorVersion {
		return AuditCursor{}, invalid
	}
	xid, xidErr := strconv.ParseUint(parts[1], 10, 64)
	id, idErr := strconv.ParseInt(parts[2], 10, 64)
	if xidErr != nil || idErr != nil || id < 0 {
		return AuditCursor{}, invalid
	}
	return AuditCursor{xid: xid, id: id}, nil
}

// AuditEventsAfter returns up to limit events that match filter after cursor, oldest first,
// with the cursor after the last of them (cursor itself when there is none). Paging so never
// skips nor repeats an event, even while events are written: on PostgreSQL, where
// transactions commit out of the order of their ids, it serves events by (writing transaction,
// id) and only those of transactions older than every transaction still running, which can
// add no more; on SQLite writers take turns, so ids are in the order of commits. An event
// written by a long transaction waits for it, and holds back the events after it meanwhile.
func (s *Store) AuditEventsAfter(ctx context.Context, filter AuditFilter, cursor AuditCursor, limit int) ([]AuditEvent, AuditCursor, error) {
	if err := filter.Validate(); err != nil {
		return nil, cursor, err
	}
	limit = min(max(limit, 1), maxAuditPage)
	ctx, cancel := s.bound(ctx)
	defer cancel()
	query := filter.apply(s.db.WithContext(ctx).Model(&auditRow{}))
	var rows []struct {
		Row     auditRow `gorm:"embedded"`
		XidText string
	}
	var err error
	if s.dialect == DialectPostgres {
		err = query.Select(auditColumns+", CAST(xid AS text) AS xid_text").
			Where("(xid, id) > (CAST(CAST(? AS text) AS xid8), ?)", strconv.FormatUint(cursor.xid, 10), cursor.id).
			Where("xid < pg_snapshot_xmin(pg_current_snapshot())").
			Order("xid, id").Limit(limit).Find(&rows).Error
	} else {
		err = query.Select(auditColumns).Where("id > ?", cursor.id).Order("id").Limit(limit).Find(&rows).Error
	}
	if err != nil {
		return nil, cursor, fmt.Errorf("models: audit events after: %w", err)
	}
	events := make([]AuditEvent, len(rows))
	next := cursor
	for i, row := range rows {
		events[i] = row.Row.event()
		next = AuditCursor{id: row.Row.ID}
		if row.XidText != "" {
			if next.xid, err = strconv.ParseUint(row.XidText, 10, 64); err != nil {
				return nil, cursor, fmt.Errorf("models: audit events after: transaction id %q: %w", row.XidText, err)
			}
		}
	}
	return events, next, nil
}

// auditPruneBatch bounds how many events one transaction of PruneAuditEvents deletes.
const auditPruneBatch = 5000

// PruneAuditEvents deletes the events older than before, in transactions of auditPruneBatch
// events until none is left or the store's deadline passes (a later call goes on from there),
// and returns how many it deleted. It is the one deletion the append-only audit log allows, and
// the database allows it only for events older than the retention it stores (SetAuditRetention),
// whatever before says: on PostgreSQL through prune_audit_events, which runs with its owner's
// rights, so that the runtime role needs no DELETE; on SQLite inside a transaction that holds a
// row in audit_prune. Events outside the chain go first; then the chain's oldest events, up to
// the first younger than before, so that the rest of the chain stays whole. Each transaction
// records an audit.pruned event naming the last position it deleted, where the chain now starts.
func (s *Store) PruneAuditEvents(ctx context.Context, before time.Time) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	cutoff := before.UnixMicro()
	var deleted int64
	for {
		var batch, cut int64
		err := s.transaction(ctx, func(tx *gorm.DB) error {
			var err error
			if batch, cut, err = s.pruneBatch(tx, cutoff); err != nil {
				return err
			}
			if batch == 0 {
				return errNothingToPrune
			}
			events := "events"
			if batch == 1 {
				events = "event"
			}
			event := AuditEvent{Action: AuditPruned, Detail: fmt.Sprintf("%d %s from before %s deleted: they passed the retention period", batch, events, before.UTC().Format(time.RFC3339))}
			if cut > 0 {
				event.TargetType, event.TargetID, event.TargetLabel = TargetAuditChain, formatID(cut), fmt.Sprintf("the audit log up to position %d", cut)
			}
			return s.recordAudit(ctx, tx, event)
		})
		if errors.Is(err, errNothingToPrune) {
			return deleted, nil
		}
		if err != nil {
			return deleted, fmt.Errorf("models: prune audit events: %w", err)
		}
		deleted += batch
		if batch < auditPruneBatch {
			return deleted, nil
		}
	}
}

// pruneBatch deletes, in tx, up to auditPruneBatch events older than cutoff (Unix
// microseconds) and than the stored retention, and returns how many, with the last position of
// the chain it deleted (0 for none).
func (s *Store) pruneBatch(tx *gorm.DB, cutoff int64) (deleted, cut int64, err error) {
	var lastCut sql.NullInt64
	if s.dialect == DialectPostgres {
		err := tx.Raw("SELECT deleted, cut FROM prune_audit_events(?, ?)", cutoff, auditPruneBatch).Row().Scan(&deleted, &lastCut)
		return deleted, lastCut.Int64, err
	}
	// The same as prune_audit_events (migrations/postgres/00016_audit_retention.sql). SQLite's
	// triggers refuse a DELETE without a row in audit_prune, and of an event younger than the
	// stored retention.
	err = tx.Raw("SELECT min(?, CAST(strftime('%s', 'now') AS INTEGER) * 1000000 - micros) FROM audit_retention", cutoff).Row().Scan(&cutoff)
	if err != nil {
		return 0, 0, err
	}
	if err := tx.Exec("INSERT INTO audit_prune (on_since) VALUES (0)").Error; err != nil {
		return 0, 0, err
	}
	res := tx.Exec("DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE chain_seq IS NULL AND at < ? ORDER BY id LIMIT ?)", cutoff, auditPruneBatch)
	if res.Error != nil {
		return 0, 0, res.Error
	}
	deleted = res.RowsAffected
	err = tx.Raw(`SELECT max(w.chain_seq) FROM (
		SELECT o.chain_seq, max(CASE WHEN o.at < ? THEN 0 ELSE 1 END) OVER (ORDER BY o.chain_seq) AS young_so_far
		FROM (SELECT chain_seq, at FROM audit_events WHERE chain_seq IS NOT NULL ORDER BY chain_seq LIMIT ?) o
	) w WHERE w.young_so_far = 0`, cutoff, auditPruneBatch-deleted).Row().Scan(&lastCut)
	if err != nil {
		return 0, 0, err
	}
	if lastCut.Valid {
		res := tx.Exec("DELETE FROM audit_events WHERE chain_seq <= ?", lastCut.Int64)
		if res.Error != nil {
			return 0, 0, res.Error
		}
		deleted += res.RowsAffected
	}
	return deleted, lastCut.Int64, tx.Exec("DELETE FROM audit_prune").Error
}

// errNothingToPrune rolls back a prune transaction that found no event to delete.
var errNothingToPrune = errors.New("models: no audit event to prune")

// ErrAuditRetentionFixed: the database role may not change the retention the database stores;
// its owner role does, with `keysmith migrate`.
var ErrAuditRetentionFixed = errors.New("models: this database role may not change the audit retention the database enforces")

// AuditRetention returns the retention the database enforces: no event younger is deleted.
func (s *Store) AuditRetention(ctx context.Context) (time.Duration, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var micros int64
	if err := s.db.WithContext(ctx).Raw("SELECT micros FROM audit_retention").Row().Scan(&micros); err != nil {
		return 0, fmt.Errorf("models: read the audit retention: %w", err)
	}
	return time.Duration(micros) * time.Microsecond, nil
}

// SetAuditRetention stores retention (at least a day) as the retention the database enforces.
// On PostgreSQL only the owner role may (ErrAuditRetentionFixed otherwise), so that the
// runtime role cannot shorten the log's life.
func (s *Store) SetAuditRetention(ctx context.Context, retention time.Duration) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if retention < 24*time.Hour {
		return fmt.Errorf("models: the audit retention must be at least a day, not %s", retention)
	}
	err := s.db.WithContext(ctx).Exec("UPDATE audit_retention SET micros = ? WHERE id = 1", retention.Microseconds()).Error
	if isInsufficientPrivilege(err) {
		return ErrAuditRetentionFixed
	}
	if err != nil {
		return fmt.Errorf("models: store the audit retention: %w", err)
	}
	return nil
}

// AuditFeedHold is how long the API's feed (AuditEventsAfter) holds committed events back, and
// why. On PostgreSQL it serves an event once every transaction older than the event's has
// ended, so that no event committed late is skipped: a transaction that writes and stays open,
// in any database of the server, holds back every event written after it began.
type AuditFeedHold struct {
	// Waiting is how long the oldest event held back has waited since it was recorded; 0
	// when none is held back.
	Waiting time.Duration
	// Holder is the oldest transaction still running, which holds them back; zero when none
	// is held back.
	Holder AuditFeedHolder
}

// AuditFeedHolder is a transaction that holds the feed back, as pg_stat_activity (or, for a
// prepared transaction, pg_prepared_xacts) shows it. PostgreSQL shows another role's
// session's state and start only to a superuser or a member of pg_read_all_stats: they are
// empty otherwise.
type AuditFeedHolder struct {
	PID         int64
	Database    string
	Application string
	User        string
	State       string
	// Started is when its transaction began; zero when not shown.
	Started time.Time
	// Prepared is the name of a prepared transaction (PREPARE TRANSACTION), which no session
	// holds.
	Prepared string
}

// String describes the holder for a log line.
func (h AuditFeedHolder) String() string {
	if h.Prepared != "" {
		return fmt.Sprintf("prepared transaction %q in database %q (see pg_prepared_xacts)", h.Prepared, h.Database)
	}
	if h.PID == 0 {
		return "a transaction that has ended since"
	}
	out := fmt.Sprintf("process %d in database %q, application %q, user %q", h.PID, h.Database, h.Application, h.User)
	if h.State == "" {
		return out + " (its state and start are shown to a superuser or a member of pg_read_all_stats)"
	}
	out += ", state " + h.State
	if !h.Started.IsZero() {
		out += ", transaction started " + h.Started.UTC().Format(time.RFC3339)
	}
	return out
}

// AuditFeedHold tells how long the API's feed has held committed events back, and which
// transaction holds them. On SQLite, whose writers take turns, it never holds any back.
func (s *Store) AuditFeedHold(ctx context.Context) (AuditFeedHold, error) {
	if s.dialect != DialectPostgres {
		return AuditFeedHold{}, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	db := s.db.WithContext(ctx)
	var oldest sql.NullInt64
	// The events AuditEventsAfter does not serve yet that this transaction sees: committed.
	err := db.Raw("SELECT min(at) FROM audit_events WHERE xid >= pg_snapshot_xmin(pg_current_snapshot())").Row().Scan(&oldest)
	if err != nil {
		return AuditFeedHold{}, fmt.Errorf("models: audit feed hold: %w", err)
	}
	if !oldest.Valid {
		return AuditFeedHold{}, nil
	}
	hold := AuditFeedHold{Waiting: max(s.now().Sub(time.UnixMicro(oldest.Int64)), time.Microsecond)}
	var holders []struct {
		ProcessID                              int64
		Database, Application, UserName, State string
		Started                                *time.Time
	}
	err = db.Raw(`SELECT pid AS process_id, coalesce(datname, '') AS database, coalesce(application_name, '') AS application,
		coalesce(usename, '') AS user_name, coalesce(state, '') AS state, xact_start AS started
		FROM pg_stat_activity WHERE backend_xid IS NOT NULL ORDER BY age(backend_xid) DESC LIMIT 1`).Scan(&holders).Error
	if err != nil {
		return hold, fmt.Errorf("models: audit feed hold: %w", err)
	}
	var prepared []struct{ Name, Database string }
	err = db.Raw(`SELECT gid AS name, database FROM pg_prepared_xacts
		WHERE age(transaction) > coalesce((SELECT max(age(backend_xid)) FROM pg_stat_activity WHERE backend_xid IS NOT NULL), 0)
		ORDER BY age(transaction) DESC LIMIT 1`).Scan(&prepared).Error
	if err != nil {
		return hold, fmt.Errorf("models: audit feed hold: %w", err)
	}
	switch {
	case len(prepared) > 0:
		hold.Holder = AuditFeedHolder{Prepared: prepared[0].Name, Database: prepared[0].Database}
	case len(holders) > 0:
		h := holders[0]
		hold.Holder = AuditFeedHolder{PID: h.ProcessID, Database: h.Database, Application: h.Application, User: h.UserName, State: h.State}
		if h.Started != nil {
			hold.Holder.Started = *h.Started
		}
	}
	return hold, nil
}
