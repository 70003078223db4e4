package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
func (h *Handler) apiItemList(c echo.Context) error {
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
func (h *Handler) apiItemGet(c echo.Context) error {
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
func (h *Handler) apiItemCreate(c echo.Context) error {
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
func (h *Handler) apiItemUpdate(c echo.Context) error {
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
func (h *Handler) apiItemDelete(c echo.Context) error {
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

// queryInt reads an optional whole-number query parameter between min and max.
func queryInt(c echo.Context, name string, fallback, min, max int) (int, error) {
	raw := c.QueryParam(name)
	if raw == "" {
		return fallback, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < min || n > max {
		return 0, &models.FieldError{Field: name, Message: fmt.Sprintf("must be a whole number from %d to %d", min, max)}
	}
	return n, nil
}

// decodeJSON reads the request body as exactly one JSON object into dst. Malformed JSON and
// unknown fields are 400; a value of the wrong JSON type is a FieldError (422) naming the
// field; a body over the server's limit is the body-limit middleware's 413.
func decodeJSON(c echo.Context, dst any) error {
	return decodeJSONFrom(c.Request().Body, dst, "")
}

// decodeJSONFrom decodes one JSON object from r as decodeJSON does; prefix is the JSON path of
// the object inside the request body ("items[3].") for error messages.
func decodeJSONFrom(r io.Reader, dst any, prefix string) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			err = errTrailingData
		}
	}
	if err == nil {
		return nil
	}
	where := ""
	if prefix != "" {
		where = " in " + strings.TrimSuffix(prefix, ".")
	}
	var httpErr *echo.HTTPError
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &httpErr):
		return httpErr
	case errors.Is(err, io.EOF):
		return echo.NewHTTPError(http.StatusBadRequest, "The request body is empty: send a JSON object.")
	case errors.As(err, &syntaxErr):
		return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("The request body is not valid JSON (at byte %d).", syntaxErr.Offset))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return echo.NewHTTPError(http.StatusBadRequest, "The request body is not valid JSON: it ends too early.")
	case errors.Is(err, errTrailingData):
		return echo.NewHTTPError(http.StatusBadRequest, "The request body must hold one JSON object and nothing after it.")
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return &models.FieldError{Field: prefix + typeErr.Field, Message: "must be a JSON " + jsonKind(typeErr.Type.Kind().String())}
	case errors.As(err, &typeErr) && prefix != "":
		return &models.FieldError{Field: strings.TrimSuffix(prefix, "."), Message: "must be a JSON object"}
	case errors.As(err, &typeErr):
		return echo.NewHTTPError(http.StatusBadRequest, "The request body must be a JSON object.")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return echo.NewHTTPError(http.StatusBadRequest, "Unknown field "+strings.TrimPrefix(err.Error(), "json: unknown field ")+where+".")
	}
	return echo.NewHTTPError(http.StatusBadRequest, "The request body could not be read as JSON.")
}

var errTrailingData = errors.New("trailing data after the JSON object")

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct":
		return "object"
	}
	return "number"
}

// apiError turns a store error into the API's answer: 422 with the field for invalid values,
// 404 for unknown ids; anything else goes to the error handler.
func apiError(c echo.Context, err error) error {
	var fieldErr *models.FieldError
	switch {
	case errors.As(err, &fieldErr):
		return c.JSON(http.StatusUnprocessableEntity, map[string]string{"error": fieldErr.Field + " " + fieldErr.Message + ".", "field": fieldErr.Field})
	case errors.Is(err, models.ErrItemNotFound):
		return errItemNotFound
	}
	return err
}
