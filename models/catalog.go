package models

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrItemNotFound is returned for a catalog item id that does not exist.
var ErrItemNotFound = fmt.Errorf("catalog item %w", ErrNotFound)

// Limits of catalog values, in characters.
const (
	MaxItemNameLength        = 200
	MaxItemDescriptionLength = 10_000
	MaxExternalKeyLength     = 255
	// MaxInventoryItems bounds one inventory upload; scanners send larger inventories in parts.
	MaxInventoryItems = 1000
)

// Actor is the API key that makes a change, recorded by its public id and name so the record
// stays readable after the key is deleted.
type Actor struct {
	KeyID   string
	KeyName string
}

// ActorOf returns the actor for a key.
func ActorOf(key *APIKey) Actor { return Actor{KeyID: key.PublicID, KeyName: key.Name} }

// Item is a catalog item: a dataset, a field, a process… of one of the metamodel's types.
type Item struct {
	ID          int64
	Type        string
	Name        string
	NameLower   string
	Description string
	Properties  map[string]any `gorm:"serializer:json;not null"`
	// ExternalKey identifies an item a scanner sends, so its next inventory updates the item
	// rather than adding a copy. Items created through the API have none.
	ExternalKey      *string
	ChangedByKeyID   string
	ChangedByKeyName string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// TableName keeps catalog items apart from any other kind of item.
func (Item) TableName() string { return "catalog_items" }

// ItemInput is what creating or replacing an item's content takes.
type ItemInput struct {
	Type        string
	Name        string
	Description string
	Properties  map[string]any
}

// ItemPatch changes the fields that are set and leaves the others; Properties, when set,
// replaces the whole set of properties.
type ItemPatch struct {
	Type        *string
	Name        *string
	Description *string
	Properties  map[string]any
}

// ItemQuery selects a page of items whose name contains Search, case-insensitively.
type ItemQuery struct {
	Search  string
	Page    int
	PerPage int
}

// ItemPage is one page of items with the total count of matching items.
type ItemPage struct {
	Items   []Item
	Total   int64
	Page    int
	PerPage int
}

// metamodelRow is the single row that holds the metamodel document.
type metamodelRow struct {
	ID             int64
	Document       string
	UpdatedAt      *time.Time
	ChangedByKeyID string
}

func (metamodelRow) TableName() string { return "metamodel" }

// Metamodel describes the item types of the catalog and the properties each may carry. It is
// stored and exchanged as one JSON document.
type Metamodel struct {
	ItemTypes []ItemType `json:"item_types"`
}

// ItemType is one kind of catalog item.
type ItemType struct {
	Name       string        `json:"name"`
	Label      string        `json:"label"`
	Properties []PropertyDef `json:"properties"`
}

// PropertyDef is a property an item type may carry, with the kind of JSON value it takes.
type PropertyDef struct {
	Name     string `json:"name"`
	Label    string `json:"label"`
	Type     string `json:"type"`
	Required bool   `json:"required"`
}

// The kinds of value a property takes.
const (
	PropertyString  = "string"
	PropertyNumber  = "number"
	PropertyBoolean = "boolean"
)

// Limits of the metamodel.
const (
	MaxItemTypes          = 100
	MaxPropertiesPerType  = 100
	MaxMetamodelLabel     = 100
	maxPropertyTextLength = 10_000
)

var identifierPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,63}$`)

// Validate checks the document as a whole: at least one type, identifiers that scripts can
// use, no duplicates, and known property kinds.
func (m Metamodel) Validate() error {
	if len(m.ItemTypes) == 0 {
		return &FieldError{"item_types", "must list at least one item type"}
	}
	if len(m.ItemTypes) > MaxItemTypes {
		return &FieldError{"item_types", fmt.Sprintf("must list at most %d item types", MaxItemTypes)}
	}
	seenTypes := map[string]bool{}
	for i, t := range m.ItemTypes {
		at := fmt.Sprintf("item_types[%d]", i)
		if err := checkIdentifier(at+".name", t.Name); err != nil {
			return err
		}
		if seenTypes[t.Name] {
			return &FieldError{at + ".name", fmt.Sprintf("item type %q is listed twice", t.Name)}
		}
		seenTypes[t.Name] = true
		if err := checkText(at+".label", t.Label, 1, MaxMetamodelLabel); err != nil {
			return err
		}
		if len(t.Properties) > MaxPropertiesPerType {
			return &FieldError{at + ".properties", fmt.Sprintf("must list at most %d properties", MaxPropertiesPerType)}
		}
		seenProps := map[string]bool{}
		for j, p := range t.Properties {
			pat := fmt.Sprintf("%s.properties[%d]", at, j)
			if err := checkIdentifier(pat+".name", p.Name); err != nil {
				return err
			}
			if seenProps[p.Name] {
				return &FieldError{pat + ".name", fmt.Sprintf("property %q is listed twice", p.Name)}
			}
			seenProps[p.Name] = true
			if err := checkText(pat+".label", p.Label, 1, MaxMetamodelLabel); err != nil {
				return err
			}
			switch p.Type {
			case PropertyString, PropertyNumber, PropertyBoolean:
			default:
				return &FieldError{pat + ".type", "must be string, number or boolean"}
			}
		}
	}
	return nil
}

// itemType returns the type with that name, or nil.
func (m Metamodel) itemType(name string) *ItemType {
	for i := range m.ItemTypes {
		if m.ItemTypes[i].Name == name {
			return &m.ItemTypes[i]
		}
	}
	return nil
}

// typeNames lists the type names for error messages.
func (m Metamodel) typeNames() string {
	names := make([]string, len(m.ItemTypes))
	for i, t := range m.ItemTypes {
		names[i] = t.Name
	}
	return strings.Join(names, ", ")
}

// checkItem validates an item against the metamodel and returns it cleaned: text trimmed and
// properties that the type no longer defines dropped. Properties the client sent (strict) must
// all be defined; properties kept from the stored item (not strict) may have been removed from
// the metamodel since, and are dropped quietly. prefix is the JSON path of the item ("" or
// "items[3].").
func (m Metamodel) checkItem(in ItemInput, strict bool, prefix string) (ItemInput, error) {
	in.Type = strings.TrimSpace(in.Type)
	in.Name = strings.TrimSpace(in.Name)
	in.Description = strings.TrimSpace(in.Description)
	t := m.itemType(in.Type)
	if t == nil {
		return in, &FieldError{prefix + "type", fmt.Sprintf("must be one of the metamodel's item types: %s", m.typeNames())}
	}
	if err := checkText(prefix+"name", in.Name, 1, MaxItemNameLength); err != nil {
		return in, err
	}
	if err := CheckText(prefix+"description", in.Description, true); err != nil {
		return in, err
	}
	if utf8.RuneCountInString(in.Description) > MaxItemDescriptionLength {
		return in, &FieldError{prefix + "description", fmt.Sprintf("must be at most %d characters", MaxItemDescriptionLength)}
	}
	defined := map[string]PropertyDef{}
	for _, p := range t.Properties {
		defined[p.Name] = p
	}
	names := make([]string, 0, len(in.Properties))
	for name := range in.Properties {
		names = append(names, name)
	}
	sort.Strings(names) // the first error reported does not depend on map order
	props := map[string]any{}
	for _, name := range names {
		value := in.Properties[name]
		field := prefix + "properties." + name
		def, ok := defined[name]
		if !ok {
			if strict {
				return in, &FieldError{field, fmt.Sprintf("is not a property of item type %q", t.Name)}
			}
			continue
		}
		if value == nil {
			continue
		}
		if err := checkPropertyValue(field, def, value); err != nil {
			return in, err
		}
		props[name] = value
	}
	for _, p := range t.Properties {
		if _, ok := props[p.Name]; p.Required && !ok {
			return in, &FieldError{prefix + "properties." + p.Name, fmt.Sprintf("is required by item type %q", t.Name)}
		}
	}
	in.Properties = props
	return in, nil
}

func checkPropertyValue(field string, def PropertyDef, value any) error {
	switch def.Type {
	case PropertyString:
		s, ok := value.(string)
		if !ok {
			return &FieldError{field, "must be a string"}
		}
		if err := CheckText(field, s, true); err != nil {
			return err
		}
		if utf8.RuneCountInString(s) > maxPropertyTextLength {
			return &FieldError{field, fmt.Sprintf("must be at most %d characters", maxPropertyTextLength)}
		}
	case PropertyNumber:
		if _, ok := value.(float64); !ok {
			return &FieldError{field, "must be a number"}
		}
	case PropertyBoolean:
		if _, ok := value.(bool); !ok {
			return &FieldError{field, "must be true or false"}
		}
	}
	return nil
}

func checkIdentifier(field, value string) error {
	if !identifierPattern.MatchString(value) {
		return &FieldError{field, "must start with a lowercase letter and use only lowercase letters, digits, - and _ (at most 64)"}
	}
	return nil
}

// checkText requires value to be one line of valid text, min to max characters long.
func checkText(field, value string, min, max int) error {
	if err := CheckText(field, value, false); err != nil {
		return err
	}
	n := utf8.RuneCountInString(value)
	if n < min || n > max {
		if min > 0 {
			return &FieldError{field, fmt.Sprintf("must be %d to %d characters", min, max)}
		}
		return &FieldError{field, fmt.Sprintf("must be at most %d characters", max)}
	}
	return nil
}

// metamodel reads the metamodel inside tx. lock takes a share lock on PostgreSQL, so an item
// written in tx cannot use a type that a concurrent replacement removes (SQLite serialises
// writing transactions anyway).
func (s *Store) metamodel(tx *gorm.DB, lock string) (*Metamodel, error) {
	var row metamodelRow
	db := tx
	if lock != "" {
		db = db.Clauses(clause.Locking{Strength: lock})
	}
	if err := db.First(&row, 1).Error; err != nil {
		return nil, err
	}
	var m Metamodel
	if err := json.Unmarshal([]byte(row.Document), &m); err != nil {
		return nil, err
	}
	return &m, nil
}

// Metamodel returns the current metamodel.
func (s *Store) Metamodel(ctx context.Context) (*Metamodel, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	m, err := s.metamodel(s.db.WithContext(ctx), "")
	if err != nil {
		return nil, fmt.Errorf("models: metamodel: %w", err)
	}
	return m, nil
}

// ReplaceMetamodel validates m and stores it in place of the current one. An item type that
// catalog items still use cannot be removed: the FieldError names it. Properties may be
// removed; items drop their values on their next write.
func (s *Store) ReplaceMetamodel(ctx context.Context, m Metamodel, by Actor) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := m.Validate(); err != nil {
		return err
	}
	if m.ItemTypes == nil {
		m.ItemTypes = []ItemType{}
	}
	for i := range m.ItemTypes {
		if m.ItemTypes[i].Properties == nil {
			m.ItemTypes[i].Properties = []PropertyDef{}
		}
	}
	document, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("models: replace metamodel: %w", err)
	}
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if _, err := s.metamodel(tx, clause.LockingStrengthUpdate); err != nil {
			return fmt.Errorf("models: replace metamodel: %w", err)
		}
		var used []string
		if err := tx.Model(&Item{}).Distinct("type").Order("type").Pluck("type", &used).Error; err != nil {
			return fmt.Errorf("models: replace metamodel: %w", err)
		}
		for _, name := range used {
			if m.itemType(name) == nil {
				return &FieldError{"item_types", fmt.Sprintf("item type %q is used by catalog items; delete or retype them first", name)}
			}
		}
		now := s.stamp()
		res := tx.Model(&metamodelRow{}).Where("id = 1").Updates(map[string]any{
			"document": string(document), "updated_at": now, "changed_by_key_id": by.KeyID,
		})
		if res.Error != nil {
			return fmt.Errorf("models: replace metamodel: %w", res.Error)
		}
		return nil
	})
	return err
}

// CreateItem validates in against the metamodel and stores it as a new item.
func (s *Store) CreateItem(ctx context.Context, in ItemInput, by Actor) (*Item, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var item *Item
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		m, err := s.metamodel(tx, clause.LockingStrengthShare)
		if err != nil {
			return fmt.Errorf("models: create item: %w", err)
		}
		checked, err := m.checkItem(in, true, "")
		if err != nil {
			return err
		}
		item = normalise(newItem(checked, by, s.stamp()))
		if err := tx.Create(item).Error; err != nil {
			return fmt.Errorf("models: create item: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return item, nil
}

// stamp is the store's time at the microsecond precision both databases keep, so what a write
// returns equals what a later read gives.
func (s *Store) stamp() time.Time { return s.now().Truncate(time.Microsecond) }

func newItem(in ItemInput, by Actor, now time.Time) *Item {
	return &Item{
		Type:             in.Type,
		Name:             in.Name,
		NameLower:        strings.ToLower(in.Name),
		Description:      in.Description,
		Properties:       in.Properties,
		ChangedByKeyID:   by.KeyID,
		ChangedByKeyName: by.KeyName,
		CreatedAt:        now,
		UpdatedAt:        now,
	}
}

// ItemByID returns the item with that id, or ErrItemNotFound.
func (s *Store) ItemByID(ctx context.Context, id int64) (*Item, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var item Item
	err := s.db.WithContext(ctx).First(&item, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrItemNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("models: item by id: %w", err)
	}
	return normalise(&item), nil
}

// normalise gives an item read from the database UTC times and a non-nil property map.
func normalise(item *Item) *Item {
	item.CreatedAt = item.CreatedAt.UTC()
	item.UpdatedAt = item.UpdatedAt.UTC()
	if item.Properties == nil {
		item.Properties = map[string]any{}
	}
	return item
}

// itemColumns are the columns a write of an item's content sets.
var itemColumns = []string{"type", "name", "name_lower", "description", "properties", "changed_by_key_id", "changed_by_key_name", "updated_at"}

// UpdateItem applies patch to the item with that id, validates the result against the
// metamodel, and records by as the item's last editor. ErrItemNotFound when there is no such
// item.
func (s *Store) UpdateItem(ctx context.Context, id int64, patch ItemPatch, by Actor) (*Item, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var updated *Item
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		m, err := s.metamodel(tx, clause.LockingStrengthShare)
		if err != nil {
			return fmt.Errorf("models: update item: %w", err)
		}
		var item Item
		err = tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).First(&item, id).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrItemNotFound
		}
		if err != nil {
			return fmt.Errorf("models: update item: %w", err)
		}
		in := ItemInput{Type: item.Type, Name: item.Name, Description: item.Description, Properties: item.Properties}
		if patch.Type != nil {
			in.Type = *patch.Type
		}
		if patch.Name != nil {
			in.Name = *patch.Name
		}
		if patch.Description != nil {
			in.Description = *patch.Description
		}
		strict := patch.Properties != nil
		if strict {
			in.Properties = patch.Properties
		}
		in, err = m.checkItem(in, strict, "")
		if err != nil {
			return err
		}
		next := newItem(in, by, s.stamp())
		next.ID, next.CreatedAt, next.ExternalKey = item.ID, item.CreatedAt, item.ExternalKey
		if err := tx.Model(&Item{}).Where("id = ?", id).Select(itemColumns).Updates(next).Error; err != nil {
			return fmt.Errorf("models: update item: %w", err)
		}
		updated = normalise(next)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return updated, nil
}

// DeleteItem removes exactly the item with that id; ErrItemNotFound when there is none.
func (s *Store) DeleteItem(ctx context.Context, id int64) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res := s.db.WithContext(ctx).Where("id = ?", id).Delete(&Item{})
	if res.Error != nil {
		return fmt.Errorf("models: delete item: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return ErrItemNotFound
	}
	return nil
}

// ListItems returns the page of items whose name contains q.Search, by name.
func (s *Store) ListItems(ctx context.Context, q ItemQuery) (ItemPage, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if q.PerPage <= 0 {
		q.PerPage = 25
	}
	if q.Page < 1 {
		q.Page = 1
	}
	if err := CheckText("q", q.Search, false); err != nil {
		return ItemPage{}, err
	}
	db := s.db.WithContext(ctx).Model(&Item{})
	if search := strings.ToLower(strings.TrimSpace(q.Search)); search != "" {
		db = db.Where("name_lower LIKE ? ESCAPE '\\'", "%"+escapeLike(search)+"%")
	}
	page := ItemPage{Page: q.Page, PerPage: q.PerPage, Items: []Item{}}
	if err := db.Count(&page.Total).Error; err != nil {
		return page, fmt.Errorf("models: list items: %w", err)
	}
	err := db.Order("name_lower ASC, id ASC").Limit(q.PerPage).Offset((q.Page - 1) * q.PerPage).Find(&page.Items).Error
	if err != nil {
		return page, fmt.Errorf("models: list items: %w", err)
	}
	for i := range page.Items {
		normalise(&page.Items[i])
	}
	return page, nil
}

// InventoryItem is one item of a scanner's inventory, identified by its external key.
type InventoryItem struct {
	ExternalKey string
	ItemInput
}

// InventoryResult counts what an inventory upload did.
type InventoryResult struct {
	Created int
	Updated int
}

// UpsertInventory stores a scanner's inventory in one transaction: an item whose external key
// is already known is updated, any other is created. Either every item is valid and written,
// or nothing is.
func (s *Store) UpsertInventory(ctx context.Context, items []InventoryItem, by Actor) (InventoryResult, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var result InventoryResult
	if len(items) > MaxInventoryItems {
		return result, &FieldError{"items", fmt.Sprintf("must hold at most %d items; send larger inventories in parts", MaxInventoryItems)}
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		m, err := s.metamodel(tx, clause.LockingStrengthShare)
		if err != nil {
			return fmt.Errorf("models: upsert inventory: %w", err)
		}
		cleaned := make([]InventoryItem, len(items))
		seen := map[string]int{}
		for i, item := range items {
			prefix := fmt.Sprintf("items[%d].", i)
			key := strings.TrimSpace(item.ExternalKey)
			if err := checkText(prefix+"external_key", key, 1, MaxExternalKeyLength); err != nil {
				return err
			}
			if first, dup := seen[key]; dup {
				return &FieldError{prefix + "external_key", fmt.Sprintf("repeats the external key of items[%d]", first)}
			}
			seen[key] = i
			in, err := m.checkItem(item.ItemInput, true, prefix)
			if err != nil {
				return err
			}
			cleaned[i] = InventoryItem{ExternalKey: key, ItemInput: in}
		}
		now := s.stamp()
		for _, item := range cleaned {
			row := newItem(item.ItemInput, by, now)
			row.ExternalKey = &item.ExternalKey
			res := tx.Model(&Item{}).Where("external_key = ?", item.ExternalKey).Select(itemColumns).Updates(row)
			if res.Error != nil {
				return fmt.Errorf("models: upsert inventory: %w", res.Error)
			}
			if res.RowsAffected > 0 {
				result.Updated++
				continue
			}
			// Another upload may create the same key meanwhile; then this one updates it.
			err := tx.Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "external_key"}},
				DoUpdates: clause.AssignmentColumns(itemColumns),
			}).Create(row).Error
			if err != nil {
				return fmt.Errorf("models: upsert inventory: %w", err)
			}
			result.Created++
		}
		return nil
	})
	if err != nil {
		return InventoryResult{}, err
	}
	return result, nil
}
