// Package webhook sends Keysmith's key events (created, rotated, expiring, expired, disabled,
// deleted…) from the outbox in the database to KEYSMITH_WEBHOOK_URL, signed as Standard Webhooks
// says, with retries, apart from every request.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"keysmith/config"
	"keysmith/metrics"
	"keysmith/models"
)

const (
	// webhookPollInterval is how often each instance looks for events due: retries, and events
	// queued by other instances. Events this instance queues wake it at once.
	webhookPollInterval = time.Second
	// expiryScanInterval is how often each instance looks for expiry notices that fell due.
	// Notices count in days; a minute late is on time.
	expiryScanInterval = time.Minute
	// webhookPruneInterval is how often delivered and given-up events past their retention
	// are deleted.
	webhookPruneInterval = time.Hour
	// The first retry waits webhookRetryBase, each next one four times longer, up to
	// webhookRetryCap, plus up to a tenth more at random so that retries spread out: 5 s,
	// 20 s, 80 s, 5 min, 21 min, 85 min, then every 2 h.
	webhookRetryBase = 5 * time.Second
	webhookRetryCap  = 2 * time.Hour
	// An event is given up after webhookMaxAttempts attempts (about a day and a half of
	// retries), or at its first failed attempt webhookMaxAge after it was queued.
	webhookMaxAttempts = 20
	webhookMaxAge      = 3 * 24 * time.Hour
	// webhookClaimMargin is how much longer than the attempt's deadline its claim lasts, so
	// no other instance sends the event while this one may still be sending it.
	webhookClaimMargin = time.Minute
	// webhookAnswerLimit bounds how much of the receiver's answer is read: enough to reuse
	// the connection for a short one, nothing to hold for a long one.
	webhookAnswerLimit = 64 << 10
)

// Results of webhook attempts, as keysmith_webhook_deliveries_total counts them.
const (
	delivered = "delivered"
	failed    = "failed"
	givenUp   = "given_up"
)

// Sender sends the key events of the outbox (models.WebhookEvent) to the configured URL,
// signed as the Standard Webhooks specification says, and queues the expiry notices as they
// fall due. It runs in the background, apart from requests: a receiver that fails or hangs
// slows no request, and its events wait in the outbox, retried with growing delays.
type Sender struct {
	store   *models.Store
	log     *slog.Logger
	metrics *senderMetrics
	url     string
	// host names the receiver in the log; the URL itself may carry a token.
	host    string
	secret  []byte
	timeout time.Duration
	client  *http.Client
	// wake tells the sender that this instance has just queued an event.
	wake chan struct{}
}

// senderMetrics are what the sender counts.
type senderMetrics struct {
	// deliveries counts attempts to deliver events by result.
	deliveries *prometheus.CounterVec
	pending    prometheus.Gauge
}

