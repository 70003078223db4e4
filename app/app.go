// Package app is the one place that wires Keysmith: the store, then the services, then the
// web platform and the handlers; and that runs a serving instance: its revocation listener, its
// background jobs (the table in jobs.go, under one supervisor) and its web server, stopped in
// order. `keysmith serve` and the test harness build the application here, and nowhere else.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"keysmith/config"
	"keysmith/handlers"
	"keysmith/handlers/api"
	"keysmith/metrics"
	"keysmith/models"
	"keysmith/services/auditlog"
	"keysmith/services/cluster"
	"keysmith/services/keyauth"
	"keysmith/services/webhook"
	"keysmith/web"
)

// App is Keysmith built over a store: every service, the web server with every route, and the
// registry of their metrics.
type App struct {
	Config  config.Config
	Store   *models.Store
	Log     *slog.Logger
	Metrics *metrics.Registry
	// Keys verifies API keys; Cluster is this process among the instances sharing the
	// database; AuditLog keeps the audit log; Webhooks sends key events, nil without
	// KEYSMITH_WEBHOOK_URL.
	Keys     *keyauth.Verifier
	Cluster  *cluster.Instance
	AuditLog *auditlog.Keeper
	Webhooks *webhook.Sender
	Server   *web.Server
}

// New builds Keysmith over store, which is open and migrated. sessionKeys sign cookies and
// CSRF tokens (the first one signs, all verify).
func New(cfg config.Config, store *models.Store, log *slog.Logger, sessionKeys [][]byte) *App {
	registry := metrics.New(store)
	keys := keyauth.New(store, log, registry, cfg.KeyCacheSize, cfg.VerifyDBTimeout, cfg.StaleKeysFor)
	instance := cluster.New(store, keys, log, registry, cfg.HeartbeatInterval)
	a := &App{
		Config: cfg, Store: store, Log: log, Metrics: registry,
		Keys:     keys,
		Cluster:  instance,
		AuditLog: auditlog.New(store, log, registry, cfg.AuditRetention),
		Webhooks: webhook.New(cfg, store, log, registry),
		Server:   web.New(cfg, store, log, sessionKeys, registry, keys),
	}
	handlers.New(store, a.Server, keys, instance, cfg, log).Register(a.Server.Echo)
	api.New(store, a.Server, keys).Register(a.Server.Echo)
	return a
}

// Serve runs the instance on listener until ctx ends, and then stops it within
// KEYSMITH_SHUTDOWN_TIMEOUT. In order:
//  1. the revocation listener starts, so that the key cache and the index of secret hashes
//     hear of every change from now on; it stops last, so that the cache stays vouched for
//     while requests drain;
//  2. the metrics endpoint listens, when KEYSMITH_METRICS_ADDR is set;
//  3. the instance registers, so that it counts before its first request (a failure is tried
//     again by the heartbeat job);
//  4. the background jobs start (jobs);
//  5. the web server serves, and when ctx ends drains its requests (web.Server.Serve);
//  6. every job is stopped and waited for; then their last writes run together (a job's
//     final), until done or the timeout.
func (a *App) Serve(ctx context.Context, listener net.Listener) error {
	// When ctx ends, the stop's budget starts.
	var stopBegan atomic.Int64
	stopAt := context.AfterFunc(ctx, func() { stopBegan.Store(time.Now().UnixNano()) })
	defer stopAt()
	listening, stopListening := context.WithCancel(context.Background())
	defer stopListening()
	if err := a.Cluster.Listen(listening); err != nil {
		listener.Close()
		return err
	}
	background, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	if a.Config.MetricsAddr != "" {
		if err := a.Server.Metrics.ServeMetrics(background, a.Config.MetricsAddr, a.Log); err != nil {
			listener.Close()
			return fmt.Errorf("app: metrics listener: %w", err)
		}
	}
	address := listener.Addr().String()
	if err := a.Cluster.Heartbeat(background, address); err != nil {
		a.Log.Warn("could not register this instance; trying again", "instance", a.Cluster.ID(), "error", err)
	}
	jobs := a.jobs(address)
	supervisor := startJobs(background, a.Log, jobs)
	err := a.Server.Serve(ctx, listener)
	// An attempt to deliver a webhook event is cut short here; its claim runs out and the event
	// is sent again.
	stopBackground()
	supervisor.Wait()
	deadline := time.Now().Add(a.Config.ShutdownTimeout)
	if began := stopBegan.Load(); began != 0 {
		deadline = time.Unix(0, began).Add(a.Config.ShutdownTimeout)
	}
	final, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	runFinals(final, a.Log, jobs)
	return err
}
