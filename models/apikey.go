package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"
	"gorm.io/gorm"
)

// Scope is what an API key may do in the catalog API.
type Scope string

// The four permission scopes of an API key.
const (
	ScopeReadOnly            Scope = "read-only"
	ScopeManageDocumentation Scope = "manage-documentation"
	ScopeAdmin               Scope = "admin"
	ScopeScanner             Scope = "scanner"
)

// Scopes lists every scope in the order the New API Key form shows them.
var Scopes = []Scope{ScopeReadOnly, ScopeManageDocumentation, ScopeAdmin, ScopeScanner}

// ParseScope validates a scope name.
func ParseScope(s string) (Scope, bool) {
	for _, scope := range Scopes {
		if string(scope) == s {
			return scope, true
		}
	}
	return "", false
}

// Label is the scope's name in the console.
func (s Scope) Label() string {
	switch s {
	case ScopeReadOnly:
		return "Read-only"
	case ScopeManageDocumentation:
		return "Manage documentation"
	case ScopeAdmin:
		return "Admin"
	case ScopeScanner:
		return "Scanner"
	}
	return string(s)
}

// Description tells an administrator what a key of this scope can do.
func (s Scope) Description() string {
	switch s {
	case ScopeReadOnly:
		return "Read access on all catalog items."
	case ScopeManageDocumentation:
		return "Read and write access on all catalog items (create, update, delete)."
	case ScopeAdmin:
		return "Full permission on catalog content, including users and the metamodel."
	case ScopeScanner:
		return "For a scanner set-up: lets a scanner check in and send its inventory."
	}
	return ""
}

// CopyFormat is the secret written the way its consumer expects it: the scanner configuration
// fragment for the Scanner scope, the HTTP header line for the API scopes.
func (s Scope) CopyFormat(secret string) string {
	if s == ScopeScanner {
		return fmt.Sprintf("authentication { api-key { secret = %q } }", secret)
	}
	return "X-API-SECRET: " + secret
}

// CopyFormatLabel names what CopyFormat produces, for the copy button.
func (s Scope) CopyFormatLabel() string {
	if s == ScopeScanner {
		return "scanner configuration"
	}
	return "header line"
}

// APIKey is a key that a script, scanner or gateway presents. The secret itself is never
// stored: only its SHA-256 and a hint to recognise it.
type APIKey struct {
	ID        int64
	PublicID  string
	Name      string
	NameLower string
	// Description says what the key is for, in the administrator's words; "" when none.
	Description    string
	Scope          Scope
	SecretHash     string
	Hint           string
	CreatedByID    *int64
	CreatedAt      time.Time
	ExpiresAt      *time.Time
	LastUsedAt     *time.Time
	LastUsedIP     string
	LastUsedClient string
	// NameFold is the name as uniqueness compares it (apiKeyNameFold), under a unique index.
	// It is nil only for a key made before names were compared so, whose name another,
	// older key already folds to: both keep working, and the name stays taken.
	NameFold *string
	// DisabledAt is when the key was disabled, nil while it is enabled. A disabled key is
	// refused like a deleted one, and works again once enabled.
	DisabledAt *time.Time
	// RotatedAt is when the key last took a new secret, to the second; nil if never.
	RotatedAt *time.Time
	// SecretLastUsedAt is the last recorded use of the current secret; LastUsedAt is the key's
	// latest by either secret.
	SecretLastUsedAt *time.Time
	// Previous is the secret the key had before its last rotation, while its grace runs.
	Previous PreviousSecret `gorm:"embedded;embeddedPrefix:previous_"`
}

// Expired tells whether the key no longer authenticates at now.
func (k *APIKey) Expired(now time.Time) bool {
	return k.ExpiresAt != nil && !k.ExpiresAt.After(now)
}

// terms says, for the audit log, what the key may do and until when.
func (k *APIKey) terms() string {
	if k.ExpiresAt == nil {
		return "scope " + string(k.Scope) + ", never expires"
	}
	return "scope " + string(k.Scope) + ", expires " + k.ExpiresAt.UTC().Format(time.RFC3339)
}

// LatestExpiry is the latest time a key may expire: the end of 9999-12-30 in UTC. Every
// stored time so keeps a four-digit year, which both databases read back; SQLite would store
// the end of 9999-12-31 as year 10000 and fail to read the key again.
var LatestExpiry = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// NewAPIKey is what creating a key needs. CreateAPIKey checks the name, the expiry's bounds
// and whether the minter may give the scope itself, so every caller gets the same rules.
type NewAPIKey struct {
	Name        string
	Description string
	Scope       Scope
	ExpiresAt   *time.Time
	CreatedByID *int64
	// Minter is the console user creating the key; nil for the operator.
	Minter *Minter
}

