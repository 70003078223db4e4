package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// KeyEvent is the type of a webhook event about a key, as its body's "type" names it.
type KeyEvent string

// The events announced by webhook over a key's life.
const (
	// KeyEventExpiring: the key expires in 30, 7 or 1 days (QueueExpiryEvents).
	KeyEventExpiring KeyEvent = "key.expiring"
	// KeyEventExpired: the key has expired (QueueExpiryEvents).
	KeyEventExpired    KeyEvent = "key.expired"
	KeyEventRotated    KeyEvent = "key.rotated"
	KeyEventGraceEnded KeyEvent = "key.grace_ended"
	KeyEventDisabled   KeyEvent = "key.disabled"
	KeyEventEnabled    KeyEvent = "key.enabled"
	KeyEventDeleted    KeyEvent = "key.deleted"
	// KeyEventRenamed: the key has a new name, which its later events carry.
	KeyEventRenamed KeyEvent = "key.renamed"
)

// WebhookEvent is an event in the outbox: written in the transaction of the change it
// announces, or by the expiry scheduler, and sent afterwards by whichever instance claims it
// (ClaimWebhookEvent), until delivered or given up.
type WebhookEvent struct {
	// ID is the event's webhook-id: the same for every attempt, so a receiver can drop
	// repeats. It never holds a full stop, which the signed content uses as its separator.
	ID   string
	Type KeyEvent
	// Body is the JSON sent and signed, byte for byte.
	Body          string
	CreatedAt     time.Time
	NextAttemptAt time.Time
	// Attempts counts the attempts begun, the one being made included once claimed.
	Attempts    int
	LastError   string
	DeliveredAt *time.Time
	GivenUpAt   *time.Time
}

// keyEventBody is a webhook event's JSON body, in the Standard Webhooks shape: the type, when
// the event happened, and the key it is about.
type keyEventBody struct {
	Type      KeyEvent     `json:"type"`
	Timestamp time.Time    `json:"timestamp"`
	Data      keyEventData `json:"data"`
}

