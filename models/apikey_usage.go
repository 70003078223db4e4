package models

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// APIKeyUse is one observed use of a key, as the verifier gathers them in memory.
type APIKeyUse struct {
	APIKeyID int64
	At       time.Time
	IP       string
	// Client is the scanner's name from its check-in, or the request's User-Agent.
	Client  string
	Scanner bool
	// Previous tells that the key's previous secret was used, in its grace after a rotation.
	Previous bool
}

// MaxClientLength bounds a recorded client name, in characters.
const MaxClientLength = 200

// MaxClientsPerKey bounds the clients other than scanners kept per key: the most recently
// seen. Any key holder can make up clients (a new User-Agent on every request), so what is
// kept must not grow with them. Scanners are kept whatever their number: each is a check-in.
const MaxClientsPerKey = 100

// UnknownClient names a client that sent no User-Agent.
const UnknownClient = "unknown client"

// CleanClientName turns what a client calls itself (its User-Agent) into what is recorded and
// shown: valid UTF-8 without control characters, cut to MaxClientLength characters, and
// UnknownClient when nothing is left. Any client can send any bytes; none of them may stop a
// batch of uses from being written (PostgreSQL refuses invalid UTF-8 and NUL in text).
func CleanClientName(name string) string {
	clean := utf8.ValidString(name) && len(name) <= MaxClientLength
	for i := 0; clean && i < len(name); i++ {
		clean = name[i] >= 0x20 && name[i] != 0x7f
	}
	if !clean {
		name = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) {
				return -1
			}
			return r
		}, strings.ToValidUTF8(name, "\uFFFD"))
		if utf8.RuneCountInString(name) > MaxClientLength {
			name = string([]rune(name)[:MaxClientLength])
		}
	}
	if strings.TrimSpace(name) == "" {
		return UnknownClient
	}
	return name
}

// APIKeyClient is a client seen using a key, with when it was last seen.
type APIKeyClient struct {
	APIKeyID   int64  `gorm:"primaryKey"`
	Client     string `gorm:"primaryKey"`
	IP         string `gorm:"primaryKey"`
	Scanner    bool
	LastSeenAt time.Time
}

// RecordAPIKeyUses writes a batch of uses in one transaction: each key's last-use fields
// take its latest use by either secret, each secret's own last use moves forward (uses made
// before the key's last rotation count for neither of its secrets now), each client's
// last-seen time moves forward, and counts are added to their keys' daily request counts. The
// batch is what the verifier gathered since its last flush, so a busy key costs one write per
// flush, not one per request.
func (s *Store) RecordAPIKeyUses(ctx context.Context, uses []APIKeyUse, counts []APIKeyDayCount) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if len(uses) == 0 && len(counts) == 0 {
		return nil
	}
	latestPerKey := map[int64]keyUses{}
	type clientKey struct {
		keyID      int64
		client, ip string
	}
	latestPerClient := map[clientKey]APIKeyClient{}
	for _, use := range uses {
		use.Client = CleanClientName(use.Client)
		latestPerKey[use.APIKeyID] = latestPerKey[use.APIKeyID].add(use)
		k := clientKey{use.APIKeyID, use.Client, use.IP}
		if prev, ok := latestPerClient[k]; !ok || use.At.After(prev.LastSeenAt) {
			latestPerClient[k] = APIKeyClient{APIKeyID: use.APIKeyID, Client: use.Client, IP: use.IP, Scanner: use.Scanner, LastSeenAt: use.At.UTC()}
		}
	}
	clients := make([]APIKeyClient, 0, len(latestPerClient))
	for _, c := range latestPerClient {
		clients = append(clients, c)
	}
	// A stable order keeps concurrent flushes from different instances from deadlocking.
	sort.Slice(clients, func(i, j int) bool {
		a, b := clients[i], clients[j]
		if a.APIKeyID != b.APIKeyID {
			return a.APIKeyID < b.APIKeyID
		}
		if a.Client != b.Client {
			return a.Client < b.Client
		}
		return a.IP < b.IP
	})
	keyIDs := make([]int64, 0, len(latestPerKey))
	for id := range latestPerKey {
		keyIDs = append(keyIDs, id)
	}
	sort.Slice(keyIDs, func(i, j int) bool { return keyIDs[i] < keyIDs[j] })
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := s.addDailyUses(tx, counts); err != nil {
			return err
		}
		alive := make(map[int64]bool, len(keyIDs))
		var live []int64
		for chunk := range slices.Chunk(keyIDs, s.usesPerStatement()) {
			if err := s.updateLastUses(tx, chunk, latestPerKey); err != nil {
				return err
			}
			// Keys deleted since the uses were gathered have no row to point at; skip them.
			var found []int64
			if err := tx.Model(&APIKey{}).Where("id IN ?", chunk).Pluck("id", &found).Error; err != nil {
				return err
			}
			for _, id := range found {
				alive[id] = true
			}
			live = append(live, found...)
		}
		rows := clients[:0]
		for _, c := range clients {
			if alive[c.APIKeyID] {
				rows = append(rows, c)
			}
		}
		if len(rows) == 0 {
			return nil
		}
		err := tx.Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "api_key_id"}, {Name: "client"}, {Name: "ip"}},
			DoUpdates: clause.Assignments(map[string]any{
				"last_seen_at": gorm.Expr("CASE WHEN excluded.last_seen_at > api_key_clients.last_seen_at THEN excluded.last_seen_at ELSE api_key_clients.last_seen_at END"),
				"scanner":      gorm.Expr("excluded.scanner"),
			}),
		}).CreateInBatches(rows, s.usesPerStatement()).Error
		if err != nil {
			return err
		}
		// Each key keeps its MaxClientsPerKey most recently seen clients other than scanners.
		for chunk := range slices.Chunk(live, s.usesPerStatement()) {
			err := tx.Exec(`DELETE FROM api_key_clients WHERE NOT scanner AND (api_key_id, client, ip) IN (
				SELECT api_key_id, client, ip FROM (
					SELECT api_key_id, client, ip, row_number() OVER (
						PARTITION BY api_key_id ORDER BY last_seen_at DESC, client, ip) AS n
					FROM api_key_clients WHERE api_key_id IN ? AND NOT scanner) AS ranked
				WHERE n > ?)`, chunk, MaxClientsPerKey).Error
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("models: record api key uses: %w", err)
	}
	return nil
}