// CreateAPIKey stores a new key and returns it with its secret, which exists only in this
// return value: the caller shows it once and forgets it. A name CleanAPIKeyName refuses, a
// description CleanAPIKeyDescription refuses, or an expiry after LatestExpiry, is a
// FieldError; a name that folds like an existing key's is ErrDuplicateName; a scope the
// minter may not give is ErrScopeAboveMinter. Every instance hears of the new key (a
// KeyNotice), so that none answers its secret unknown from memory.
func (s *Store) CreateAPIKey(ctx context.Context, nk NewAPIKey) (*APIKey, string, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	name, err := CleanAPIKeyName(nk.Name)
	if err != nil {
		return nil, "", err
	}
	description, err := CleanAPIKeyDescription(nk.Description)
	if err != nil {
		return nil, "", err
	}
	if _, ok := ParseScope(string(nk.Scope)); !ok {
		return nil, "", fmt.Errorf("models: create api key: unknown scope %q", nk.Scope)
	}
	if err := nk.Minter.MayGive(nk.Scope); err != nil {
		return nil, "", err
	}
	if nk.ExpiresAt != nil && nk.ExpiresAt.After(LatestExpiry) {
		return nil, "", &FieldError{Field: "expires_at", Message: "must be no later than the end of " + LatestExpiry.AddDate(0, 0, -1).Format(time.DateOnly) + " (UTC)"}
	}
	secret := GenerateSecret()
	fold := apiKeyNameFold(name)
	key := &APIKey{
		PublicID:    publicIDPrefix + randomBase62(publicIDChars),
		Name:        name,
		NameLower:   strings.ToLower(name),
		NameFold:    &fold,
		Description: description,
		Scope:       nk.Scope,
		SecretHash:  HashSecret(secret),
		Hint:        SecretHint(secret),
		CreatedByID: nk.CreatedByID,
		CreatedAt:   s.now(),
	}
	if nk.ExpiresAt != nil {
		expiresAt := nk.ExpiresAt.UTC()
		key.ExpiresAt = &expiresAt
	}
	err = s.changeKey(ctx, func(tx *gorm.DB) (KeyNotice, []AuditEvent, error) {
		if err := tx.Create(key).Error; err != nil {
			return KeyNotice{}, nil, err
		}
		return KeyNotice{KeyID: key.ID, Hashes: []string{key.SecretHash}}, []AuditEvent{keyAudit(AuditKeyCreated, key, key.terms())}, nil
	})
	if err != nil {
		if isUniqueViolation(err) {
			if taken, _ := s.APIKeyNameTakenBy(ctx, name); taken != "" {
				return nil, "", ErrDuplicateName
			}
		}
		return nil, "", fmt.Errorf("models: create api key: %w", err)
	}
	return key, secret, nil
}

// APIKeyNameTakenBy returns the name of the existing key that name would duplicate, compared
// as apiKeyNameFold compares them (ignoring case, width, NFC or NFD spelling and repeated
// spaces), or "" when name is free. The form checks it to put the message, naming the key it
// looks like, beside the name field.
func (s *Store) APIKeyNameTakenBy(ctx context.Context, name string) (string, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var names []string
	err := s.db.WithContext(ctx).Model(&APIKey{}).Where("name_fold = ?", apiKeyNameFold(name)).
		Limit(1).Pluck("name", &names).Error
	if err != nil {
		return "", fmt.Errorf("models: api key name taken: %w", err)
	}
	if len(names) == 0 {
		return "", nil
	}
	return names[0], nil
}

// A public id is "ak_" and 16 base62 characters.
const (
	publicIDPrefix = "ak_"
	publicIDChars  = 16
)

// wellFormedPublicID tells whether s could be a public id, so that anything else a URL holds
// costs no query.
func wellFormedPublicID(s string) bool {
	if len(s) != len(publicIDPrefix)+publicIDChars || !strings.HasPrefix(s, publicIDPrefix) {
		return false
	}
	for i := len(publicIDPrefix); i < len(s); i++ {
		if !isBase62[s[i]] {
			return false
		}
	}
	return true
}

// APIKeyByPublicID returns the key with that public id, or ErrAPIKeyNotFound: at once, without
// asking the database, for a string that is not a public id.
func (s *Store) APIKeyByPublicID(ctx context.Context, publicID string) (*APIKey, error) {
	if !wellFormedPublicID(publicID) {
		return nil, ErrAPIKeyNotFound
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var key APIKey
	err := s.db.WithContext(ctx).Where("public_id = ?", publicID).First(&key).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrAPIKeyNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("models: api key by public id: %w", err)
	}
	return &key, nil
}

