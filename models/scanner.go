package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm/clause"
)

// Limits of what a scanner reports at check-in, in characters.
const (
	MaxScannerNameLength    = 100
	MaxScannerHostLength    = 255
	MaxScannerVersionLength = 50
)

// How recent a check-in must be for each status of the Scanners page.
const (
	// ScannerUpWindow: a scanner that checked in this recently is up.
	ScannerUpWindow = time.Minute
	// ScannerInactiveAfter: a scanner silent this long is inactive and hidden by default.
	ScannerInactiveAfter = 3 * 24 * time.Hour
)

// ScannerStatus is what the Scanners page shows about a scanner's last check-in.
type ScannerStatus string

// Scanner statuses.
const (
	ScannerUp       ScannerStatus = "up"
	ScannerDown     ScannerStatus = "down"
	ScannerInactive ScannerStatus = "inactive"
)

// Scanner is a scanner that checked in with a Scanner-scope key, one per name, host and key:
// a key cannot check in as, and so take over, the scanner another key checked in as. After a
// key rotation the scanner shows twice, with the old key down and the new one up.
//
// When its key is deleted the scanner is kept and APIKeyID becomes NULL: the administrator who
// deleted the key still sees the scanner, now down or inactive and marked "deleted key", which
// explains why it stopped checking in and shows what to reconnect. Dropping the row would hide
// exactly the scanner that needs attention.
type Scanner struct {
	ID       int64
	Name     string
	Host     string
	Version  string
	APIKeyID *int64
	// Key is the key the scanner checks in with, loaded by ListScanners; nil once it is deleted.
	Key            *APIKey `gorm:"foreignKey:APIKeyID"`
	FirstCheckInAt time.Time
	LastCheckInAt  time.Time
}

// Status tells whether the scanner is up, down or inactive at now. A scanner whose key no
// longer authenticates (KeyProblem) is down from that moment, however recent its last
// check-in: it cannot check in again.
func (sc *Scanner) Status(now time.Time) ScannerStatus {
	silent := now.Sub(sc.LastCheckInAt)
	switch {
	case silent >= ScannerInactiveAfter:
		return ScannerInactive
	case silent < ScannerUpWindow && sc.KeyProblem(now) == "":
		return ScannerUp
	}
	return ScannerDown
}

// KeyProblem says why the scanner's key no longer lets it check in at now ("key deleted", "key
// disabled" or "key expired"), or "" while it does, so the Scanners page can give the reason a
// scanner is down. It reads the key that ListScanners loads.
func (sc *Scanner) KeyProblem(now time.Time) string {
	switch {
	case sc.APIKeyID == nil:
		return "key deleted"
	case sc.Key == nil:
		return ""
	case sc.Key.DisabledAt != nil:
		return "key disabled"
	case sc.Key.Expired(now):
		return "key expired"
	}
	return ""
}

// ScannerCheckIn is what a scanner reports when it checks in, with the key it used.
type ScannerCheckIn struct {
	Name     string
	Host     string
	Version  string
	APIKeyID int64
}

// Validate returns a FieldError naming the first wrong field, or nil.
func (in ScannerCheckIn) Validate() error {
	if err := checkText("name", in.Name, 1, MaxScannerNameLength); err != nil {
		return err
	}
	if err := checkText("host", in.Host, 1, MaxScannerHostLength); err != nil {
		return err
	}
	return checkText("version", in.Version, 1, MaxScannerVersionLength)
}

// CheckInScanner records a check-in: the first one from a name and host with a key creates the
// scanner, later ones with the same key move its last check-in forward and take the version
// they report. A check-in with another key leaves that scanner alone and makes its own.
func (s *Store) CheckInScanner(ctx context.Context, in ScannerCheckIn) (*Scanner, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	in.Name = strings.TrimSpace(in.Name)
	in.Host = strings.TrimSpace(in.Host)
	in.Version = strings.TrimSpace(in.Version)
	if err := in.Validate(); err != nil {
		return nil, err
	}
	now := s.stamp()
	keyID := in.APIKeyID
	row := &Scanner{Name: in.Name, Host: in.Host, Version: in.Version, APIKeyID: &keyID, FirstCheckInAt: now, LastCheckInAt: now}
	err := s.db.WithContext(ctx).Omit(clause.Associations).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "name"}, {Name: "host"}, {Name: "api_key_id"}},
		DoUpdates: clause.AssignmentColumns([]string{"version", "last_check_in_at"}),
	}).Create(row).Error
	if err != nil {
		return nil, fmt.Errorf("models: check in scanner: %w", err)
	}
	var scanner Scanner
	err = s.db.WithContext(ctx).Where("name = ? AND host = ? AND api_key_id = ?", in.Name, in.Host, keyID).First(&scanner).Error
	if err != nil {
		return nil, fmt.Errorf("models: check in scanner: %w", err)
	}
	scanner.FirstCheckInAt = scanner.FirstCheckInAt.UTC()
	scanner.LastCheckInAt = scanner.LastCheckInAt.UTC()
	return &scanner, nil
}

// ScannerList is what the Scanners page shows: the scanners asked for, and how many scanners
// are inactive in all, so the page can say how many it hides.
type ScannerList struct {
	Scanners []Scanner
	Inactive int64
}

// ListScanners returns the scanners by name and host with their keys, leaving out the
// inactive ones unless includeInactive is set.
func (s *Store) ListScanners(ctx context.Context, includeInactive bool) (ScannerList, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	cutoff := s.now().Add(-ScannerInactiveAfter)
	list := ScannerList{Scanners: []Scanner{}}
	err := s.db.WithContext(ctx).Model(&Scanner{}).Where("last_check_in_at <= ?", cutoff).Count(&list.Inactive).Error
	if err != nil {
		return list, fmt.Errorf("models: list scanners: %w", err)
	}
	db := s.db.WithContext(ctx).Preload("Key")
	if !includeInactive {
		db = db.Where("last_check_in_at > ?", cutoff)
	}
	if err := db.Order("name, host, id").Find(&list.Scanners).Error; err != nil {
		return list, fmt.Errorf("models: list scanners: %w", err)
	}
	for i := range list.Scanners {
		sc := &list.Scanners[i]
		sc.FirstCheckInAt = sc.FirstCheckInAt.UTC()
		sc.LastCheckInAt = sc.LastCheckInAt.UTC()
	}
	return list, nil
}

// ScannerNameForKey returns the name of the scanner that last checked in with the key, or ""
// when none has. Instances that did not see the check-in use it to name the key's client.
func (s *Store) ScannerNameForKey(ctx context.Context, keyID int64) (string, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var names []string
	err := s.db.WithContext(ctx).Model(&Scanner{}).Where("api_key_id = ?", keyID).
		Order("last_check_in_at DESC").Limit(1).Pluck("name", &names).Error
	if err != nil {
		return "", fmt.Errorf("models: scanner name for key: %w", err)
	}
	if len(names) == 0 {
		return "", nil
	}
	return names[0], nil
}
