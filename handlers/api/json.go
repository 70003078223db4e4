package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"keysmith/models"
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
// unknown fields are 400; a value of the wrong JSON type, and a string anywhere in the body
// that checkJSONText refuses, are a FieldError (422) naming the field; a body over the
// server's limit is the body-limit middleware's 413.
func decodeJSON(c echo.Context, dst any) error {
	body, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var httpErr *echo.HTTPError
		if errors.As(err, &httpErr) {
			return httpErr
		}
		return echo.NewHTTPError(http.StatusBadRequest, "The request body could not be read.")
	}
	if err := checkJSONText(body); err != nil {
		return err
	}
	return decodeJSONFrom(body, dst, "")
}

// decodeJSONFrom decodes one JSON object from data as decodeJSON does, once checkJSONText has
// passed the whole body; prefix is the JSON path of the object inside the request body
// ("items[3].") for error messages.
func decodeJSONFrom(data []byte, dst any, prefix string) error {
	dec := json.NewDecoder(bytes.NewReader(data))
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

// apiError turns a store error into the API's answer: 404 for unknown ids; anything else,
// invalid values (models.FieldError, 422) among them, goes to the error handler as it is.
func apiError(c echo.Context, err error) error {
	if errors.Is(err, models.ErrItemNotFound) {
		return errItemNotFound
	}
	return err
}

// checkJSONText walks every string of a JSON body, object keys and nested values alike, and
// refuses the first one that is not valid UTF-8 or holds a control character, as a FieldError
// naming where it is ("items[3].properties.owner"). encoding/json would otherwise turn
// invalid UTF-8 and lone surrogate escapes (\ud800) into U+FFFD without a word, and pass
// \u0000 on towards the database. Values may hold tab, line feed and carriage return, for the
// fields that hold paragraphs; the fields that do not refuse them themselves. Keys may hold
// none. A body that is not JSON is left to the decoder, which says where it goes wrong.
func checkJSONText(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	var path jsonPath
	for {
		start := dec.InputOffset()
		token, err := dec.Token()
		if err != nil {
			return nil
		}
		switch token {
		case json.Delim('{'), json.Delim('['):
			path = append(path, jsonStep{array: token == json.Delim('['), wantKey: token == json.Delim('{')})
			continue
		case json.Delim('}'), json.Delim(']'):
			path = path[:len(path)-1]
			path.next()
			continue
		}
		text, isString := token.(string)
		raw := data[start:dec.InputOffset()]
		if top := path.top(); top != nil && top.wantKey {
			if checkJSONString(path.field(), text, raw, false) != nil {
				// The key itself is not repeated: it is what cannot be shown.
				return &models.FieldError{Field: path.field(), Message: "must have keys of valid UTF-8 text without control characters"}
			}
			top.key, top.wantKey = text, false
			continue
		}
		if isString {
			if err := checkJSONString(path.field(), text, raw, true); err != nil {
				return err
			}
		}
		path.next()
	}
}

// checkJSONString checks one decoded JSON string, text, against raw, its bytes in the body.
func checkJSONString(field, text string, raw []byte, multiLine bool) error {
	if !utf8.Valid(raw) || strings.Count(text, "\uFFFD") > spelledReplacements(raw) {
		return &models.FieldError{Field: field, Message: "must be valid UTF-8 text (without invalid bytes or lone surrogate escapes)"}
	}
	return models.CheckText(field, text, multiLine)
}

// spelledReplacements counts the U+FFFD characters that raw, a JSON string token, spells out,
// as the character itself or as \ufffd. encoding/json makes one more of each invalid byte and
// each lone surrogate.
func spelledReplacements(raw []byte) int {
	const replacement = "\uFFFD"
	n := 0
	for i := 0; i < len(raw); i++ {
		switch {
		case raw[i] == '\\' && i+5 < len(raw) && raw[i+1] == 'u':
			if strings.EqualFold(string(raw[i+2:i+6]), "fffd") {
				n++
			}
			i += 5
		case raw[i] == '\\':
			i++
		case bytes.HasPrefix(raw[i:], []byte(replacement)):
			n++
			i += len(replacement) - 1
		}
	}
	return n
}

// jsonPath is where checkJSONText is in the body: one step per open object or array.
type jsonPath []jsonStep

// jsonStep is an open object, with the key whose value comes next, or an open array, with
// the index of the element that comes next.
type jsonStep struct {
	array   bool
	wantKey bool
	key     string
	index   int
}

func (p jsonPath) top() *jsonStep {
	if len(p) == 0 {
		return nil
	}
	return &p[len(p)-1]
}

// next moves past a value: to the next key of an object, or the next element of an array.
func (p jsonPath) next() {
	if top := p.top(); top != nil {
		top.wantKey = !top.array
		top.index++
	}
}

// field names the value the path is at the way FieldError does: "items[3].properties.owner",
// or "body" for the body itself.
func (p jsonPath) field() string {
	var b strings.Builder
	for _, step := range p {
		switch {
		case step.array:
			fmt.Fprintf(&b, "[%d]", step.index)
		case !step.wantKey:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(step.key)
		}
	}
	if b.Len() == 0 {
		return "body"
	}
	return b.String()
}