// New returns the sender for cfg's webhook URL, registering its metrics in registry (whose
// pending gauge reads 0 without a webhook URL); nil when none is set. The store queues events
// for it from then on (models.Store.EnableWebhookEvents), and each change this instance makes
// wakes it, so that its event is sent now, not at the next poll.
func New(cfg config.Config, store *models.Store, log *slog.Logger, registry *metrics.Registry) *Sender {
	m := &senderMetrics{
		deliveries: registry.CounterVec("keysmith_webhook_deliveries_total", "Attempts to deliver webhook events by this instance, by result: delivered (a 2xx answer), failed (to be retried later) or given_up (failed for the last time: too many attempts, or too old).", "result"),
		pending:    registry.Gauge("keysmith_webhook_events_pending", "Webhook events in the outbox neither delivered nor given up, as this instance's sender last counted them (0 without a webhook URL)."),
	}
	for _, result := range []string{delivered, failed, givenUp} {
		m.deliveries.WithLabelValues(result)
	}
	if cfg.WebhookURL == nil {
		return nil
	}
	// Each attempt's context bounds it whole, from connecting to reading the answer.
	dialer := &net.Dialer{KeepAlive: 30 * time.Second}
	w := &Sender{
		store:   store,
		log:     log,
		metrics: m,
		url:     cfg.WebhookURL.String(),
		host:    cfg.WebhookURL.Host,
		secret:  cfg.WebhookSecret,
		timeout: cfg.WebhookTimeout,
		client: &http.Client{
			Transport: &http.Transport{
				Proxy:           http.ProxyFromEnvironment,
				DialContext:     dialer.DialContext,
				MaxIdleConns:    2,
				IdleConnTimeout: time.Minute,
			},
			// A redirect is a failure: the URL is to be corrected, not followed.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		wake: make(chan struct{}, 1),
	}
	store.EnableWebhookEvents()
	store.OnKeyNotice(func(models.KeyNotice) { w.wakeUp() })
	return w
}

// wakeUp makes the sender look for events due now, rather than at its next poll.
func (w *Sender) wakeUp() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run sends events and queues expiry notices until ctx ends. An attempt under way then is
// cut short; its claim runs out and the event is sent again, by this or another instance.
func (w *Sender) Run(ctx context.Context) {
	w.log.Info("webhooks on: key events are sent to the configured URL", "webhook_host", w.host)
	poll := time.NewTicker(webhookPollInterval)
	defer poll.Stop()
	scan := time.NewTicker(expiryScanInterval)
	defer scan.Stop()
	prune := time.NewTicker(webhookPruneInterval)
	defer prune.Stop()
	w.ScanExpiry(ctx)
	for {
		w.DeliverDue(ctx)
		if pending, err := w.store.PendingWebhookEvents(ctx); err == nil {
			w.metrics.pending.Set(float64(pending))
		}
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		case <-w.wake:
		case <-scan.C:
			w.ScanExpiry(ctx)
		case <-prune.C:
			if _, err := w.store.PruneWebhookEvents(ctx); err != nil && ctx.Err() == nil {
				w.log.Error("prune webhook events", "error", err)
			}
		}
	}
}

// ScanExpiry queues the expiry notices that fell due since the last scan
// (models.Store.QueueExpiryEvents). Run calls it every minute; several instances may scan
// together, and each notice is still queued once.
func (w *Sender) ScanExpiry(ctx context.Context) {
	queued, err := w.store.QueueExpiryEvents(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("queue key expiry events", "error", err)
		}
		return
	}
	if queued > 0 {
		w.log.Info("key expiry events queued", "events", queued)
	}
}

// DeliverDue sends every event due, one at a time, until none is left or ctx ends. Run calls
// it every second; instances sending together each claim their own events.
func (w *Sender) DeliverDue(ctx context.Context) {
	for ctx.Err() == nil {
		event, err := w.store.ClaimWebhookEvent(ctx, w.timeout+webhookClaimMargin)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Error("claim webhook event", "error", err)
			}
			return
		}
		if event == nil {
			return
		}
		w.deliver(ctx, event)
	}
}

// deliver makes one attempt at event and records how it went: delivered, to be retried, or
// given up, which is logged once and counted.
func (w *Sender) deliver(ctx context.Context, event *models.WebhookEvent) {
	sendErr := w.send(ctx, event)
	if ctx.Err() != nil {
		// Stopping: the claim runs out and the event is sent again.
		return
	}
	now := w.store.Now()
	var err error
	switch {
	case sendErr == nil:
		if err = w.store.WebhookEventDelivered(ctx, event); err == nil {
			w.metrics.deliveries.WithLabelValues(delivered).Inc()
		}
	case event.Attempts >= webhookMaxAttempts || now.Sub(event.CreatedAt) >= webhookMaxAge || isGone(sendErr):
		if err = w.store.GiveUpWebhookEvent(ctx, event, sendErr.Error()); err == nil {
			w.metrics.deliveries.WithLabelValues(givenUp).Inc()
			w.log.Error("webhook event given up", "event_id", event.ID, "type", string(event.Type), "attempts", event.Attempts,
				"queued_at", event.CreatedAt, "webhook_host", w.host, "error", sendErr.Error())
		}
	default:
		retryAt := now.Add(max(webhookRetryDelay(event.Attempts), askedWait(sendErr)))
		if err = w.store.RetryWebhookEvent(ctx, event, sendErr.Error(), retryAt); err == nil {
			w.metrics.deliveries.WithLabelValues(failed).Inc()
			w.log.Warn("webhook attempt failed", "event_id", event.ID, "type", string(event.Type), "attempt", event.Attempts,
				"retry_at", retryAt, "webhook_host", w.host, "error", sendErr.Error())
		}
	}
	if err != nil && !errors.Is(err, models.ErrWebhookClaimLost) && ctx.Err() == nil {
		w.log.Error("record webhook attempt", "event_id", event.ID, "error", err)
	}
}

