package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/web"
)

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
		return &web.APIError{Status: http.StatusUnprocessableEntity, Message: fieldErr.Field + " " + fieldErr.Message + ".", Fields: map[string]any{"field": fieldErr.Field}}
	case errors.Is(err, models.ErrItemNotFound):
		return errItemNotFound
	}
	return err
}
