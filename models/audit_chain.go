package models

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The audit log is a hash chain. Each event records its position (1, 2, 3… in the order the
// transactions that recorded them committed, whatever their ids), the link of the event before
// it, and its own link: an HMAC-SHA256, under a key the database never holds, of every field
// the event stores (but its id) and the link before it. An event deleted, changed or inserted
// breaks the chain where it was; without the key nobody can make an event that links. Without
// a key the links are plain SHA-256: a deletion or a change is still seen, a forgery is not,
// since anyone can compute the hashes again.

// Audit events about the chain itself.
const (
	// AuditChainStarted is the first event of a chain begun over a log that held events
	// before: it names them, since they stay outside the chain.
	AuditChainStarted = "audit.chain_started"
	// AuditChainBroken is the scheduled check finding a place where the chain does not hold.
	AuditChainBroken = "audit.chain_broken"
	// TargetAuditChain is a target that is a position in the chain: ID is the position.
	TargetAuditChain = "audit_chain"
)

// chainScheme opens what every link hashes, so that a link can never be read as another
// scheme's.
const chainScheme = "keysmith audit chain v1"

// zeroLink is the link before the chain's first event.
var zeroLink = strings.Repeat("0", 64)

// minAuditKey is the shortest audit key: 32 bytes, as long as the HMAC's output.
const minAuditKey = 32

// auditKey links events: HMAC-SHA256 under secret, or SHA-256 when secret is nil.
type auditKey struct {
	secret []byte
	// id names the key in every event it links, so that a check with another key says so
	// rather than report each event as changed. It reveals nothing of the key.
	id string
}

// newAuditKey makes the key of secret; nil makes the unkeyed SHA-256 chain.
func newAuditKey(secret []byte) *auditKey {
	if secret == nil {
		return &auditKey{}
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("keysmith audit key id"))
	return &auditKey{secret: append([]byte(nil), secret...), id: hex.EncodeToString(mac.Sum(nil))[:16]}
}

// link computes row's link: its position, the link before it and the key's id, then every
// field it stores, each written as its length (8 bytes, big-endian) and its bytes, so that no
// two different events hash the same bytes.
func (k *auditKey) link(row *auditRow) string {
	var h hash.Hash
	if k.secret == nil {
		h = sha256.New()
	} else {
		h = hmac.New(sha256.New, k.secret)
	}
	var length [8]byte
	field := func(value string) {
		binary.BigEndian.PutUint64(length[:], uint64(len(value)))
		h.Write(length[:])
		h.Write([]byte(value))
	}
	field(chainScheme)
	field(strconv.FormatInt(*row.ChainSeq, 10))
	field(row.ChainPrev)
	field(row.ChainKey)
	field(strconv.FormatInt(row.At, 10))
	for _, value := range []string{row.ActorType, row.ActorID, row.ActorLabel, row.Action, row.TargetType, row.TargetID,
		row.TargetLabel, row.Address, row.UserAgent, row.RequestID, row.Detail} {
		field(value)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// UseAuditKey makes the store link the audit events it records with HMAC-SHA256 under secret
// (at least 32 bytes), and verify the chain with it. A store without one links with SHA-256.
func (s *Store) UseAuditKey(secret []byte) error {
	if len(secret) < minAuditKey {
		return fmt.Errorf("models: an audit key must have at least %d bytes, not %d", minAuditKey, len(secret))
	}
	s.auditKey.Store(newAuditKey(secret))
	return nil
}

// AuditKeyID is the id of the store's audit key, as every event it links records it; "" when
// it has none.
func (s *Store) AuditKeyID() string { return s.key().id }

// key is the store's audit key, or the unkeyed one.
func (s *Store) key() *auditKey {
	if k := s.auditKey.Load(); k != nil {
		return k
	}
	return &auditKey{}
}

// AuditKeyError says that the store's audit key is not the one the chain is linked with: it
// has none while the chain is keyed, or another one. Linking would break the chain, and
// checking it would say every event was changed, so both refuse.
type AuditKeyError struct {
	// ChainKeyID is the id of the key that linked the newest event; OwnKeyID the store's ("" for none).
	ChainKeyID, OwnKeyID string
	// Position is the newest event's.
	Position int64
}

func (e *AuditKeyError) Error() string {
	if e.OwnKeyID == "" {
		return fmt.Sprintf("models: the audit log is chained with a key (id %s, up to position %d) and no audit key is set", e.ChainKeyID, e.Position)
	}
	return fmt.Sprintf("models: the audit log is chained with the key of id %s (up to position %d), not with the audit key set (id %s)", e.ChainKeyID, e.Position, e.OwnKeyID)
}

// chainHead is the one row of audit_chain.
type chainHead struct {
	Seq          int64
	Link         string
	KeyID        string
	LegacyEvents int64
	LegacyLastID int64
}

func (chainHead) TableName() string { return "audit_chain" }

// follows tells whether key may link the event after head: a keyed chain stays keyed with its
// key; an unkeyed one may become keyed.
func (head chainHead) follows(key *auditKey) error {
	if head.KeyID == "" || head.KeyID == key.id {
		return nil
	}
	return &AuditKeyError{ChainKeyID: head.KeyID, OwnKeyID: key.id, Position: head.Seq}
}

// CheckAuditKey returns an AuditKeyError when the store's audit key cannot extend the chain, so
// that a process refuses to start rather than fail at its first audited change.
func (s *Store) CheckAuditKey(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var head chainHead
	if err := s.db.WithContext(ctx).Take(&head).Error; err != nil {
		return fmt.Errorf("models: read the audit chain's head: %w", err)
	}
	return head.follows(s.key())
}

// AuditChainKeyed tells whether the newest event of the audit chain is linked with a key (and
// so whether an audit key must be set to go on), and gives the chain's head.
func (s *Store) AuditChainKeyed(ctx context.Context) (bool, AuditChainPoint, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var head chainHead
	if err := s.db.WithContext(ctx).Take(&head).Error; err != nil {
		return false, AuditChainPoint{}, fmt.Errorf("models: read the audit chain's head: %w", err)
	}
	return head.KeyID != "", AuditChainPoint{Position: head.Seq, Link: head.Link}, nil
}

type pendingAuditKey struct{}

// pendingAudit holds the events a transaction records until it links them, last.
type pendingAudit struct{ rows []auditRow }

// transaction runs fn in a database transaction and, as its last statements before it
// commits, links the audit events fn recorded into the chain. Every transaction that records
// an event runs through it. The chain's head is taken last (on PostgreSQL with FOR UPDATE, so
// that events are linked in the order their transactions commit), and held only for the
// insert and the commit: a transaction never waits for anything else while it holds it.
func (s *Store) transaction(ctx context.Context, fn func(tx *gorm.DB) error) error {
	pending := &pendingAudit{}
	return s.db.WithContext(context.WithValue(ctx, pendingAuditKey{}, pending)).Transaction(func(tx *gorm.DB) error {
		if err := fn(tx); err != nil {
			return err
		}
		return s.linkAudit(tx, pending.rows)
	})
}

// linkAudit gives rows their places after the chain's head, writes them and moves the head.
// The first events linked over a log that held events before the chain are preceded by
// audit.chain_started, which names them.
func (s *Store) linkAudit(tx *gorm.DB, rows []auditRow) error {
	if len(rows) == 0 {
		return nil
	}
	key := s.key()
	query := tx
	if s.dialect == DialectPostgres {
		query = tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
	}
	var head chainHead
	if err := query.Take(&head).Error; err != nil {
		return fmt.Errorf("models: link audit events: read the chain's head: %w", err)
	}
	if err := head.follows(key); err != nil {
		return err
	}
	if head.Seq == 0 && head.LegacyEvents > 0 {
		started := auditRow{
			At: rows[0].At, ActorType: ActorSystem, Action: AuditChainStarted,
			TargetType: TargetAuditChain, TargetID: formatID(head.LegacyLastID), TargetLabel: "the audit log before its chain",
			Detail: fmt.Sprintf("the audit log is chained from this event on; the %d events recorded before it (ids up to %d) are not", head.LegacyEvents, head.LegacyLastID),
		}
		rows = append([]auditRow{started}, rows...)
	}
	for i := range rows {
		head.Seq++
		position := head.Seq
		rows[i].ChainSeq, rows[i].ChainPrev, rows[i].ChainKey = &position, head.Link, key.id
		rows[i].ChainLink = key.link(&rows[i])
		head.Link = rows[i].ChainLink
	}
	if err := tx.Create(&rows).Error; err != nil {
		return fmt.Errorf("models: record audit event %s: %w", rows[len(rows)-1].Action, err)
	}
	err := tx.Model(&chainHead{}).Where("id = 1").Updates(map[string]any{"seq": head.Seq, "link": head.Link, "key_id": key.id}).Error
	if err != nil {
		return fmt.Errorf("models: link audit events: move the chain's head: %w", err)
	}
	return nil
}

// AuditChainPoint is a place in the audit chain: a position and the link of the event there.
// Logged or kept elsewhere (the scheduled check logs the one it verified last; a SIEM holds
// each event's), it anchors the chain: an anchor missing or changed later shows that events
// were deleted or rewritten, even the newest, even without a key.
type AuditChainPoint struct {
	Position int64
	Link     string
}

// String writes the point as ParseAuditChainPoint reads it: position:link.
func (p AuditChainPoint) String() string { return strconv.FormatInt(p.Position, 10) + ":" + p.Link }

// ParseAuditChainPoint reads a point written position:link, as the scheduled check logs it.
func ParseAuditChainPoint(s string) (AuditChainPoint, error) {
	position, link, ok := strings.Cut(strings.TrimSpace(s), ":")
	n, err := strconv.ParseInt(position, 10, 64)
	if !ok || err != nil || n < 1 || len(link) != 64 || strings.Trim(link, "0123456789abcdef") != "" {
		return AuditChainPoint{}, errors.New("must be position:link, a position (1 or more) and its link (64 hex characters), as the scheduled check logs them")
	}
	return AuditChainPoint{Position: n, Link: link}, nil
}

// AuditChainBreak is a place where the audit chain does not hold.
type AuditChainBreak struct {
	// Position is the chain's position where it breaks: of the event found there, or of the
	// first one missing; 0 for an event outside the chain.
	Position int64
	// EventID is the event's id, and Action and At what it says; zero when it is missing.
	EventID int64
	Action  string
	At      time.Time
	// Problem says what is wrong, in a sentence.
	Problem string
}

// String describes the break on one line.
func (b AuditChainBreak) String() string {
	var where []string
	if b.Position > 0 {
		where = append(where, "position "+formatID(b.Position))
	}
	if b.EventID > 0 {
		where = append(where, fmt.Sprintf("event %d (%s at %s)", b.EventID, b.Action, b.At.UTC().Format(time.RFC3339)))
	}
	return strings.Join(where, ", ") + ": " + b.Problem
}

// Key tells breaks apart: the same break found by two checks has the same key.
func (b AuditChainBreak) Key() string {
	return fmt.Sprintf("%d/%d/%s", b.Position, b.EventID, b.Problem)
}

// AuditChainCheck says what VerifyAuditChain checks.
type AuditChainCheck struct {
	// After, when set, checks only the events after it, which an earlier check verified: the
	// scheduled check goes on from where it stopped rather than read the whole log again.
	After AuditChainPoint
	// Anchors are points logged or kept elsewhere: each must still be in the chain, unchanged,
	// unless the retention job has deleted it.
	Anchors []AuditChainPoint
}

// AuditChainReport is what VerifyAuditChain found.
type AuditChainReport struct {
	// First and Last are the first and last events checked; Checked counts them.
	First, Last AuditChainPoint
	Checked     int64
	// KeyID is the id of the key that links the newest event checked, "" for SHA-256.
	KeyID string
	// UnkeyedTo is the last position linked without a key (SHA-256), 0 for none: among those,
	// a forged event cannot be told from a real one.
	UnkeyedTo int64
	// PrunedTo is the last position the retention job deleted, as its last audit.pruned says.
	PrunedTo int64
	// Legacy counts the events recorded before the chain began, which it cannot vouch for.
	Legacy int64
	// AnchorsChecked counts the anchors found in the chain; the others were deleted by the
	// retention job.
	AnchorsChecked int
	// Breaks are where the chain does not hold, at most maxChainBreaks of them, in the order
	// found; MoreBreaks tells that there were more.
	Breaks     []AuditChainBreak
	MoreBreaks bool
}

// Holds tells whether the chain holds: no break was found.
func (r AuditChainReport) Holds() bool { return len(r.Breaks) == 0 }

// maxChainBreaks bounds the breaks a report lists: past that the log is not to be trusted
// anyway, and the first breaks say where to look.
const maxChainBreaks = 100

// chainBatch is how many events VerifyAuditChain reads at a time, each read within the
// store's deadline.
const chainBatch = 1000

// addBreak adds b to the report, unless the report is full.
func (r *AuditChainReport) addBreak(b AuditChainBreak) {
	if len(r.Breaks) == maxChainBreaks {
		r.MoreBreaks = true
		return
	}
	r.Breaks = append(r.Breaks, b)
}

// breakAt is a break found at row, with what is wrong with it.
func breakAt(row *auditRow, problem string) AuditChainBreak {
	b := AuditChainBreak{EventID: row.ID, Action: row.Action, At: time.UnixMicro(row.At).UTC(), Problem: problem}
	if row.ChainSeq != nil {
		b.Position = *row.ChainSeq
	}
	return b
}

// VerifyAuditChain checks the audit chain with the store's key, and reports where it breaks:
// events missing (deleted) between two positions, at the start (other than by the retention
// job, whose audit.pruned events say where it cut) or at the end (the head or an anchor is
// past the last event); an event whose link does not match its content (changed, or forged
// without the key); an event that does not name the link before it; an event linked without a
// key after keyed ones, or with another key; an event outside the chain that is not from
// before it (inserted). After a break it goes on from the event found, so that one change is
// one break. Each read has the store's deadline; when ctx ends it returns what it checked so
// far with ctx's error, and a later call can go on After its Last. Without the key a keyed
// chain cannot be checked: AuditKeyError.
func (s *Store) VerifyAuditChain(ctx context.Context, check AuditChainCheck) (AuditChainReport, error) {
	key := s.key()
	report := AuditChainReport{Last: check.After}
	read := func(query func(db *gorm.DB) error) error {
		ctx, cancel := s.bound(ctx)
		defer cancel()
		return query(s.db.WithContext(ctx))
	}
	var head chainHead
	if err := read(func(db *gorm.DB) error { return db.Take(&head).Error }); err != nil {
		return report, fmt.Errorf("models: verify the audit chain: read its head: %w", err)
	}
	if head.KeyID != "" && head.KeyID != key.id {
		return report, &AuditKeyError{ChainKeyID: head.KeyID, OwnKeyID: key.id, Position: head.Seq}
	}
	anchors := map[int64]string{}
	for _, anchor := range check.Anchors {
		anchors[anchor.Position] = anchor.Link
	}
	previous := check.After
	// rightLink is the link the previous event should have had, when it has another.
	rightLink := ""
	// Once an event is linked with the key, none after it may be linked without.
	keyed := false
	if previous.Position > 0 {
		var keys []string
		err := read(func(db *gorm.DB) error {
			return db.Model(&auditRow{}).Where("chain_seq = ?", previous.Position).Pluck("chain_key", &keys).Error
		})
		if err != nil {
			return report, fmt.Errorf("models: verify the audit chain after position %d: %w", previous.Position, err)
		}
		keyed = len(keys) > 0 && keys[0] != ""
	}
	for {
		var rows []auditRow
		err := read(func(db *gorm.DB) error {
			return db.Where("chain_seq > ?", previous.Position).Order("chain_seq").Limit(chainBatch).Find(&rows).Error
		})
		if err != nil {
			return report, fmt.Errorf("models: verify the audit chain after position %d: %w", previous.Position, err)
		}
		for i := range rows {
			row := &rows[i]
			position := *row.ChainSeq
			if report.Checked == 0 {
				report.First = AuditChainPoint{Position: position, Link: row.ChainLink}
			}
			var problems []string
			switch {
			case previous.Position == 0:
				// The chain's start; checked below, against the retention job's last cut.
			case position > previous.Position+1 && prunedMeanwhile(read, position-1):
				// The retention job, on this instance or another, deleted the events after the
				// last one read since they were read: the chain starts again here, as if the
				// walk had begun after the cut.
			case position == previous.Position+2:
				problems = append(problems, fmt.Sprintf("position %d is missing before it: deleted", previous.Position+1))
			case position != previous.Position+1:
				problems = append(problems, fmt.Sprintf("positions %d to %d are missing before it: deleted", previous.Position+1, position-1))
			case row.ChainPrev != previous.Link && row.ChainPrev != rightLink:
				problems = append(problems, "it does not name the link of the event before it: changed, or forged")
			}
			linker := key
			switch {
			case row.ChainKey == "" && keyed:
				problems = append(problems, "it is linked without a key after events linked with one: forged")
				linker = nil
			case row.ChainKey == "":
				report.UnkeyedTo, linker = position, &auditKey{}
			case row.ChainKey != key.id:
				problems = append(problems, fmt.Sprintf("it is linked with a key (id %s) other than the audit key (id %q): forged, or made by a process with another key", row.ChainKey, key.id))
				linker = nil
			default:
				keyed = true
			}
			// After a break the next event may name either the link this one carries (its
			// content was changed) or the one it should carry (its link was rewritten): one
			// change is one break.
			rightLink = ""
			if linker != nil {
				if link := linker.link(row); link != row.ChainLink {
					problems = append(problems, "its link does not match its content: changed, or forged")
					rightLink = link
				}
			}
			if link, ok := anchors[position]; ok {
				report.AnchorsChecked++
				if link != row.ChainLink {
					problems = append(problems, "its link is not the anchor's: rewritten since the anchor was taken")
				}
				delete(anchors, position)
			}
			if len(problems) > 0 {
				report.addBreak(breakAt(row, strings.Join(problems, "; ")))
			}
			report.KeyID = row.ChainKey
			report.Checked++
			previous = AuditChainPoint{Position: position, Link: row.ChainLink}
			report.Last = previous
		}
		if len(rows) < chainBatch {
			break
		}
	}
	if err := s.checkChainEnds(read, head, anchors, &report); err != nil {
		return report, err
	}
	return report, nil
}

// lastCut reads the target of the retention job's last audit.pruned, the last position of the
// chain it deleted, into cuts; nothing when it has deleted none.
func lastCut(db *gorm.DB, cuts *[]string) error {
	return db.Model(&auditRow{}).Where("action = ? AND target_type = ? AND chain_seq IS NOT NULL", AuditPruned, TargetAuditChain).
		Order("chain_seq DESC").Limit(1).Pluck("target_id", cuts).Error
}

// prunedMeanwhile tells whether the retention job has deleted the chain up to position at
// least, as its last audit.pruned says: a gap that ends there was made by it while the chain
// was read, not by a deletion to report. A cut that cannot be read explains nothing.
func prunedMeanwhile(read func(func(*gorm.DB) error) error, position int64) bool {
	var cuts []string
	if err := read(func(db *gorm.DB) error { return lastCut(db, &cuts) }); err != nil || len(cuts) == 0 {
		return false
	}
	cut, err := strconv.ParseInt(cuts[0], 10, 64)
	return err == nil && cut >= position
}

// checkChainEnds checks what the walk through the events cannot: that the chain starts where
// the retention job's last cut says (or at 1, at the link before the first), that it reaches
// its head and every anchor, and that every event outside it is from before it began.
func (s *Store) checkChainEnds(read func(func(*gorm.DB) error) error, head chainHead, anchors map[int64]string, report *AuditChainReport) error {
	var first []auditRow
	var cuts []string
	// In one snapshot, so that the chain's first event and the last cut are read as one
	// retention job's commit left them, whatever job runs meanwhile: on PostgreSQL a read
	// committed transaction takes a new snapshot for each statement, and a prune committed
	// between the two reads would look like a deletion; SQLite's transactions are serializable.
	var snapshot *sql.TxOptions
	if s.dialect == DialectPostgres {
		snapshot = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	}
	err := read(func(db *gorm.DB) error {
		return db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Where("chain_seq IS NOT NULL").Order("chain_seq").Limit(1).Find(&first).Error; err != nil {
				return err
			}
			return lastCut(tx, &cuts)
		}, snapshot)
	})
	if err != nil {
		return fmt.Errorf("models: verify the audit chain's start: %w", err)
	}
	if len(cuts) > 0 {
		cut, err := strconv.ParseInt(cuts[0], 10, 64)
		if err != nil || cut < 1 {
			report.addBreak(AuditChainBreak{Problem: fmt.Sprintf("the last audit.pruned names %q as the position it deleted up to: changed", cuts[0])})
		} else {
			report.PrunedTo = cut
		}
	}
	if len(first) > 0 {
		start, firstRow := *first[0].ChainSeq, &first[0]
		switch {
		case report.PrunedTo == 0 && start != 1:
			report.addBreak(breakAt(firstRow, fmt.Sprintf("the chain starts here, yet no audit.pruned says the retention job deleted positions 1 to %d: deleted", start-1)))
		case report.PrunedTo != 0 && start != report.PrunedTo+1:
			report.addBreak(breakAt(firstRow, fmt.Sprintf("the chain starts here, yet the last audit.pruned says the retention job deleted up to position %d: deleted or inserted otherwise", report.PrunedTo)))
		case start == 1 && firstRow.ChainPrev != zeroLink:
			report.addBreak(breakAt(firstRow, "the chain's first event does not name the link before the first: changed, or forged"))
		}
	}
	last := report.Last.Position
	switch {
	case head.Seq > last:
		report.addBreak(AuditChainBreak{Position: last + 1, Problem: fmt.Sprintf("positions %d to %d are missing at the end of the chain, whose head says %d: the newest events were deleted", last+1, head.Seq, head.Seq)})
	case head.Seq == last && last > 0 && head.Link != report.Last.Link:
		report.addBreak(AuditChainBreak{Position: last, Problem: "the chain's head names another link than the newest event's: the head or the event was rewritten"})
	}
	for position := range anchors {
		if position > last {
			report.addBreak(AuditChainBreak{Position: position, Problem: fmt.Sprintf("the chain ends at position %d, before this anchor: the newest events were deleted", last)})
		}
	}
	// Events outside the chain are from before it only up to the id that its first event,
	// audit.chain_started, names; before any event was linked, the head tells.
	legacyLastID := int64(0)
	if head.Seq == 0 {
		legacyLastID = head.LegacyLastID
	} else if len(first) > 0 && *first[0].ChainSeq == 1 && first[0].Action == AuditChainStarted {
		legacyLastID, _ = strconv.ParseInt(first[0].TargetID, 10, 64)
	}
	var outside []auditRow
	err = read(func(db *gorm.DB) error {
		if err := db.Model(&auditRow{}).Where("chain_seq IS NULL AND id <= ?", legacyLastID).Count(&report.Legacy).Error; err != nil {
			return err
		}
		return db.Where("chain_seq IS NULL AND id > ?", legacyLastID).Order("id").Limit(maxChainBreaks + 1).Find(&outside).Error
	})
	if err != nil {
		return fmt.Errorf("models: verify the audit events outside the chain: %w", err)
	}
	for i := range outside {
		report.addBreak(breakAt(&outside[i], "it is outside the chain, and not from before it began: inserted"))
	}
	return nil
}

// RecordAuditChainBreak records b as an audit.chain_broken event by Keysmith, unless one says
// the same already (another check, or another instance, found it first), and tells whether it
// did.
func (s *Store) RecordAuditChainBreak(ctx context.Context, b AuditChainBreak) (bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	detail := auditText(b.String())
	var found []int64
	err := s.db.WithContext(ctx).Model(&auditRow{}).Where("action = ? AND detail = ?", AuditChainBroken, detail).Limit(1).Pluck("id", &found).Error
	if err != nil {
		return false, fmt.Errorf("models: record an audit chain break: %w", err)
	}
	if len(found) > 0 {
		return false, nil
	}
	event := AuditEvent{Action: AuditChainBroken, TargetType: TargetAuditChain, TargetLabel: "the audit log", Detail: detail}
	if b.Position > 0 {
		event.TargetID, event.TargetLabel = formatID(b.Position), fmt.Sprintf("the audit log at position %d", b.Position)
	}
	if err := s.transaction(ctx, func(tx *gorm.DB) error { return s.recordAudit(ctx, tx, event) }); err != nil {
		return false, err
	}
	return true, nil
}