// webhookRefusal is a receiver's answer other than a 2xx. retryAfter is how long a 429 or a 503
// asked the sender to wait (its Retry-After, at most webhookRetryCap), zero when it did not.
type webhookRefusal struct {
	status     int
	retryAfter time.Duration
}

func (r *webhookRefusal) Error() string {
	message := fmt.Sprintf("answered %d %s", r.status, http.StatusText(r.status))
	switch {
	case r.status == http.StatusGone:
		message += ": the receiver says this URL is gone for good (KEYSMITH_WEBHOOK_URL)"
	case r.retryAfter > 0:
		message += ", asking to retry after " + r.retryAfter.String()
	}
	return message
}

// isGone tells whether the receiver answered 410 Gone, which the Standard Webhooks
// specification gives a receiver to say that it will never take events at this URL again:
// the event is given up at once, not retried for days.
func isGone(err error) bool {
	var refusal *webhookRefusal
	return errors.As(err, &refusal) && refusal.status == http.StatusGone
}

// askedWait is how long the receiver asked the sender to wait before the next attempt; zero
// when it did not ask.
func askedWait(err error) time.Duration {
	var refusal *webhookRefusal
	if errors.As(err, &refusal) {
		return refusal.retryAfter
	}
	return 0
}

// parseRetryAfter reads a Retry-After header at now: a number of seconds, or an HTTP date. A
// value it cannot read, or one in the past, asks for no wait; one past webhookRetryCap for
// the cap, so that a receiver cannot hold events back for longer than the sender's own
// longest delay.
func parseRetryAfter(value string, now time.Time) time.Duration {
	var wait time.Duration
	if seconds, err := strconv.ParseUint(value, 10, 64); err == nil {
		wait = time.Duration(min(seconds, uint64(webhookRetryCap/time.Second))) * time.Second
	} else if at, err := http.ParseTime(value); err == nil {
		wait = at.Sub(now)
	}
	return min(max(wait, 0), webhookRetryCap)
}

// webhookRetryDelay is how long to wait after the attempts-th failed attempt.
func webhookRetryDelay(attempts int) time.Duration {
	delay := webhookRetryBase
	for i := 1; i < attempts && delay < webhookRetryCap; i++ {
		delay *= 4
	}
	delay = min(delay, webhookRetryCap)
	return delay + rand.N(delay/10+1)
}

// send posts event to the receiver, signed, within the attempt's deadline. Any answer but a
// 2xx is a failure, a redirect included: a *webhookRefusal, which carries the Retry-After of a
// 429 or a 503. The error says why in words safe to log: never the URL, which may carry a
// token.
func (w *Sender) send(ctx context.Context, event *models.WebhookEvent) error {
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, strings.NewReader(event.Body))
	if err != nil {
		return errors.New("cannot make the request")
	}
	timestamp := strconv.FormatInt(w.store.Now().Unix(), 10)
	// Written as the specification names them (HTTP/1.1 headers compare without case).
	req.Header["webhook-id"] = []string{event.ID}
	req.Header["webhook-timestamp"] = []string{timestamp}
	req.Header["webhook-signature"] = []string{signWebhook(w.secret, event.ID, timestamp, event.Body)}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Keysmith-Webhooks/1")
	res, err := w.client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("no answer within %s", w.timeout)
		}
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, io.LimitReader(res.Body, webhookAnswerLimit))
	if res.StatusCode < 200 || res.StatusCode > 299 {
		refusal := &webhookRefusal{status: res.StatusCode}
		if res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable {
			refusal.retryAfter = parseRetryAfter(res.Header.Get("Retry-After"), w.store.Now())
		}
		return refusal
	}
	return nil
}

// signWebhook is the webhook-signature of a message, as Standard Webhooks defines it: "v1,"
// and the base64 of the HMAC-SHA256, keyed with the secret, of the id, the timestamp and the
// body joined by full stops.
func signWebhook(secret []byte, id, timestamp, body string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(id + "." + timestamp + "." + body))
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