// usesPerStatement is how many keys one statement of a batch of uses covers: few statements
// for many keys. SQLite's driver binds parameters in a time that grows with the square of
// their number, so its statements stay small.
func (s *Store) usesPerStatement() int {
	if s.dialect == DialectSQLite {
		return 100
	}
	return 1000
}

// keyUses is what a batch holds of one key's uses: its latest by either secret, and the
// latest by each secret.
type keyUses struct {
	latest               APIKeyUse
	secretAt, previousAt *time.Time
}

// add returns the uses with use among them.
func (k keyUses) add(use APIKeyUse) keyUses {
	if k.latest.At.IsZero() || use.At.After(k.latest.At) {
		k.latest = use
	}
	at := use.At.UTC()
	latest := &k.secretAt
	if use.Previous {
		latest = &k.previousAt
	}
	if *latest == nil || at.After(**latest) {
		*latest = &at
	}
	return k
}

// updateLastUses moves the last-use fields of the keys in ids to their latest use in one
// statement, leaving any that a later use recorded already. A secret's own last use counts
// only uses from the second of the key's last rotation on: one gathered earlier was of a
// secret the key has replaced since.
func (s *Store) updateLastUses(tx *gorm.DB, ids []int64, latest map[int64]keyUses) error {
	var values strings.Builder
	args := make([]any, 0, 6*len(ids))
	row := "(?, ?, ?, ?, ?, ?)"
	if s.dialect == DialectPostgres {
		// PostgreSQL types a VALUES list from its first row; say what each parameter is.
		row = "(CAST(? AS BIGINT), CAST(? AS TIMESTAMPTZ), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TIMESTAMPTZ), CAST(? AS TIMESTAMPTZ))"
	}
	for i, id := range ids {
		if i > 0 {
			values.WriteString(", ")
		}
		values.WriteString(row)
		uses := latest[id]
		args = append(args, id, uses.latest.At.UTC(), uses.latest.IP, uses.latest.Client, uses.secretAt, uses.previousAt)
	}
	const later = "api_keys.last_used_at IS NULL OR api_keys.last_used_at < uses.at"
	return tx.Exec(`WITH uses (id, at, ip, client, secret_at, previous_at) AS (VALUES `+values.String()+`)
		UPDATE api_keys SET
			last_used_at = CASE WHEN `+later+` THEN uses.at ELSE api_keys.last_used_at END,
			last_used_ip = CASE WHEN `+later+` THEN uses.ip ELSE api_keys.last_used_ip END,
			last_used_client = CASE WHEN `+later+` THEN uses.client ELSE api_keys.last_used_client END,
			secret_last_used_at = CASE WHEN uses.secret_at IS NOT NULL
				AND (api_keys.rotated_at IS NULL OR uses.secret_at >= api_keys.rotated_at)
				AND (api_keys.secret_last_used_at IS NULL OR api_keys.secret_last_used_at < uses.secret_at)
				THEN uses.secret_at ELSE api_keys.secret_last_used_at END,
			previous_last_used_at = CASE WHEN uses.previous_at IS NOT NULL AND api_keys.previous_secret_hash IS NOT NULL
				AND uses.previous_at >= api_keys.rotated_at
				AND (api_keys.previous_last_used_at IS NULL OR api_keys.previous_last_used_at < uses.previous_at)
				THEN uses.previous_at ELSE api_keys.previous_last_used_at END
		FROM uses WHERE api_keys.id = uses.id`, args...).Error
}

// APIKeyClientList is some of the clients seen using a key, and how many were seen in all.
type APIKeyClientList struct {
	Clients []APIKeyClient
	Total   int64
}

// APIKeyClients lists up to limit clients seen using a key since the given time: scanners
// first, as what stops working matters most, then the most recently seen.
func (s *Store) APIKeyClients(ctx context.Context, keyID int64, since time.Time, limit int) (APIKeyClientList, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	list := APIKeyClientList{Clients: []APIKeyClient{}}
	seen := s.db.WithContext(ctx).Model(&APIKeyClient{}).
		Where("api_key_id = ? AND last_seen_at >= ?", keyID, since.UTC()).Session(&gorm.Session{})
	if err := seen.Count(&list.Total).Error; err != nil {
		return list, fmt.Errorf("models: api key clients: %w", err)
	}
	if list.Total == 0 {
		return list, nil
	}
	err := seen.Order("scanner DESC, last_seen_at DESC, client, ip").Limit(limit).Find(&list.Clients).Error
	if err != nil {
		return list, fmt.Errorf("models: api key clients: %w", err)
	}
	return list, nil
}
