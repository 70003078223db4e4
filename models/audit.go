package models

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"
)

// The kinds of actor an audit event names.
const (
	ActorUser      = "user"      // a person signed in to the console; ID is the user id
	ActorKey       = "key"       // a client authenticated by an API key; ID is the key id
	ActorCLI       = "cli"       // a command-line action; Label is the operating system user
	ActorAnonymous = "anonymous" // nobody signed in yet: a failed sign-in, the setup link
	ActorSystem    = "system"    // Keysmith itself: a grace period ending, the retention job
)

// AuditActor is who acts, and from where: a request carries it in its context
// (WithAuditActor), and every audit event recorded for that context names it.
type AuditActor struct {
	Type      string
	ID        string
	Label     string
	Address   string
	UserAgent string
	RequestID string
}

type auditActorKey struct{}

// WithAuditActor returns ctx carrying actor, for the audit events recorded under it.
func WithAuditActor(ctx context.Context, actor AuditActor) context.Context {
	return context.WithValue(ctx, auditActorKey{}, actor)
}

// AuditActorFrom returns the actor ctx carries; without one, the actor is Keysmith itself.
func AuditActorFrom(ctx context.Context) AuditActor {
	if actor, ok := ctx.Value(auditActorKey{}).(AuditActor); ok {
		return actor
	}
	return AuditActor{Type: ActorSystem}
}

// UserActor names a console user as an actor.
func UserActor(user *User) AuditActor {
	return AuditActor{Type: ActorUser, ID: formatID(user.ID), Label: user.Email}
}

// formatID writes a database id as the audit log names it.
func formatID(id int64) string { return strconv.FormatInt(id, 10) }

// AuditEvent is one entry of the audit log. The actor and its address, user agent and request
// id come from the context it is recorded under.
type AuditEvent struct {
	ID int64
	// At is when it happened: the store's time when recorded, unless set.
	At          time.Time
	Actor       AuditActor
	Action      string
	TargetType  string
	TargetID    string
	TargetLabel string
	// Detail is a short, secret-free remark: a reason, a count, what changed.
	Detail string
	// Chain is the event's position in the audit chain and its link, as read (the zero point
	// for an event recorded before the chain began). A copy kept elsewhere, as a SIEM keeps
	// the API's events, anchors the chain there (AuditChainPoint).
	Chain AuditChainPoint
}

// auditRow is an AuditEvent as the audit_events table holds it.
type auditRow struct {
	ID          int64
	At          int64
	ActorType   string
	ActorID     string
	ActorLabel  string
	Action      string
	TargetType  string
	TargetID    string
	TargetLabel string
	Address     string
	UserAgent   string
	RequestID   string
	Detail      string
	// The event's place in the audit chain (audit_chain.go): its position, the link of the
	// event before it, the id of the key that links it ("" for SHA-256) and its own link.
	// ChainSeq is nil for an event recorded before the chain began.
	ChainSeq  *int64
	ChainPrev string
	ChainKey  string
	ChainLink string
}

func (auditRow) TableName() string { return "audit_events" }

// maxAuditField bounds each text an event holds, so that no client can make an event large.
const maxAuditField = 512

// auditText makes s safe to store and show: invalid UTF-8, control and invisible characters
// are written as escapes (\x00, \u200b), and the result is cut at maxAuditField bytes. A
// target that is not valid text is so recorded escaped, never refused: the event matters more.
func auditText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < maxAuditField; {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Co, unicode.Zl, unicode.Zp):
			if r < 0x80 {
				fmt.Fprintf(&b, `\x%02x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
		i += size
	}
	out := b.String()
	if len(out) > maxAuditField {
		out = out[:maxAuditField]
		for !utf8.ValidString(out) {
			out = out[:len(out)-1]
		}
	}
	return out
}

// recordAudit appends ev, by the actor ctx carries, in transaction tx, which Store.transaction
// began: the event is written, linked into the audit chain, as the transaction's last
// statement, if and only if the change it records is.
func (s *Store) recordAudit(ctx context.Context, tx *gorm.DB, ev AuditEvent) error {
	pending, _ := tx.Statement.Context.Value(pendingAuditKey{}).(*pendingAudit)
	if pending == nil {
		return fmt.Errorf("models: record audit event %s: not in a transaction of Store.transaction, which links events into the chain", ev.Action)
	}
	actor := AuditActorFrom(ctx)
	at := ev.At
	if at.IsZero() {
		at = s.now()
	}
	row := auditRow{
		At:          at.UnixMicro(),
		ActorType:   actor.Type,
		ActorID:     auditText(actor.ID),
		ActorLabel:  auditText(actor.Label),
		Action:      ev.Action,
		TargetType:  ev.TargetType,
		TargetID:    auditText(ev.TargetID),
		TargetLabel: auditText(ev.TargetLabel),
		Address:     auditText(actor.Address),
		UserAgent:   auditText(actor.UserAgent),
		RequestID:   auditText(actor.RequestID),
		Detail:      auditText(ev.Detail),
	}
	pending.rows = append(pending.rows, row)
	return nil
}

// RecordAudit appends ev, by the actor ctx carries, on its own: for events that record no
// change of Keysmith's (a sign-in refused, a sign-out).
func (s *Store) RecordAudit(ctx context.Context, ev AuditEvent) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.transaction(ctx, func(tx *gorm.DB) error { return s.recordAudit(ctx, tx, ev) })
}
