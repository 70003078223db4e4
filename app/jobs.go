package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"keysmith/models"
)

// job is background work of a serving instance. Every job starts with the instance and stops
// once its requests have drained (App.Serve); then the finals of every job run together,
// within what is left of the stop's timeout.
type job struct {
	name string
	// every is how often run runs; zero for a run that loops on its own until its context
	// ends. atStart runs it at start too, not only after the first interval.
	every   time.Duration
	atStart bool
	run     func(context.Context) error
	// final, when set, is the job's last write, once no request is served and no job runs
	// any more: what the process would otherwise take with it.
	final func(context.Context) error
}

// jobs is every background job of the instance serving at address, read top to bottom:
//   - the gathered uses of keys are written every 2 seconds, the refusals of keys recorded as
//     they come, and the index of secret hashes built at start, every hour and after the
//     revocation listener reconnected (services/keyauth);
//   - the heartbeat is written every KEYSMITH_HEARTBEAT_INTERVAL, and the instance deregisters
//     at the end; its acknowledgements of revocations are written as they come
//     (services/cluster);
//   - every graceSweepInterval, the graces of rotated keys' previous secrets that are over
//     are ended: those nobody presents any more, which verification never notices. Each
//     instance refuses such a secret on its own, as it refuses an expired key; ending it
//     records that and tells every instance (models.Store.EndGrace), once;
//   - ended sessions are deleted every ten minutes; they are refused anyway, this only keeps
//     the table small;
//   - the sign-in throttle's buckets that are full again are deleted every minute, so that the
//     table holds only what recent attempts left, whatever a flood made (a bucket refills one
//     token a minute, so none waits longer than that past its time);
//   - every signInSummaryInterval, the refused sign-ins that were counted rather than recorded
//     one by one in a minute now over are recorded as one event per address and action; every
//     denialSummaryInterval, the refused console requests counted in an hour now over, one
//     event per actor (and the current hour's at the end);
//   - at start and every hour, the audit log is pruned to KEYSMITH_AUDIT_RETENTION; its chain
//     is checked at start and every 10 minutes, and on PostgreSQL its feed every 5 seconds
//     (services/auditlog);
//   - with KEYSMITH_WEBHOOK_URL, the key events are sent (services/webhook).
func (a *App) jobs(address string) []job {
	store, keys, instance, audit := a.Store, a.Keys, a.Cluster, a.AuditLog
	jobs := []job{
		{name: "write key uses", run: loop(keys.RunUsageFlusher), final: func(ctx context.Context) error {
			keys.FlushUsageAtShutdown(ctx)
			return nil
		}},
		{name: "record api key refusals in the audit log", run: loop(keys.RunRefusalWriter), final: keys.FlushRefusals},
		{name: "build the index of secret hashes", run: loop(keys.RunIndex)},
		// No heartbeat may register the instance again once it has deregistered: the final
		// runs once the job has stopped.
		{name: "heartbeat", run: loop(func(ctx context.Context) { instance.RunHeartbeat(ctx, address) }), final: func(ctx context.Context) error {
			instance.Deregister(ctx)
			return nil
		}},
		{name: "write revocation acknowledgements", run: loop(instance.RunAcks)},
		{name: "end over graces", every: graceSweepInterval, run: func(ctx context.Context) error {
			_, err := store.EndOverGraces(ctx)
			return err
		}},
		{name: "sweep sessions", every: sessionSweepInterval, run: func(ctx context.Context) error {
			_, err := store.DeleteExpiredSessions(ctx, a.Config.SessionIdleTimeout)
			return err
		}},
		{name: "prune sign-in buckets", every: bucketPruneInterval, run: func(ctx context.Context) error {
			_, err := store.PruneSignInBuckets(ctx)
			return err
		}},
		{name: "record summaries of refused sign-ins", every: signInSummaryInterval, run: func(ctx context.Context) error {
			_, err := store.RecordSignInSummaries(ctx)
			return err
		}},
		{name: "record summaries of refused console requests", every: denialSummaryInterval, run: func(ctx context.Context) error {
			_, err := store.RecordDenialSummaries(ctx)
			return err
		}, final: func(ctx context.Context) error {
			_, err := store.FlushDenialSummaries(ctx)
			return err
		}},
		{name: "prune the audit log", every: auditPruneInterval, atStart: true, run: audit.Prune},
		{name: "check the audit chain", every: auditChainCheckInterval, atStart: true, run: audit.CheckChain},
	}
	if store.Dialect() == models.DialectPostgres {
		jobs = append(jobs, job{name: "check the audit feed", every: auditFeedCheckInterval, atStart: true, run: audit.CheckFeed})
	}
	if a.Webhooks != nil {
		jobs = append(jobs, job{name: "send webhook events", run: loop(a.Webhooks.Run)})
	}
	return jobs
}

// How often the periodic jobs run (see jobs).
const (
	graceSweepInterval      = 5 * time.Second
	sessionSweepInterval    = 10 * time.Minute
	bucketPruneInterval     = time.Minute
	signInSummaryInterval   = 10 * time.Second
	denialSummaryInterval   = time.Minute
	auditPruneInterval      = time.Hour
	auditChainCheckInterval = 10 * time.Minute
	auditFeedCheckInterval  = 5 * time.Second
)

// loop makes a job's run of a function that loops on its own until ctx ends.
func loop(run func(context.Context)) func(context.Context) error {
	return func(ctx context.Context) error {
		run(ctx)
		return nil
	}
}

// startJobs starts every job under one supervisor, until ctx ends; Wait waits for them all. A
// job that fails is logged under its name and runs again at its next interval: the jobs keep
// tables small and the instance's state written, and none is worth stopping the instance for.
func startJobs(ctx context.Context, log *slog.Logger, jobs []job) *errgroup.Group {
	var supervisor errgroup.Group
	for _, j := range jobs {
		supervisor.Go(func() error {
			runJob(ctx, log, j)
			return nil
		})
	}
	return &supervisor
}

// runJob runs j until ctx ends: once if it loops on its own, else at start when asked and
// every interval.
func runJob(ctx context.Context, log *slog.Logger, j job) {
	attempt := func() {
		if err := j.run(ctx); err != nil && ctx.Err() == nil {
			log.Error(j.name, "error", err)
		}
	}
	if j.every == 0 || j.atStart {
		attempt()
	}
	if j.every == 0 {
		return
	}
	ticker := time.NewTicker(j.every)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			attempt()
		}
	}
}

// runFinals runs the finals of every job together, and waits for them all; each has ctx's
// deadline. A final that fails is logged under its job's name.
func runFinals(ctx context.Context, log *slog.Logger, jobs []job) {
	var finals sync.WaitGroup
	for _, j := range jobs {
		if j.final == nil {
			continue
		}
		finals.Go(func() {
			if err := j.final(ctx); err != nil {
				log.Warn("stopping: "+j.name, "error", err)
			}
		})
	}
	finals.Wait()
}
