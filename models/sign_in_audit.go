package models

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Why a sign-in failed, as its session.sign_in_failed event's detail says. The sign-in page
// says none of it: it answers every failed check alike.
const (
	SignInUnknownAccount = "unknown_account"
	SignInWrongPassword  = "wrong_password"
	SignInDisabled       = "disabled"
	SignInMalformed      = "malformed_input"
	// SignInDamagedHash: the account's stored password hash cannot be read, so no password
	// can sign in to it until it is reset.
	SignInDamagedHash = "damaged_password_hash"
	// SignInNoPassword: the account has no password yet (invited, or reset), so only its
	// one-time link can give it one.
	SignInNoPassword = "no_password_yet"
)

const (
	// signInEventsPerMinute is how many refused sign-ins (failed or throttled) from one client
	// address are recorded one by one in a minute; the others are counted, and recorded as one
	// summary event per action once the minute is over.
	signInEventsPerMinute = 5
	// signInAuditClients bounds how many client addresses are counted apart in a minute.
	// Those past it share one count, so that no flood of addresses makes the memory grow.
	signInAuditClients = 4096
	// signInAuditOthers is the client key of the shared count.
	signInAuditOthers = ""
)

// signInLimits bound the audit events of refused sign-ins per client address and minute.
var signInLimits = floodLimits{period: time.Minute, perPeriod: signInEventsPerMinute, maxKeys: signInAuditClients, others: signInAuditOthers}

// signInAudit bounds the audit events of refused sign-ins per client address and minute
// (signInLimits). A minute's summaries are taken once it is over, by the next refusal from its
// address or by RecordSignInSummaries.
type signInAudit struct{ counts floodBound[signInCounts] }

// signInCounts counts the refused sign-ins of a client address not recorded one by one: by
// action, then by reason.
type signInCounts map[string]map[string]int

// signInSummary is an event that sums up refusals not recorded one by one, and the address it
// is about.
type signInSummary struct {
	address string
	event   AuditEvent
}

// admit tells whether the refusal of a sign-in from client (its clientKey) at now, for action
// and reason, is recorded on its own; otherwise it is counted. It returns the summaries of the
// client's minute that it finds over.
func (a *signInAudit) admit(client string, now time.Time, action, reason string) (bool, []signInSummary) {
	record, over := a.counts.admit(signInLimits, client, now, func(counts *signInCounts) {
		if *counts == nil {
			*counts = signInCounts{}
		}
		if (*counts)[action] == nil {
			(*counts)[action] = map[string]int{}
		}
		(*counts)[action][reason]++
	})
	return record, signInSummaries(over)
}

// over takes the summaries of every minute before now's, and forgets those minutes.
func (a *signInAudit) over(now time.Time) []signInSummary {
	return signInSummaries(a.counts.over(signInLimits, now, false))
}

// signInSummaries are the events that sum up the minutes' unrecorded refusals, one per address
// and action.
func signInSummaries(over []floodOver[signInCounts]) []signInSummary {
	var out []signInSummary
	for _, minute := range over {
		from := minute.from.Format(time.RFC3339)
		for _, action := range slices.Sorted(maps.Keys(minute.counts)) {
			reasons := minute.counts[action]
			total := 0
			var parts []string
			for _, reason := range slices.Sorted(maps.Keys(reasons)) {
				total += reasons[reason]
				parts = append(parts, fmt.Sprintf("%s %d", reason, reasons[reason]))
			}
			where := "from this address"
			if minute.key == signInAuditOthers {
				where = fmt.Sprintf("from addresses beyond the %d counted apart", signInAuditClients)
			}
			detail := fmt.Sprintf("%d more %s in the minute from %s, not recorded one by one (%s)",
				total, where, from, strings.Join(parts, ", "))
			out = append(out, signInSummary{address: minute.key, event: AuditEvent{At: minute.last, Action: action, Detail: detail}})
		}
	}
	return out
}

// signInRefusal is why a sign-in was refused, for its audit event: its action and reason,
// and the account it named.
type signInRefusal struct {
	action, reason, detail string
	user                   *User
}

// auditSignInRefusal records a refused sign-in, within the bound of signInEventsPerMinute per
// client address, with the summaries it finds due. The event names the account: the user when
// there is one, and otherwise the email as typed (typedAccount).
func (s *Store) auditSignInRefusal(ctx context.Context, attempt SignInAttempt, refusal signInRefusal) error {
	record, due := s.signInAudit.admit(clientKey(attempt.Address), s.now(), refusal.action, refusal.reason)
	err := s.recordSignInSummaries(ctx, due)
	if !record {
		return err
	}
	event := AuditEvent{Action: refusal.action, TargetType: TargetUser, TargetLabel: typedAccount(attempt.Email), Detail: refusal.detail}
	if refusal.user != nil {
		event = UserAudit(refusal.action, refusal.user, refusal.detail)
	}
	return errors.Join(err, s.RecordAudit(ctx, event))
}

// notAnEmail stands in the audit log for what was typed as an email but does not look like
// one: people type a password into the email field, and the log must not keep it.
const notAnEmail = "(not an email address)"

// typedAccount is the email a refused sign-in named, as the audit log keeps it: trimmed and in
// lower case, as the user filter and the accounts compare emails, or as it is, to be escaped
// (auditText), if it is not text; notAnEmail when it does not have an email's shape: a name,
// one @ and a domain with a dot, without spaces.
func typedAccount(typed string) string {
	email := strings.TrimSpace(typed)
	if utf8.ValidString(email) {
		// Not otherwise: ToLower would replace the invalid bytes, which auditText escapes.
		email = strings.ToLower(email)
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || strings.Contains(domain, "@") || !strings.Contains(strings.Trim(domain, "."), ".") ||
		strings.ContainsFunc(email, unicode.IsSpace) || len(email) > 254 {
		return notAnEmail
	}
	return email
}

// RecordSignInSummaries records the summaries of refused sign-ins whose minute is over, and
// returns how many. Each instance counts its own; each runs it every few seconds.
func (s *Store) RecordSignInSummaries(ctx context.Context) (int, error) {
	due := s.signInAudit.over(s.now())
	return len(due), s.recordSignInSummaries(ctx, due)
}

// recordSignInSummaries records each summary by an anonymous actor at its address.
func (s *Store) recordSignInSummaries(ctx context.Context, due []signInSummary) error {
	var errs []error
	for _, summary := range due {
		actor := AuditActor{Type: ActorAnonymous, Address: summary.address}
		errs = append(errs, s.RecordAudit(WithAuditActor(ctx, actor), summary.event))
	}
	return errors.Join(errs...)
}