// APIKeysByID returns those of the keys with these ids that exist, in no particular order, in
// one query: for the verifier, which reads the keys it holds again in batches. It reads only
// what a verified key's cache entry holds (ID, PublicID, Name, Scope, SecretHash, ExpiresAt
// and DisabledAt) and leaves the other fields zero: the twelve other columns, times among
// them, doubled its cost on SQLite (BenchmarkRefresh in web).
func (s *Store) APIKeysByID(ctx context.Context, ids []int64) ([]APIKey, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var keys []APIKey
	if err := s.db.WithContext(ctx).Select("id, public_id, name, scope, secret_hash, expires_at, disabled_at").Where("id IN ?", ids).Find(&keys).Error; err != nil {
		return nil, fmt.Errorf("models: api keys by id: %w", err)
	}
	return keys, nil
}

// APIKeyBySecretHash returns the key whose current secret, or previous secret in its grace
// (Previous), hashes to secretHash, or ErrAPIKeyNotFound. The caller tells which by comparing
// SecretHash, and checks the previous secret's end (PreviousEndsAt) as it checks expiry.
func (s *Store) APIKeyBySecretHash(ctx context.Context, secretHash string) (*APIKey, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var key APIKey
	// Two indexed lookups, the current secret's first: one OR would cost every lookup the
	// union of both indexes (twice the time on SQLite), for the few previous secrets.
	db := s.db.WithContext(ctx)
	err := db.Where("secret_hash = ?", secretHash).Take(&key).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		err = db.Where("previous_secret_hash = ?", secretHash).Take(&key).Error
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrAPIKeyNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("models: api key by secret hash: %w", err)
	}
	return &key, nil
}

// DeleteAPIKey removes exactly the key with that public id and returns it;
// ErrAPIKeyNotFound when no such key exists. Every instance, this one included, hears of it
// (a KeyNotice announced in the same transaction) and drops what it holds for the key; the
// key.deleted webhook event is queued, and the key's secrets kept as tombstones, in the same
// transaction.
func (s *Store) DeleteAPIKey(ctx context.Context, publicID string) (*APIKey, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var deleted *APIKey
	err := s.changeKey(ctx, func(tx *gorm.DB) (KeyNotice, []AuditEvent, error) {
		var key APIKey
		err := tx.Where("public_id = ?", publicID).First(&key).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return KeyNotice{}, nil, ErrAPIKeyNotFound
		}
		if err != nil {
			return KeyNotice{}, nil, fmt.Errorf("models: delete api key: %w", err)
		}
		res := tx.Where("id = ?", key.ID).Delete(&APIKey{})
		if res.Error != nil {
			return KeyNotice{}, nil, fmt.Errorf("models: delete api key: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			return KeyNotice{}, nil, ErrAPIKeyNotFound
		}
		if key.NameFold != nil {
			if err := passOnNameFold(tx, *key.NameFold); err != nil {
				return KeyNotice{}, nil, fmt.Errorf("models: delete api key: %w", err)
			}
		}
		if err := s.buryKeySecrets(tx, &key, RefusedDeleted, key.SecretHashes()...); err != nil {
			return KeyNotice{}, nil, fmt.Errorf("models: delete api key: %w", err)
		}
		if err := s.queueKeyEvent(tx, KeyEventDeleted, &key); err != nil {
			return KeyNotice{}, nil, fmt.Errorf("models: delete api key: %w", err)
		}
		deleted = &key
		return KeyNotice{KeyID: key.ID, Hashes: key.SecretHashes(), Revoked: true}, []AuditEvent{keyAudit(AuditKeyDeleted, &key, key.terms())}, nil
	})
	if err != nil {
		return nil, err
	}
	return deleted, nil
}

// APIKeySort is a sort order of the list, named as the URL's sort parameter carries it.
type APIKeySort string

// The sort orders of the API key list. The leading "-" means descending.
const (
	SortNameAsc     APIKeySort = "name"
	SortNameDesc    APIKeySort = "-name"
	SortCreatedAsc  APIKeySort = "created"
	SortCreatedDesc APIKeySort = "-created"
	SortExpiresAsc  APIKeySort = "expires"
	SortExpiresDesc APIKeySort = "-expires"
	// SortLastUsedAsc puts the keys used least recently first, after those never used: the
	// order in which a clean-up goes through them.
	SortLastUsedAsc  APIKeySort = "last-used"
	SortLastUsedDesc APIKeySort = "-last-used"
	// DefaultAPIKeySort shows the newest keys first.
	DefaultAPIKeySort = SortCreatedDesc
)

var sortClauses = map[APIKeySort]string{
	SortNameAsc:     "name_lower ASC, id ASC",
	SortNameDesc:    "name_lower DESC, id DESC",
	SortCreatedAsc:  "created_at ASC, id ASC",
	SortCreatedDesc: "created_at DESC, id DESC",
	// Keys that never expire sort after every date, on both databases, in the order of the
	// api_keys_expiry_order index.
	SortExpiresAsc:  "(expires_at IS NULL) ASC, expires_at ASC, id ASC",
	SortExpiresDesc: "(expires_at IS NULL) DESC, expires_at DESC, id DESC",
	// Keys never used come first when the least recent come first, and last when the most
	// recent do. The explicit term keeps both databases alike: PostgreSQL sorts NULLs as
	// larger than any date, SQLite as smaller.
	SortLastUsedAsc:  "(last_used_at IS NULL) DESC, last_used_at ASC, id ASC",
	SortLastUsedDesc: "(last_used_at IS NULL) ASC, last_used_at DESC, id DESC",
}

