package models

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
)

// DailyUseDays is how many days, today's included, the key page charts.
const DailyUseDays = 30

const (
	// dailyUsesKept is how many days before today a key's daily counts are kept: a little more
	// than the chart shows, so that an instance whose clock runs a little ahead prunes nothing
	// that another still charts.
	dailyUsesKept = DailyUseDays + 2
	// dailyUsesPrunedAtOnce bounds the older rows that one batch of uses deletes, so that
	// pruning never makes a batch long: the day after 100,000 keys were used, their rows of
	// a month before go within a few minutes of flushes.
	dailyUsesPrunedAtOnce = 1000
	secondsPerDay         = 24 * 60 * 60
)

// APIKeyDayCount is how many requests a key authenticated on one day, in UTC, and how many
// with it were refused: expired, disabled or of another scope than the route admits.
type APIKeyDayCount struct {
	APIKeyID int64
	// Day is the day's midnight, UTC.
	Day      time.Time
	Requests int64
	Refused  int64
}

// UnixDay numbers the UTC day of t: 0 for 1970-01-01. Counting requests per day in memory
// needs no more than this integer.
func UnixDay(t time.Time) int64 {
	seconds := t.Unix()
	day := seconds / secondsPerDay
	if seconds%secondsPerDay < 0 {
		day--
	}
	return day
}

// UnixDayStart is the midnight, UTC, that begins the day UnixDay numbers day.
func UnixDayStart(day int64) time.Time {
	return time.Unix(day*secondsPerDay, 0).UTC()
}

// addDailyUses adds counts to their keys' daily rows in tx, skipping keys deleted since, and
// deletes at most dailyUsesPrunedAtOnce rows older than dailyUsesKept days. The caller's
// transaction is a batch of uses: counting costs no write of its own.
func (s *Store) addDailyUses(tx *gorm.DB, counts []APIKeyDayCount) error {
	if len(counts) == 0 {
		return nil
	}
	// One row per key and day, as an upsert may not touch a row twice, in a stable order so
	// that the flushes of several instances do not deadlock.
	type keyDay struct{ keyID, day int64 }
	type sum struct{ requests, refused int64 }
	sums := map[keyDay]sum{}
	for _, c := range counts {
		k := keyDay{c.APIKeyID, UnixDay(c.Day)}
		sums[k] = sum{sums[k].requests + c.Requests, sums[k].refused + c.Refused}
	}
	rows := slices.SortedFunc(maps.Keys(sums), func(a, b keyDay) int {
		return cmp.Or(cmp.Compare(a.keyID, b.keyID), cmp.Compare(a.day, b.day))
	})
	row := "(?, ?, ?, ?)"
	if s.dialect == DialectPostgres {
		// PostgreSQL types a VALUES list from its first row; say what each parameter is.
		row = "(CAST(? AS BIGINT), CAST(? AS INTEGER), CAST(? AS BIGINT), CAST(? AS BIGINT))"
	}
	for chunk := range slices.Chunk(rows, s.usesPerStatement()) {
		values := make([]string, len(chunk))
		args := make([]any, 0, 4*len(chunk))
		for i, r := range chunk {
			values[i] = row
			args = append(args, r.keyID, r.day, sums[r].requests, sums[r].refused)
		}
		// SQLite needs the WHERE to tell ON CONFLICT from a join's ON.
		err := tx.Exec(`WITH counted (api_key_id, unix_day, requests, refused) AS (VALUES `+strings.Join(values, ", ")+`)
			INSERT INTO api_key_daily_uses (api_key_id, unix_day, requests, refused)
			SELECT api_key_id, unix_day, requests, refused FROM counted
			WHERE EXISTS (SELECT 1 FROM api_keys WHERE api_keys.id = counted.api_key_id)
			ON CONFLICT (api_key_id, unix_day) DO UPDATE SET requests = api_key_daily_uses.requests + excluded.requests,
				refused = api_key_daily_uses.refused + excluded.refused`, args...).Error
		if err != nil {
			return err
		}
	}
	return tx.Exec(`DELETE FROM api_key_daily_uses WHERE (api_key_id, unix_day) IN (
		SELECT api_key_id, unix_day FROM api_key_daily_uses WHERE unix_day < ? LIMIT ?)`,
		UnixDay(s.now())-dailyUsesKept, dailyUsesPrunedAtOnce).Error
}

// APIKeyDailyUses returns how many requests the key authenticated, and how many with it were
// refused, on each of the last days days, today's (UTC) last; a day without requests counts 0.
func (s *Store) APIKeyDailyUses(ctx context.Context, keyID int64, days int) ([]APIKeyDayCount, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	today := UnixDay(s.now())
	first := today - int64(days) + 1
	var rows []struct {
		UnixDay  int64
		Requests int64
		Refused  int64
	}
	err := s.db.WithContext(ctx).Table("api_key_daily_uses").Select("unix_day, requests, refused").
		Where("api_key_id = ? AND unix_day BETWEEN ? AND ?", keyID, first, today).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("models: api key daily uses: %w", err)
	}
	series := make([]APIKeyDayCount, days)
	for i := range series {
		series[i] = APIKeyDayCount{APIKeyID: keyID, Day: UnixDayStart(first + int64(i))}
	}
	for _, r := range rows {
		series[r.UnixDay-first].Requests, series[r.UnixDay-first].Refused = r.Requests, r.Refused
	}
	return series, nil
}
