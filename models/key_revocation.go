package models

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrRevocationNotFound means no revocation has that id: it never existed, or it was pruned.
var ErrRevocationNotFound = fmt.Errorf("revocation %w", ErrNotFound)

// keyRevocation is the record of a change to what a key authenticates, written by changeKey in
// the change's transaction. A change that ended the validity of a key's secrets (Kind
// noticeRevoked) is a revocation: its id travels in the KeyNotice, so that every instance can
// acknowledge applying it. The others are recorded for pollKeyRevocations only. Times are Unix
// microseconds.
type keyRevocation struct {
	ID        int64
	APIKeyID  int64
	RevokedAt int64
	// SecretHashes are the notice's hashes, space-separated (see pollKeyRevocations).
	SecretHashes string
	Kind         string
}

// The kinds of change a keyRevocation records.
const (
	// noticeRevoked: the change ended a secret's validity; a revocation to prove.
	noticeRevoked = "revoked"
	// noticeChanged: the change ended nothing but changed a secret's terms (a rotation with a
	// grace): every instance reads the key again.
	noticeChanged = "changed"
	// noticeBegan: the change began a secret's validity (a key created or enabled).
	noticeBegan = "began"
)

// noticeKind is the kind of change notice announces.
func noticeKind(notice KeyNotice) string {
	switch {
	case !notice.Revoked:
		return noticeBegan
	case notice.NothingEnded:
		return noticeChanged
	}
	return noticeRevoked
}

// notice is the KeyNotice the record was written for.
func (r keyRevocation) notice() KeyNotice {
	notice := KeyNotice{KeyID: r.APIKeyID, Hashes: strings.Fields(r.SecretHashes), Revoked: r.Kind != noticeBegan, NothingEnded: r.Kind == noticeChanged}
	if r.Kind == noticeRevoked {
		notice.RevocationID = r.ID
	}
	return notice
}

func (keyRevocation) TableName() string { return "key_revocations" }

// RevocationAck says that an instance applied a revocation, and when, by its own clock.
type RevocationAck struct {
	RevocationID   int64
	InstanceID     string
	AcknowledgedAt time.Time
}

// revocationAckRow is RevocationAck as stored.
type revocationAckRow struct {
	RevocationID   int64  `gorm:"primaryKey"`
	InstanceID     string `gorm:"primaryKey"`
	AcknowledgedAt int64
}

func (revocationAckRow) TableName() string { return "key_revocation_acks" }

// recordKeyNotice writes the change notice announces in tx, at the store's time, and returns
// its id.
func (s *Store) recordKeyNotice(tx *gorm.DB, notice KeyNotice) (int64, error) {
	row := keyRevocation{APIKeyID: notice.KeyID, RevokedAt: s.now().UnixMicro(), SecretHashes: strings.Join(notice.Hashes, " "), Kind: noticeKind(notice)}
	if err := tx.Create(&row).Error; err != nil {
		return 0, fmt.Errorf("models: record key change: %w", err)
	}
	return row.ID, nil
}

// AcknowledgeRevocations records that the instance applied these revocations. Writing an
// acknowledgement twice is harmless: the first stays.
func (s *Store) AcknowledgeRevocations(ctx context.Context, acks []RevocationAck) error {
	if len(acks) == 0 {
		return nil
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows := make([]revocationAckRow, len(acks))
	for i, ack := range acks {
		rows[i] = revocationAckRow{RevocationID: ack.RevocationID, InstanceID: ack.InstanceID, AcknowledgedAt: ack.AcknowledgedAt.UnixMicro()}
	}
	if err := s.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error; err != nil {
		return fmt.Errorf("models: acknowledge revocations: %w", err)
	}
	return nil
}

// LatestKeyRevocation returns the id of the key's latest revocation, so that the console can
// show the proof of the change it has just made; ErrRevocationNotFound when it has none.
func (s *Store) LatestKeyRevocation(ctx context.Context, keyID int64) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var ids []int64
	err := s.db.WithContext(ctx).Model(&keyRevocation{}).Where("api_key_id = ? AND kind = ?", keyID, noticeRevoked).Order("id DESC").Limit(1).Pluck("id", &ids).Error
	if err != nil {
		return 0, fmt.Errorf("models: latest key revocation: %w", err)
	}
	if len(ids) == 0 {
		return 0, ErrRevocationNotFound
	}
	return ids[0], nil
}

