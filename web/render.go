package web

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"keysmith/views"
)

// Render writes a templ component with the given status. It renders into a buffer first, so a
// failing component becomes an error page rather than half a page.
func Render(c echo.Context, status int, component templ.Component) error {
	var buf bytes.Buffer
	if err := component.Render(c.Request().Context(), &buf); err != nil {
		return fmt.Errorf("web: render: %w", err)
	}
	c.Response().Header().Add("Vary", "HX-Request")
	return c.HTMLBlob(status, buf.Bytes())
}

// errorTexts are the fixed sentences people read for each status; details go to the log.
var errorTexts = map[int]views.ErrorView{
	http.StatusBadRequest:            {Title: "Bad request", Message: "The request could not be understood. Go back, reload the page and try again."},
	http.StatusForbidden:             {Title: "Access denied", Message: "You are not allowed to do this."},
	http.StatusNotFound:              {Title: "Not found", Message: "There is nothing at this address. It may have been deleted."},
	http.StatusMethodNotAllowed:      {Title: "Not allowed", Message: "This address does not accept that kind of request."},
	http.StatusRequestEntityTooLarge: {Title: "Too large", Message: "What was sent is larger than Keysmith accepts."},
	http.StatusTooManyRequests:       {Title: "Too many requests", Message: "Wait a moment, then try again."},
	http.StatusInternalServerError:   {Title: "Something went wrong", Message: "Keysmith could not complete the request. Try again; if it keeps failing, give the reference below to your administrator."},
	http.StatusServiceUnavailable:    {Title: "Unavailable", Message: "Keysmith cannot reach its database right now. Try again shortly."},
}

// handleError is the only place that writes error responses: JSON for the API, a fragment for
// HTMX requests and a full page otherwise. 4xx messages written for people are shown as they
// are; anything else gets a fixed sentence, and the details go to the log with the request id.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status := http.StatusInternalServerError
	var message string
	var httpErr *echo.HTTPError
	if errors.As(err, &httpErr) {
		status = httpErr.Code
		if m, ok := httpErr.Message.(string); ok && status < 500 {
			message = m
		}
	}
	if status >= 500 {
		s.log.Error("request failed", "request_id", requestID(c), "path", c.Request().URL.Path, "status", status, "error", err)
	}
	view, ok := errorTexts[status]
	if !ok {
		view = views.ErrorView{Title: http.StatusText(status), Message: "The request could not be completed."}
	}
	if message != "" && message != http.StatusText(status) {
		view.Message = message
	}
	view.Status = status
	view.RequestID = requestID(c)
	if c.Request().Method == http.MethodHead {
		c.NoContent(status)
		return
	}
	if isAPI(c) {
		c.JSON(status, map[string]string{"error": view.Message})
		return
	}
	if IsHTMX(c) {
		Render(c, status, views.ErrorFragment(view))
		return
	}
	page, _ := s.Page(c, view.Title, "")
	if err := Render(c, status, views.ErrorPage(page, view)); err != nil {
		c.String(status, view.Title+": "+view.Message)
	}
}