type keyEventData struct {
	KeyID     string     `json:"key_id"`
	Name      string     `json:"name"`
	Scope     Scope      `json:"scope"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// newKeyEvent makes the outbox row of event about key, which happened at occurred.
func newKeyEvent(id string, event KeyEvent, key *APIKey, occurred, now time.Time) (WebhookEvent, error) {
	body, err := json.Marshal(keyEventBody{
		Type:      event,
		Timestamp: occurred.UTC(),
		Data:      keyEventData{KeyID: key.PublicID, Name: key.Name, Scope: key.Scope, ExpiresAt: key.ExpiresAt},
	})
	if err != nil {
		return WebhookEvent{}, fmt.Errorf("models: webhook event body: %w", err)
	}
	return WebhookEvent{ID: id, Type: event, Body: string(body), CreatedAt: now, NextAttemptAt: now}, nil
}

// EnableWebhookEvents makes the store queue webhook events; until then it queues none, so an
// instance without a webhook URL fills no outbox that nobody empties.
func (s *Store) EnableWebhookEvents() { s.webhooks.Store(true) }

// queueKeyEvent puts event about key in the outbox, in tx: the transaction of the change it
// announces, so the event is queued if, and only if, the change is committed. Every store
// operation that changes a key calls it inside changeKey's function, after the change.
func (s *Store) queueKeyEvent(tx *gorm.DB, event KeyEvent, key *APIKey) error {
	if !s.webhooks.Load() {
		return nil
	}
	now := s.now()
	row, err := newKeyEvent("evt_"+randomBase62(22), event, key, now, now)
	if err != nil {
		return err
	}
	if err := tx.Create(&row).Error; err != nil {
		return fmt.Errorf("models: queue %s event: %w", event, err)
	}
	return nil
}

// expiryNotice is one of the events sent as a key's expiry nears: before its expiry.
type expiryNotice struct {
	event  KeyEvent
	name   string
	before time.Duration
}

// expiryNotices are in the order they fall due; each is superseded by the next once that one
// is due too, so an instance back after days away sends the latest notice, not three at once.
var expiryNotices = []expiryNotice{
	{KeyEventExpiring, "expiring_30d", 30 * 24 * time.Hour},
	{KeyEventExpiring, "expiring_7d", 7 * 24 * time.Hour},
	{KeyEventExpiring, "expiring_1d", 24 * time.Hour},
	{KeyEventExpired, "expired", 0},
}

// ExpiryNoticesCatchUp is how far back an instance's first scan for expiry notices looks, so
// that notices due while no instance ran are sent late rather than never, and keys that
// expired long before webhooks were set up are not announced now.
const ExpiryNoticesCatchUp = 7 * 24 * time.Hour

// WebhookEventRetention is how long delivered and given-up events are kept. A scan finds a
// notice only if its moment is at most ExpiryNoticesCatchUp old, and its event was queued at
// or after that moment; kept longer than that, no event is pruned that a scan could queue
// again.
const WebhookEventRetention = 45 * 24 * time.Hour

// expiryNoticeBatch bounds the keys read, and the events written, at once by a scan.
const expiryNoticeBatch = 500

// QueueExpiryEvents queues a key.expiring event for each key whose expiry is 30, 7 or 1 days
// away, and a key.expired event for each key that has expired, for the moments that fell since
// this store's last scan (ExpiryNoticesCatchUp ago for the first). A notice is queued only if
// its moment came after the key's creation, and not once a later notice is due. Its id is made
// from the key, the notice and the expiry, so every instance that finds it due queues the same
// event, which is inserted once; a key given a new expiry gets new notices. It returns how
// many events it queued.
func (s *Store) QueueExpiryEvents(ctx context.Context) (int, error) {
	s.expiryScan.Lock()
	defer s.expiryScan.Unlock()
	ctx, cancel := s.bound(ctx)
	defer cancel()
	now := s.now()
	since := s.expiryScan.until
	if since.IsZero() {
		since = now.Add(-ExpiryNoticesCatchUp)
	}
	if !now.After(since) {
		// The clock went back (a test, or a corrected clock): scan from here on.
		s.expiryScan.until = now
		return 0, nil
	}
	queued := 0
	for i, notice := range expiryNotices {
		var keys []APIKey
		// The notice's moment, expires_at - before, is in (since, now].
		err := s.db.WithContext(ctx).Where("expires_at > ? AND expires_at <= ?", since.Add(notice.before), now.Add(notice.before)).
			FindInBatches(&keys, expiryNoticeBatch, func(tx *gorm.DB, _ int) error {
				var events []WebhookEvent
				for k := range keys {
					key := &keys[k]
					moment := key.ExpiresAt.Add(-notice.before)
					if !moment.After(key.CreatedAt) {
						continue
					}
					if i+1 < len(expiryNotices) && !key.ExpiresAt.Add(-expiryNotices[i+1].before).After(now) {
						continue
					}
					id := key.PublicID + "_" + notice.name + "_" + strconv.FormatInt(key.ExpiresAt.Unix(), 10)
					event, err := newKeyEvent(id, notice.event, key, moment, now)
					if err != nil {
						return err
					}
					events = append(events, event)
				}
				n, err := s.insertNewEvents(ctx, events)
				queued += n
				return err
			}).Error
		if err != nil {
			return queued, fmt.Errorf("models: queue expiry events: %w", err)
		}
	}
	s.expiryScan.until = now
	return queued, nil
}

// insertNewEvents inserts the events whose ids are not in the outbox yet, in the order of
// their ids, so that instances inserting the same events concurrently wait for each other in
// one order and never deadlock; it returns how many it inserted.
func (s *Store) insertNewEvents(ctx context.Context, events []WebhookEvent) (int, error) {
	if len(events) == 0 {
		return 0, nil
	}
	slices.SortFunc(events, func(a, b WebhookEvent) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	res := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&events)
	return int(res.RowsAffected), res.Error
}

// webhookEventColumns are the columns a claim returns, in WebhookEvent's order.
const webhookEventColumns = "id, type, body, created_at, next_attempt_at, attempts, last_error, delivered_at, given_up_at"

// ClaimWebhookEvent takes the event due soonest for an attempt, and counts the attempt; nil
// when none is due. The claim lasts lease: until then no instance takes the event again, and
// after it any may, so an event whose sender died is sent again. On PostgreSQL instances
// claiming together skip each other's rows (FOR UPDATE SKIP LOCKED); SQLite, which serves one
// instance, runs one write at a time.
func (s *Store) ClaimWebhookEvent(ctx context.Context, lease time.Duration) (*WebhookEvent, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	now := s.now()
	lock := ""
	if s.dialect == DialectPostgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var claimed []WebhookEvent
	err := s.db.WithContext(ctx).Raw(`UPDATE webhook_events SET attempts = attempts + 1, next_attempt_at = ?
		WHERE id = (SELECT id FROM webhook_events
			WHERE delivered_at IS NULL AND given_up_at IS NULL AND next_attempt_at <= ?
			ORDER BY next_attempt_at, id LIMIT 1`+lock+`)
		RETURNING `+webhookEventColumns, now.Add(lease), now).Scan(&claimed).Error
	if err != nil {
		return nil, fmt.Errorf("models: claim webhook event: %w", err)
	}
	if len(claimed) == 0 {
		return nil, nil
	}
	return &claimed[0], nil
}

// ErrWebhookClaimLost says that an event's claim ran out and another attempt has begun since:
// the outcome of the earlier attempt is not recorded over it.
var ErrWebhookClaimLost = errors.New("models: webhook event claimed again by another attempt")

// WebhookEventDelivered records that the receiver accepted the event: it is never sent again.
func (s *Store) WebhookEventDelivered(ctx context.Context, event *WebhookEvent) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	// Whichever attempt got through, the receiver has the event.
	err := s.db.WithContext(ctx).Model(&WebhookEvent{}).Where("id = ? AND delivered_at IS NULL", event.ID).
		Updates(map[string]any{"delivered_at": s.now(), "last_error": ""}).Error
	if err != nil {
		return fmt.Errorf("models: webhook event delivered: %w", err)
	}
	return nil
}

// RetryWebhookEvent records why the claimed attempt failed, and when to try again. It is
// ErrWebhookClaimLost when another attempt has begun since.
func (s *Store) RetryWebhookEvent(ctx context.Context, event *WebhookEvent, reason string, retryAt time.Time) error {
	return s.endWebhookAttempt(ctx, event, map[string]any{"last_error": reason, "next_attempt_at": retryAt.UTC()})
}

// GiveUpWebhookEvent records why the claimed attempt failed and that it was the last: the
// event is never sent again. It is ErrWebhookClaimLost when another attempt has begun since,
// so that one give-up is logged per event, whatever the number of instances.
func (s *Store) GiveUpWebhookEvent(ctx context.Context, event *WebhookEvent, reason string) error {
	return s.endWebhookAttempt(ctx, event, map[string]any{"last_error": reason, "given_up_at": s.now()})
}

// maxWebhookErrorLength bounds the reason kept for a failed attempt, in characters.
const maxWebhookErrorLength = 300

// cleanWebhookError makes a failed attempt's reason storable on both databases: valid UTF-8,
// no control characters (PostgreSQL refuses NUL), and short. It may quote what the receiver
// answered.
func cleanWebhookError(reason string) string {
	reason = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(reason, "\uFFFD"))
	if utf8.RuneCountInString(reason) > maxWebhookErrorLength {
		reason = string([]rune(reason)[:maxWebhookErrorLength-1]) + "…"
	}
	return reason
}

// endWebhookAttempt records the outcome of the event's claimed attempt, unless another has
// begun since or the event was delivered meanwhile.
func (s *Store) endWebhookAttempt(ctx context.Context, event *WebhookEvent, outcome map[string]any) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	outcome["last_error"] = cleanWebhookError(outcome["last_error"].(string))
	res := s.db.WithContext(ctx).Model(&WebhookEvent{}).
		Where("id = ? AND attempts = ? AND delivered_at IS NULL AND given_up_at IS NULL", event.ID, event.Attempts).
		Updates(outcome)
	if res.Error != nil {
		return fmt.Errorf("models: webhook attempt failed: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrWebhookClaimLost
	}
	return nil
}

// PendingWebhookEvents counts the events neither delivered nor given up.
func (s *Store) PendingWebhookEvents(ctx context.Context) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int64
	err := s.db.WithContext(ctx).Model(&WebhookEvent{}).Where("delivered_at IS NULL AND given_up_at IS NULL").Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("models: pending webhook events: %w", err)
	}
	return n, nil
}

// PruneWebhookEvents deletes the events delivered or given up more than WebhookEventRetention
// after they were queued, and returns how many.
func (s *Store) PruneWebhookEvents(ctx context.Context) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res := s.db.WithContext(ctx).Where("created_at < ? AND (delivered_at IS NOT NULL OR given_up_at IS NOT NULL)", s.now().Add(-WebhookEventRetention)).
		Delete(&WebhookEvent{})
	if res.Error != nil {
		return 0, fmt.Errorf("models: prune webhook events: %w", res.Error)
	}
	return res.RowsAffected, nil
}
