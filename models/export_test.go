package models

import "context"

// What the tests of models_test check against.
const (
	DailyUsesKept         = dailyUsesKept
	DailyUsesPrunedAtOnce = dailyUsesPrunedAtOnce
)

// SQLiteFile is sqliteFile, for the table of data source names in models_test.
var SQLiteFile = sqliteFile

// MigrateTo applies the migrations up to version and no further, as a database made by an
// older Keysmith has them.
func (s *Store) MigrateTo(ctx context.Context, version int64) error {
	provider, err := s.migrations()
	if err != nil {
		return err
	}
	_, err = provider.UpTo(ctx, version)
	return err
}

// ForgeAuditLink computes the link that the event at position would have under secret (nil
// for SHA-256) with the link before it that the event names: what the holder of the key, or
// anyone for an unkeyed chain, can compute.
func (s *Store) ForgeAuditLink(ctx context.Context, position int64, secret []byte) (string, error) {
	var row auditRow
	if err := s.db.WithContext(ctx).Where("chain_seq = ?", position).Take(&row).Error; err != nil {
		return "", err
	}
	key := newAuditKey(secret)
	row.ChainKey = key.id
	return key.link(&row), nil
}