// RevocationProof is how far a revocation has reached: which instances acknowledged applying
// it, and which instances that were live when it was committed have not.
type RevocationProof struct {
	ID        int64
	APIKeyID  int64
	RevokedAt time.Time
	// Acks are the acknowledgements, earliest first.
	Acks []RevocationAck
	// Unacknowledged are the instances live when the revocation was committed (started
	// before it, and heard from within their live window) that have not acknowledged it.
	// An instance that stopped since deregistered, and serves nothing any more.
	Unacknowledged []Instance
}

// Instances is how many instances the revocation had to reach: those that acknowledged it and
// those that have not.
func (p RevocationProof) Instances() int { return len(p.Acks) + len(p.Unacknowledged) }

// Complete tells whether every instance that had to apply the revocation acknowledged it.
func (p RevocationProof) Complete() bool { return len(p.Unacknowledged) == 0 && len(p.Acks) > 0 }

// Took is the time from the revocation's commit to its last acknowledgement, by the
// instances' clocks; zero without acknowledgements.
func (p RevocationProof) Took() time.Duration {
	if len(p.Acks) == 0 {
		return 0
	}
	return max(p.Acks[len(p.Acks)-1].AcknowledgedAt.Sub(p.RevokedAt), 0)
}

// RevocationProof returns how far the revocation with that id has reached, or
// ErrRevocationNotFound.
func (s *Store) RevocationProof(ctx context.Context, id int64) (*RevocationProof, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	db := s.db.WithContext(ctx)
	var revocation keyRevocation
	err := db.Where("id = ? AND kind = ?", id, noticeRevoked).First(&revocation).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrRevocationNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("models: revocation proof: %w", err)
	}
	var acks []revocationAckRow
	if err := db.Where("revocation_id = ?", id).Order("acknowledged_at, instance_id").Find(&acks).Error; err != nil {
		return nil, fmt.Errorf("models: revocation proof: %w", err)
	}
	// Read after the acknowledgements: one written in between makes its instance look
	// unacknowledged for one more look, never counted twice or not at all.
	var live []instanceRow
	err = db.Where("started_at <= ? AND live_until >= ?", revocation.RevokedAt, revocation.RevokedAt).
		Order("started_at, id").Find(&live).Error
	if err != nil {
		return nil, fmt.Errorf("models: revocation proof: %w", err)
	}
	proof := &RevocationProof{ID: revocation.ID, APIKeyID: revocation.APIKeyID, RevokedAt: time.UnixMicro(revocation.RevokedAt).UTC()}
	acked := make(map[string]bool, len(acks))
	for _, ack := range acks {
		acked[ack.InstanceID] = true
		proof.Acks = append(proof.Acks, RevocationAck{RevocationID: id, InstanceID: ack.InstanceID, AcknowledgedAt: time.UnixMicro(ack.AcknowledgedAt).UTC()})
	}
	for _, row := range live {
		if !acked[row.ID] {
			proof.Unacknowledged = append(proof.Unacknowledged, row.instance())
		}
	}
	return proof, nil
}

// PruneKeyRevocations deletes the key changes recorded before before, revocations with their
// acknowledgements, and returns how many records it deleted.
func (s *Store) PruneKeyRevocations(ctx context.Context, before time.Time) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var deleted int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		cutoff := before.UnixMicro()
		if err := tx.Where("revocation_id IN (?)", tx.Model(&keyRevocation{}).Select("id").Where("revoked_at < ?", cutoff)).
			Delete(&revocationAckRow{}).Error; err != nil {
			return err
		}
		res := tx.Where("revoked_at < ?", cutoff).Delete(&keyRevocation{})
		deleted = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("models: prune key revocations: %w", err)
	}
	return deleted, nil
}
