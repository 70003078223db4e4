package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/web"
)

// The catalog API's paging: per_page defaults to 25 and may go up to 100.
const (
	defaultItemsPerPage = 25
	maxItemsPerPage     = 100
	maxItemSearchLength = 200
)

// itemJSON is a catalog item as the API shows it.
type itemJSON struct {
	ID            int64          `json:"id"`
	Type          string         `json:"type"`
	Name          string         `json:"name"`
	Description   string         `json:"description"`
	Properties    map[string]any `json:"properties"`
	ExternalKey   *string        `json:"external_key"`
	LastChangedBy changedByJSON  `json:"last_changed_by"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
}

// changedByJSON names the API key that last changed something.
type changedByJSON struct {
	KeyID   string `json:"key_id"`
	KeyName string `json:"key_name"`
}

func newItemJSON(item *models.Item) itemJSON {
	return itemJSON{
		ID:            item.ID,
		Type:          item.Type,
		Name:          item.Name,
		Description:   item.Description,
		Properties:    item.Properties,
		ExternalKey:   item.ExternalKey,
		LastChangedBy: changedByJSON{KeyID: item.ChangedByKeyID, KeyName: item.ChangedByKeyName},
		CreatedAt:     item.CreatedAt.UTC(),
		UpdatedAt:     item.UpdatedAt.UTC(),
	}
}

// itemCreateRequest is the body of POST /api/v1/items.
type itemCreateRequest struct {
	Type        string         `json:"type"`
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Properties  map[string]any `json:"properties"`
}

// itemPatchRequest is the body of PATCH /api/v1/items/:id: absent (or null) fields stay as
// they are; properties, when sent, replace the item's whole set.
type itemPatchRequest struct {
	Type        *string        `json:"type"`
	Name        *string        `json:"name"`
	Description *string        `json:"description"`
	Properties  map[string]any `json:"properties"`
}

// apiItemList answers GET /api/v1/items: a page of items by name, filtered by q.
func (h *Handler) itemList(c echo.Context) error {
	page, err := queryInt(c, "page", 1, 1, 1<<30)
	if err != nil {
		return apiError(c, err)
	}
	perPage, err := queryInt(c, "per_page", defaultItemsPerPage, 1, maxItemsPerPage)
	if err != nil {
		return apiError(c, err)
	}
	search := strings.TrimSpace(c.QueryParam("q"))
	if len([]rune(search)) > maxItemSearchLength {
		return apiError(c, &models.FieldError{Field: "q", Message: fmt.Sprintf("must be at most %d characters", maxItemSearchLength)})
	}
	result, err := h.store.ListItems(c.Request().Context(), models.ItemQuery{Search: search, Page: page, PerPage: perPage})
	if err != nil {
		return err
	}
	items := make([]itemJSON, len(result.Items))
	for i := range result.Items {
		items[i] = newItemJSON(&result.Items[i])
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items, "page": result.Page, "per_page": result.PerPage, "total": result.Total})
}

// apiItemGet answers GET /api/v1/items/:id.
func (h *Handler) itemGet(c echo.Context) error {
	id, err := itemID(c)
	if err != nil {
		return err
	}
	item, err := h.store.ItemByID(c.Request().Context(), id)
	if err != nil {
		return apiError(c, err)
	}
	return c.JSON(http.StatusOK, newItemJSON(item))
}

// apiItemCreate answers POST /api/v1/items with 201 and the new item.
func (h *Handler) itemCreate(c echo.Context) error {
	var body itemCreateRequest
	if err := decodeJSON(c, &body); err != nil {
		return apiError(c, err)
	}
	in := models.ItemInput{Type: body.Type, Name: body.Name, Description: body.Description, Properties: body.Properties}
	item, err := h.store.CreateItem(c.Request().Context(), in, models.ActorOf(web.CurrentKey(c)))
	if err != nil {
		return apiError(c, err)
	}
	c.Response().Header().Set(echo.HeaderLocation, fmt.Sprintf("/api/v1/items/%d", item.ID))
	return c.JSON(http.StatusCreated, newItemJSON(item))
}

// apiItemUpdate answers PATCH /api/v1/items/:id with the updated item.
func (h *Handler) itemUpdate(c echo.Context) error {
	id, err := itemID(c)
	if err != nil {
		return err
	}
	var body itemPatchRequest
	if err := decodeJSON(c, &body); err != nil {
		return apiError(c, err)
	}
	patch := models.ItemPatch{Type: body.Type, Name: body.Name, Description: body.Description, Properties: body.Properties}
	item, err := h.store.UpdateItem(c.Request().Context(), id, patch, models.ActorOf(web.CurrentKey(c)))
	if err != nil {
		return apiError(c, err)
	}
	return c.JSON(http.StatusOK, newItemJSON(item))
}

// apiItemDelete answers DELETE /api/v1/items/:id with 204.
func (h *Handler) itemDelete(c echo.Context) error {
	id, err := itemID(c)
	if err != nil {
		return err
	}
	if err := h.store.DeleteItem(c.Request().Context(), id); err != nil {
		return apiError(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}

var errItemNotFound = echo.NewHTTPError(http.StatusNotFound, "No catalog item has this id.")

// itemID reads the :id parameter; anything that is not a positive number cannot name an item.
func itemID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, errItemNotFound
	}
	return id, nil
}
