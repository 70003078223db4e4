package models

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Why a console request was refused, as its authz.denied event's detail begins.
const (
	// DeniedPermission: the account's permission does not allow the action.
	DeniedPermission = "permission"
	// DeniedGuardRail: a rule that keeps the console administrable refused it: nobody
	// disables, demotes or resets their own account, or the last enabled Super admin.
	DeniedGuardRail = "guard_rail"
	// DeniedCSRF: the form's token was missing or wrong, or the browser said the request
	// came from another site.
	DeniedCSRF = "csrf"
)

// Denial is a refused console request, for its authz.denied event: the route as registered
// (GET /admin/users/:id/permission), the path asked for, why (DeniedPermission,
// DeniedGuardRail or DeniedCSRF) and a short, secret-free remark.
type Denial struct {
	Route  string
	Path   string
	Reason string
	Detail string
}

const (
	// denialEventsPerHour is how many refusals of one actor are recorded one by one in an
	// hour; the others are counted, and recorded as one summary event once the hour is over.
	denialEventsPerHour = 10
	// denialAuditActors bounds how many actors are counted apart in an hour. Those past it
	// share one count, so that no flood of addresses makes the memory grow.
	denialAuditActors = 4096
	// denialAuditOthers is the actor key of the shared count.
	denialAuditOthers = ""
	// denialRoutesCounted bounds the reasons and routes one actor's count tells apart; the
	// rest are counted together as other routes.
	denialRoutesCounted = 32
	// denialOtherRoutes names that shared count in a summary.
	denialOtherRoutes = "other routes"
)

// denialLimits bound the authz.denied events per actor and hour.
var denialLimits = floodLimits{period: time.Hour, perPeriod: denialEventsPerHour, maxKeys: denialAuditActors, others: denialAuditOthers}

// denialAudit bounds the authz.denied events per actor and hour (denialLimits), as signInAudit
// does for refused sign-ins per address and minute. An hour's summary is taken once it is
// over, by the next refusal of its actor or by RecordDenialSummaries, and at a stop by
// FlushDenialSummaries.
type denialAudit struct{ counts floodBound[denialCounts] }

// denialCounts counts an actor's refusals not recorded one by one.
type denialCounts struct {
	// unrecorded counts them by reason and route ("permission GET /admin/users").
	unrecorded map[string]int
	// actor is who the summary names: the last refused request's actor, without its request
	// id, which was one request's among many.
	actor AuditActor
}

// denialSummary is an event that sums up refusals not recorded one by one, and its actor.
type denialSummary struct {
	actor AuditActor
	event AuditEvent
}

// denialActorKey is who a refusal is counted against: a signed-in user by id, anyone else by
// client address (an IPv6 client by its /64), as the sign-in throttle counts them.
func denialActorKey(actor AuditActor) string {
	if actor.Type == ActorUser {
		return "user " + actor.ID
	}
	return "address " + clientKey(actor.Address)
}

// admit tells whether a refusal by actor at now, for reason on route, is recorded on its own;
// otherwise it is counted. It returns the summary of the actor's hour if it finds it over.
func (a *denialAudit) admit(actor AuditActor, now time.Time, reason, route string) (bool, []denialSummary) {
	record, over := a.counts.admit(denialLimits, denialActorKey(actor), now, func(counts *denialCounts) {
		if counts.unrecorded == nil {
			counts.unrecorded = map[string]int{}
		}
		what := auditText(reason + " " + route)
		if _, counted := counts.unrecorded[what]; !counted && len(counts.unrecorded) >= denialRoutesCounted {
			what = denialOtherRoutes
		}
		counts.unrecorded[what]++
		// Kept as the log would keep it, each text cut at maxAuditField bytes: a client's user
		// agent may be as long as its headers.
		counts.actor = AuditActor{Type: actor.Type, ID: auditText(actor.ID), Label: auditText(actor.Label),
			Address: auditText(actor.Address), UserAgent: auditText(actor.UserAgent)}
	})
	return record, denialSummaries(over)
}

// over takes the summaries of every hour before now's, or of every hour when all is set (at
// a stop, when the counts would be lost), and forgets those hours.
func (a *denialAudit) over(now time.Time, all bool) []denialSummary {
	return denialSummaries(a.counts.over(denialLimits, now, all))
}

// denialSummaries are the events that sum up each actor's unrecorded refusals of an hour, the
// most frequent first.
func denialSummaries(over []floodOver[denialCounts]) []denialSummary {
	var out []denialSummary
	for _, hour := range over {
		unrecorded := hour.counts.unrecorded
		whats := slices.SortedFunc(maps.Keys(unrecorded), func(a, b string) int {
			return cmp.Or(cmp.Compare(unrecorded[b], unrecorded[a]), strings.Compare(a, b))
		})
		total := 0
		parts := make([]string, len(whats))
		for i, what := range whats {
			total += unrecorded[what]
			parts[i] = fmt.Sprintf("%s %d", what, unrecorded[what])
		}
		who := "by this actor"
		actor := hour.counts.actor
		if hour.key == denialAuditOthers {
			who = fmt.Sprintf("by actors beyond the %d counted apart", denialAuditActors)
			actor = AuditActor{Type: ActorAnonymous}
		}
		refusals := "refusals"
		if total == 1 {
			refusals = "refusal"
		}
		detail := fmt.Sprintf("%d more %s %s in the hour from %s, not recorded one by one: %s",
			total, refusals, who, hour.from.Format(time.RFC3339), strings.Join(parts, ", "))
		out = append(out, denialSummary{actor: actor, event: AuditEvent{At: hour.last, Action: AuditAuthzDenied, Detail: detail}})
	}
	return out
}

// RecordDenial records a refused console request (authz.denied) by the actor ctx carries,
// naming its route and why, within the bound of denialEventsPerHour per actor (a user, or a
// client address for visitors not signed in), with the summaries it finds due. It records no
// change, so it writes on its own.
func (s *Store) RecordDenial(ctx context.Context, d Denial) error {
	record, due := s.denialAudit.admit(AuditActorFrom(ctx), s.now(), d.Reason, d.Route)
	err := s.recordDenialSummaries(ctx, due)
	if !record {
		return err
	}
	detail := d.Reason
	if d.Detail != "" {
		detail += ": " + d.Detail
	}
	event := AuditEvent{Action: AuditAuthzDenied, TargetType: TargetRoute, TargetID: d.Route, TargetLabel: d.Path, Detail: detail}
	return errors.Join(err, s.RecordAudit(ctx, event))
}

// RecordDenialSummaries records the summaries of refusals whose hour is over, and returns how
// many. Each instance counts its own; each runs it every minute.
func (s *Store) RecordDenialSummaries(ctx context.Context) (int, error) {
	due := s.denialAudit.over(s.now(), false)
	return len(due), s.recordDenialSummaries(ctx, due)
}

// FlushDenialSummaries records the summaries of every hour counted so far, the current one
// too, and returns how many: at a stop, so that no count is lost with the process.
func (s *Store) FlushDenialSummaries(ctx context.Context) (int, error) {
	due := s.denialAudit.over(s.now(), true)
	return len(due), s.recordDenialSummaries(ctx, due)
}

// recordDenialSummaries records each summary by the actor it names.
func (s *Store) recordDenialSummaries(ctx context.Context, due []denialSummary) error {
	var errs []error
	for _, summary := range due {
		errs = append(errs, s.RecordAudit(WithAuditActor(ctx, summary.actor), summary.event))
	}
	return errors.Join(errs...)
}
