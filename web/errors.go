package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"keysmith/models"
	"keysmith/views"
)

// APIError is an API answer other than success, for handleError to write: its status, the
// sentence a person reads, fields a program can act on, and headers. Every API error, whatever
// returns it, so has one shape: {"error": …, "request_id": …, …fields}.
type APIError struct {
	Status  int
	Message string
	Fields  map[string]any
	Header  http.Header
}

func (e *APIError) Error() string { return e.Message }

// errShuttingDown is the cause with which requests still in flight at the end of a stop are
// cancelled, so that they are answered 503 rather than cut off.
var errShuttingDown = errors.New("web: keysmith is shutting down")

const (
	// retryAfter is the Retry-After of a 503, in seconds: a database that is back is noticed
	// within a second or two.
	retryAfter = "2"
	// statusClientClosedRequest is what the access log and metrics record when the client
	// hung up before the answer (nginx's convention); nothing is written to it.
	statusClientClosedRequest = 499
)

// errorTexts are the fixed sentences people read for each status; details go to the log.
var errorTexts = map[int]views.ErrorView{
	http.StatusBadRequest:            {Title: "Bad request", Message: "The request could not be understood. Go back, reload the page and try again."},
	http.StatusForbidden:             {Title: "Access denied", Message: "You are not allowed to do this."},
	http.StatusNotFound:              {Title: "Not found", Message: "There is nothing at this address. It may have been deleted."},
	http.StatusMethodNotAllowed:      {Title: "Not allowed", Message: "This address does not accept that kind of request."},
	http.StatusRequestEntityTooLarge: {Title: "Too large", Message: "What was sent is larger than Keysmith accepts."},
	http.StatusTooManyRequests:       {Title: "Too many requests", Message: "Wait a moment, then try again."},
	http.StatusUnprocessableEntity:   {Title: "Invalid input", Message: "Something sent could not be accepted. Go back, correct it and try again."},
	http.StatusInternalServerError:   {Title: "Something went wrong", Message: "Keysmith could not complete the request. Try again; if it keeps failing, give the reference below to your administrator."},
	http.StatusServiceUnavailable:    {Title: "Keysmith cannot reach its database", Message: "Nothing was changed. Try again in a few seconds; if it keeps failing, give the reference below to your administrator."},
}

// shuttingDownText is the 503 of a request cut short by the end of a stop.
var shuttingDownText = views.ErrorView{Title: "Keysmith is restarting", Message: "This instance is stopping. Try again in a few seconds."}

// handleError is the only place that writes error responses: JSON for the API, a fragment for
// HTMX requests and a full page otherwise, each with the request id that the log line has,
// and none stored by a cache (Cache-Control: no-store).
// A models.FieldError, the one kind of invalid input, is 422 naming its field (if it has one).
// 4xx messages written for people are shown as they are; anything else gets a fixed sentence,
// and the details go to the log. A database that cannot be asked is 503 with Retry-After,
// never 500; a client that hung up gets nothing, and is not logged as a failure.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	ctx := c.Request().Context()
	status := http.StatusInternalServerError
	var (
		message  string
		fields   map[string]any
		header   http.Header
		apiErr   *APIError
		fieldErr *models.FieldError
		httpErr  *echo.HTTPError
	)
	view := views.ErrorView{}
	switch {
	case errors.Is(context.Cause(ctx), errShuttingDown):
		status, view = http.StatusServiceUnavailable, shuttingDownText
	case ctx.Err() != nil:
		// The client hung up: there is nobody to answer, and nothing failed on this side.
		c.Response().Status = statusClientClosedRequest
		s.log.Debug("client closed request", "request_id", RequestID(c), "path", c.Request().URL.Path)
		return
	case errors.As(err, &apiErr):
		status, message, fields, header = apiErr.Status, apiErr.Message, apiErr.Fields, apiErr.Header
	case errors.As(err, &fieldErr) && fieldErr.Field == "":
		// About the whole form: its message is a sentence of its own.
		status, message = http.StatusUnprocessableEntity, fieldErr.Message
	case errors.As(err, &fieldErr):
		status, message, fields = http.StatusUnprocessableEntity, fieldErr.Field+" "+fieldErr.Message+".", map[string]any{"field": fieldErr.Field}
	case errors.As(err, &httpErr):
		status = httpErr.Code
		if m, ok := httpErr.Message.(string); ok && status < 500 {
			message = m
		}
	case models.Unavailable(err):
		status = http.StatusServiceUnavailable
	}
	switch {
	case status == http.StatusServiceUnavailable:
		c.Response().Header().Set("Retry-After", retryAfter)
		s.log.Warn("service unavailable", "request_id", RequestID(c), "path", c.Request().URL.Path, "error", err)
	case status >= 500:
		s.log.Error("request failed", "request_id", RequestID(c), "path", c.Request().URL.Path, "status", status, "error", err)
	}
	for name, values := range header {
		c.Response().Header()[name] = values
	}
	// No error answer is kept by a browser or a proxy: each tells how things stood for that
	// request only, and may name the signed-in user or echo what was sent.
	c.Response().Header().Set("Cache-Control", "no-store")
	if view.Title == "" {
		var ok bool
		if view, ok = errorTexts[status]; !ok {
			view = views.ErrorView{Title: http.StatusText(status), Message: "The request could not be completed."}
		}
	}
	if message != "" && message != http.StatusText(status) {
		view.Message = message
	}
	view.Status = status
	view.RequestID = RequestID(c)
	if status == http.StatusForbidden && c.Request().Method == http.MethodGet {
		view.Retry = LocalPath(c.Request().URL.RequestURI(), "")
	}
	if c.Request().Method == http.MethodHead {
		c.NoContent(status)
		return
	}
	if isAPI(c) {
		message := view.Message
		if status == http.StatusServiceUnavailable {
			// The page's sentence points at a reference shown below it; a program has the
			// request id beside the message instead.
			message = view.Title + ". Try again in a few seconds."
		}
		c.JSONBlob(status, apiErrorBody(message, fields, view.RequestID))
		return
	}
	if IsHTMX(c) {
		Render(c, status, views.ErrorFragment(view))
		return
	}
	// The page is built without the session, which may be what could not be loaded.
	page := views.Page{Title: view.Title, Nonce: Nonce(c), CSRFToken: CSRFToken(c), User: CurrentUser(c), Assets: s.assets}
	if err := Render(c, status, views.ErrorPage(page, view)); err != nil {
		c.String(status, view.Title+": "+view.Message)
	}
}

// apiErrorBody is an API error's JSON: {"error": message, "request_id": requestID} and the
// fields, keys in order. Without fields, as for the 401 of every refused key, it is written by
// hand, since a flood of refused keys must cost as little as a request let through: encoding a
// map took a third of a refusal's own time. A request id is a token of letters, digits and
// - _ . : (cleanRequestID), which JSON writes as it is.
func apiErrorBody(message string, fields map[string]any, requestID string) []byte {
	if len(fields) > 0 {
		body := make(map[string]any, len(fields)+2)
		for name, value := range fields {
			body[name] = value
		}
		body["error"], body["request_id"] = message, requestID
		encoded, err := json.Marshal(body)
		if err == nil {
			return encoded
		}
		// Fields that do not encode are left out, rather than the error unanswered.
	}
	quoted, _ := json.Marshal(message)
	body := make([]byte, 0, len(`{"error":,"request_id":""}`)+len(quoted)+len(requestID))
	body = append(body, `{"error":`...)
	body = append(body, quoted...)
	body = append(body, `,"request_id":"`...)
	body = append(body, requestID...)
	return append(body, `"}`...)
}
