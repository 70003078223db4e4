package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/web"
)

// scannerCheckInRequest is the body of POST /api/v1/scanners/checkin.
type scannerCheckInRequest struct {
	Name    string `json:"name"`
	Host    string `json:"host"`
	Version string `json:"version"`
}

// scannerJSON is a scanner as the API shows it after a check-in.
type scannerJSON struct {
	ID             int64     `json:"id"`
	Name           string    `json:"name"`
	Host           string    `json:"host"`
	Version        string    `json:"version"`
	FirstCheckInAt time.Time `json:"first_check_in_at"`
	LastCheckInAt  time.Time `json:"last_check_in_at"`
}

// inventoryRequest is the body of POST /api/v1/scanners/inventory. Each item is decoded on
// its own, so an error can name it by index ("items[3].name").
type inventoryRequest struct {
	Items []json.RawMessage `json:"items"`
}

// inventoryItemRequest is one item a scanner found, named by its external key.
type inventoryItemRequest struct {
	ExternalKey string         `json:"external_key"`
	Type        string         `json:"type"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Properties  map[string]any `json:"properties"`
}

// apiScannerCheckIn answers POST /api/v1/scanners/checkin: it records the scanner and its key,
// and from then on the key's uses are shown under the scanner's name.
func (h *Handler) scannerCheckIn(c echo.Context) error {
	var body scannerCheckInRequest
	if err := decodeJSON(c, &body); err != nil {
		return apiError(c, err)
	}
	key := web.CurrentKey(c)
	scanner, err := h.store.CheckInScanner(c.Request().Context(), models.ScannerCheckIn{
		Name: body.Name, Host: body.Host, Version: body.Version, APIKeyID: key.ID,
	})
	if err != nil {
		return apiError(c, err)
	}
	h.keys.NoteScanner(key.ID, scanner.Name)
	return c.JSON(http.StatusOK, scannerJSON{
		ID: scanner.ID, Name: scanner.Name, Host: scanner.Host, Version: scanner.Version,
		FirstCheckInAt: scanner.FirstCheckInAt.UTC(), LastCheckInAt: scanner.LastCheckInAt.UTC(),
	})
}

// apiScannerInventory answers POST /api/v1/scanners/inventory: every item is created or, when
// its external key is known, updated, all in one transaction.
func (h *Handler) scannerInventory(c echo.Context) error {
	var body inventoryRequest
	if err := decodeJSON(c, &body); err != nil {
		return apiError(c, err)
	}
	if body.Items == nil {
		return apiError(c, &models.FieldError{Field: "items", Message: "is required: send the items found as a JSON array"})
	}
	items := make([]models.InventoryItem, len(body.Items))
	for i, raw := range body.Items {
		var item inventoryItemRequest
		if err := decodeJSONFrom(raw, &item, fmt.Sprintf("items[%d].", i)); err != nil {
			return apiError(c, err)
		}
		items[i] = models.InventoryItem{ExternalKey: item.ExternalKey, ItemInput: models.ItemInput{
			Type: item.Type, Name: item.Name, Description: item.Description, Properties: item.Properties,
		}}
	}
	result, err := h.store.UpsertInventory(c.Request().Context(), items, models.ActorOf(web.CurrentKey(c)))
	if err != nil {
		return apiError(c, err)
	}
	return c.JSON(http.StatusOK, map[string]int{"created": result.Created, "updated": result.Updated})
}