// ParseAPIKeySort returns the sort named by s, or the default for anything unknown.
func ParseAPIKeySort(s string) APIKeySort {
	if _, ok := sortClauses[APIKeySort(s)]; ok {
		return APIKeySort(s)
	}
	return DefaultAPIKeySort
}

// APIKeyQuery selects a page of the API key list.
type APIKeyQuery struct {
	Search string
	// Status, when set, keeps only the keys with that status now; Scope only those of that
	// scope.
	Status KeyStatus
	Scope  Scope
	// Used, when set, keeps only the keys never used, or unused for a period (LastUseFilter).
	Used    LastUseFilter
	Sort    APIKeySort
	Page    int
	PerPage int
}

// APIKeyPage is one page of the list with the total count of matching keys.
type APIKeyPage struct {
	Keys    []APIKey
	Total   int64
	Page    int
	PerPage int
}

// Pages is the number of pages the matching keys fill (at least 1).
func (p APIKeyPage) Pages() int {
	if p.Total == 0 || p.PerPage <= 0 {
		return 1
	}
	return int((p.Total + int64(p.PerPage) - 1) / int64(p.PerPage))
}

// ListAPIKeys returns the page of keys whose name contains q.Search (case-insensitively), with
// q.Status, q.Scope and q.Used when set, in q.Sort order. A search that is not one line of
// valid text, or an unknown status, scope or last-use filter, is a FieldError.
func (s *Store) ListAPIKeys(ctx context.Context, q APIKeyQuery) (APIKeyPage, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := CheckText("q", q.Search, false); err != nil {
		return APIKeyPage{}, err
	}
	if _, ok := ParseKeyStatus(string(q.Status)); q.Status != "" && !ok {
		return APIKeyPage{}, &FieldError{Field: "status", Message: "is not a key status"}
	}
	if _, ok := ParseScope(string(q.Scope)); q.Scope != "" && !ok {
		return APIKeyPage{}, &FieldError{Field: "scope", Message: "is not a key scope"}
	}
	if _, ok := ParseLastUseFilter(string(q.Used)); q.Used != "" && !ok {
		return APIKeyPage{}, &FieldError{Field: "used", Message: "is not a last-use filter"}
	}
	if q.PerPage <= 0 {
		q.PerPage = 25
	}
	if q.Page < 1 {
		q.Page = 1
	}
	order, ok := sortClauses[q.Sort]
	if !ok {
		order = sortClauses[DefaultAPIKeySort]
	}
	page := APIKeyPage{Page: q.Page, PerPage: q.PerPage}
	// Names are stored in NFC, so the search is spelled the same way.
	search := strings.ToLower(norm.NFC.String(strings.TrimSpace(q.Search)))
	list := func(db *gorm.DB) error {
		query := db.Model(&APIKey{})
		switch {
		case search != "" && s.dialect == DialectPostgres:
			// LIKE, so the trigram index can answer it.
			query = query.Where("name_lower LIKE ? ESCAPE '\\'", "%"+escapeLike(search)+"%")
		case search != "":
			// A plain substring search: SQLite has no index for it either way, and instr scans
			// faster than LIKE.
			query = query.Where("instr(name_lower, ?) > 0", search)
		}
		if q.Status != "" {
			condition, args := statusCondition(q.Status, s.now())
			query = query.Where(condition, args...)
		}
		if q.Scope != "" {
			query = query.Where("scope = ?", q.Scope)
		}
		if q.Used != "" {
			condition, args := lastUseCondition(q.Used, s.now())
			query = query.Where(condition, args...)
		}
		if err := query.Count(&page.Total).Error; err != nil {
			return err
		}
		return query.Order(order).Limit(q.PerPage).Offset((q.Page - 1) * q.PerPage).Find(&page.Keys).Error
	}
	db := s.db.WithContext(ctx)
	var err error
	if search != "" && s.dialect == DialectPostgres {
		// pgx prepares and caches statements, and PostgreSQL may then keep one generic plan
		// for them; a search needs the plan made for its pattern to use the trigram index.
		err = db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec("SET LOCAL plan_cache_mode = force_custom_plan").Error; err != nil {
				return err
			}
			return list(tx)
		})
	} else {
		err = list(db)
	}
	if err != nil {
		return page, fmt.Errorf("models: list api keys: %w", err)
	}
	return page, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
