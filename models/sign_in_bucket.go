package models

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// signInRefill is how often a sign-in bucket gets one token back.
const signInRefill = time.Minute

// signInBucket is one of the sign-in throttle's token buckets: its row's key, and how many
// tokens it holds when full.
type signInBucket struct {
	key      string
	capacity int
}

// ThrottledError refuses a sign-in attempt because one of its buckets is empty. The attempt
// took no token: a refusal does not count again.
type ThrottledError struct {
	// RetryAfter is how long until every bucket of the attempt has a token again.
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("models: too many failed sign-ins, retry after %s", e.RetryAfter)
}

// takeSignInTokens takes one token from each bucket, all or none, in one transaction: a row per
// bucket moves its full_at a refill later, unless that would pass its capacity. Concurrent
// attempts wait for each other's row locks, so parallel guesses are counted one by one, on
// every instance. Buckets are taken in the order given, the same for every attempt, so two
// transactions never wait for each other in a circle.
func (s *Store) takeSignInTokens(ctx context.Context, buckets []signInBucket) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	now := s.now().UnixMilli()
	refill := signInRefill.Milliseconds()
	var wait int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, b := range buckets {
			// A bucket may take a token while it misses at most capacity-1.
			fullest := now + int64(b.capacity-1)*refill
			var took []int64
			err := tx.Raw(`INSERT INTO sign_in_buckets (key, full_at) VALUES (?, ?)
				ON CONFLICT (key) DO UPDATE
				SET full_at = CASE WHEN sign_in_buckets.full_at > ? THEN sign_in_buckets.full_at ELSE ? END + ?
				WHERE sign_in_buckets.full_at <= ?
				RETURNING full_at`, b.key, now+refill, now, now, refill, fullest).Scan(&took).Error
			if err != nil {
				return err
			}
			if len(took) > 0 {
				continue
			}
			var fullAt int64
			if err := tx.Raw("SELECT full_at FROM sign_in_buckets WHERE key = ?", b.key).Scan(&fullAt).Error; err != nil {
				return err
			}
			wait = max(wait, fullAt-fullest)
		}
		if wait > 0 {
			return errBucketEmpty
		}
		return nil
	})
	if errors.Is(err, errBucketEmpty) {
		return &ThrottledError{RetryAfter: time.Duration(wait) * time.Millisecond}
	}
	if err != nil {
		return fmt.Errorf("models: take sign-in tokens: %w", err)
	}
	return nil
}

// errBucketEmpty rolls back the tokens taken from the other buckets of a refused attempt.
var errBucketEmpty = errors.New("models: sign-in bucket empty")

// returnSignInTokens gives back the token takeSignInTokens took from each bucket: the attempt
// succeeded, or was not checked.
func (s *Store) returnSignInTokens(ctx context.Context, buckets []signInBucket) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	keys := make([]string, len(buckets))
	for i, b := range buckets {
		keys[i] = b.key
	}
	err := s.db.WithContext(ctx).Exec("UPDATE sign_in_buckets SET full_at = full_at - ? WHERE key IN ?", signInRefill.Milliseconds(), keys).Error
	if err != nil {
		return fmt.Errorf("models: return sign-in tokens: %w", err)
	}
	return nil
}

// pruneBatch bounds the rows one statement of PruneSignInBuckets deletes, so that no statement
// holds locks for long after a flood.
const pruneBatch = 10_000

// PruneSignInBuckets deletes the buckets that are full again, which say nothing a missing row
// would not, in batches until none is left or the store's deadline passes; a later call goes on
// from there. It returns how many it deleted. Every instance may run it.
func (s *Store) PruneSignInBuckets(ctx context.Context) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	now := s.now().UnixMilli()
	var deleted int64
	for {
		res := s.db.WithContext(ctx).Exec(`DELETE FROM sign_in_buckets WHERE key IN
			(SELECT key FROM sign_in_buckets WHERE full_at <= ? LIMIT ?)`, now, pruneBatch)
		if res.Error != nil {
			return deleted, fmt.Errorf("models: prune sign-in buckets: %w", res.Error)
		}
		deleted += res.RowsAffected
		if res.RowsAffected < pruneBatch {
			return deleted, nil
		}
	}
}
