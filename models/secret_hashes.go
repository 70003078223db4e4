package models

import (
	"context"
	"database/sql"
	"fmt"
)

// ForEachSecretHash calls fn with the SHA-256, in hex, of every secret the store holds: each
// key's current secret, each previous secret in its grace, and each tombstone (a secret that
// stopped working within KeyTombstonesKept). It reads them in one query, row by row, so that a
// hundred thousand keys cost no more memory than fn keeps; hash is valid only during the call.
// The verifier builds its index of secret hashes from it, which refuses every other secret
// without a query.
func (s *Store) ForEachSecretHash(ctx context.Context, fn func(hash []byte)) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.db.WithContext(ctx).Raw(`SELECT secret_hash FROM api_keys
		UNION ALL SELECT previous_secret_hash FROM api_keys WHERE previous_secret_hash IS NOT NULL
		UNION ALL SELECT secret_hash FROM key_tombstones`).Rows()
	if err != nil {
		return fmt.Errorf("models: secret hashes: %w", err)
	}
	defer rows.Close()
	var hash sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&hash); err != nil {
			return fmt.Errorf("models: secret hashes: %w", err)
		}
		fn(hash)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("models: secret hashes: %w", err)
	}
	return nil
}
