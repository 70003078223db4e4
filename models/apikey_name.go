package models

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
	"gorm.io/gorm"
)

// MaxAPIKeyNameLength is the longest name a key may have, in characters.
const MaxAPIKeyNameLength = 100

// invisibleInNames are the characters a key name may not hold because a reader cannot see
// them, or sees them as something else: format characters (zero-width spaces and joiners,
// bidirectional controls, the soft hyphen), private-use and surrogate code points, line and
// paragraph separators, default-ignorable code points (among them the Hangul fillers U+115F,
// U+1160, U+3164 and U+FFA0), noncharacters, and the blank Braille pattern U+2800, which
// shows as a space but is not one.
var invisibleInNames = []*unicode.RangeTable{
	unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp,
	unicode.Other_Default_Ignorable_Code_Point, unicode.Noncharacter_Code_Point,
	{R16: []unicode.Range16{{Lo: 0x2800, Hi: 0x2800, Stride: 1}}},
}

// CleanAPIKeyName returns the name as it is stored: trimmed and in Unicode normal form C, so
// that the same letters typed on two systems are the same name. A name that is empty, too
// long, not valid UTF-8, holds control or invisible characters, or has nothing but spaces and
// combining marks is refused with a FieldError for "name", whose message reads after "The
// name ".
func CleanAPIKeyName(name string) (string, error) {
	if err := CheckText("name", name, false); err != nil {
		return "", err
	}
	name = norm.NFC.String(strings.TrimSpace(name))
	if name == "" {
		return "", &FieldError{Field: "name", Message: "is required"}
	}
	if n := utf8.RuneCountInString(name); n > MaxAPIKeyNameLength {
		return "", &FieldError{Field: "name", Message: fmt.Sprintf("must be at most %d characters (this one has %d)", MaxAPIKeyNameLength, n)}
	}
	visible := false
	for _, r := range name {
		if unicode.In(r, invisibleInNames...) {
			return "", &FieldError{Field: "name", Message: fmt.Sprintf("must not contain invisible or formatting characters (found %U)", r)}
		}
		visible = visible || !unicode.In(r, unicode.Z, unicode.M)
	}
	if !visible {
		return "", &FieldError{Field: "name", Message: "must contain a letter, digit, symbol or punctuation mark, not only spaces and marks"}
	}
	return name, nil
}

// apiKeyNameFold is the form in which two names are compared for uniqueness: compatibility
// normal form (full-width letters and ligatures become their plain letters, non-breaking and
// other spaces become spaces), Unicode case folding (which also makes ß and SS equal),
// variation selectors dropped (an emoji's presentation is not a different name), and runs of
// spaces made one, as a page shows them. NFC and NFD spellings fold alike.
func apiKeyNameFold(name string) string {
	folded := norm.NFKC.String(cases.Fold().String(norm.NFKC.String(name)))
	folded = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Variation_Selector, r) {
			return -1
		}
		return r
	}, folded)
	return strings.Join(strings.Fields(folded), " ")
}

// passOnNameFold runs in the transaction that deletes a key that held fold. A key made
// before names were folded may share that fold without holding it (see APIKey.NameFold):
// the oldest such key takes it over, so the name stays taken while any key bears it.
func passOnNameFold(tx *gorm.DB, fold string) error {
	var unfolded []APIKey
	if err := tx.Select("id", "name").Where("name_fold IS NULL").Order("id").Find(&unfolded).Error; err != nil {
		return err
	}
	for _, key := range unfolded {
		if apiKeyNameFold(key.Name) == fold {
			return tx.Model(&APIKey{}).Where("id = ?", key.ID).Update("name_fold", fold).Error
		}
	}
	return nil
}

// nameFoldBatch is how many keys one statement of backfillNameFolds updates. Its CASE costs
// each row a comparison per key in the batch: 100 folds 100,000 keys in about 4 s on
// PostgreSQL and 1 s on SQLite (500: 12 s on PostgreSQL).
const nameFoldBatch = 100

// backfillNameFolds gives the keys that have no fold yet the fold of their name, oldest key
// first. SQL cannot compute the fold, so this runs in Go after the migrations: for the keys
// made before the name_fold column (migration 00005), and for any that an instance of an
// older version makes while a new one starts. A key whose fold an older key already holds
// keeps none: it goes on working under its name, which stays taken. When another instance
// creates a key with a fold meanwhile, the backfill starts over, at most three times.
func (s *Store) backfillNameFolds(ctx context.Context) error {
	for attempt := 1; ; attempt++ {
		err := s.backfillNameFoldsOnce(ctx)
		if err == nil || !isUniqueViolation(err) || attempt == 3 {
			return err
		}
	}
}

func (s *Store) backfillNameFoldsOnce(ctx context.Context) error {
	db := s.db.WithContext(ctx)
	var unfolded []APIKey
	if err := db.Select("id", "name").Where("name_fold IS NULL").Order("id").Find(&unfolded).Error; err != nil {
		return err
	}
	held := map[string]bool{}
	for start := 0; start < len(unfolded); start += nameFoldBatch {
		batch := unfolded[start:min(start+nameFoldBatch, len(unfolded))]
		folds := make([]string, len(batch))
		for i, key := range batch {
			folds[i] = apiKeyNameFold(key.Name)
		}
		var taken []string
		if err := db.Model(&APIKey{}).Where("name_fold IN ?", folds).Pluck("name_fold", &taken).Error; err != nil {
			return err
		}
		for _, fold := range taken {
			held[fold] = true
		}
		var whens strings.Builder
		var args []any
		var ids []int64
		for i, key := range batch {
			if held[folds[i]] {
				continue
			}
			held[folds[i]] = true
			whens.WriteString(" WHEN ? THEN ?")
			args = append(args, key.ID, folds[i])
			ids = append(ids, key.ID)
		}
		if len(ids) == 0 {
			continue
		}
		args = append(args, ids)
		err := db.Exec("UPDATE api_keys SET name_fold = CASE id"+whens.String()+" END WHERE name_fold IS NULL AND id IN ?", args...).Error
		if err != nil {
			return err
		}
	}
	return nil
}
