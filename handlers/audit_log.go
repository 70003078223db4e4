package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"keysmith/handlers/form"
	"keysmith/models"
	"keysmith/views"
	"keysmith/web"
)

// auditEventsPerPage is how many events one page of the audit log shows.
const auditEventsPerPage = 50

// auditLog shows Administration › Audit log, newest first: the events the query string's
// filters select, a page before (before) or after (after) an event. A filter that is not
// understood is said so on the page, answered 422. An htmx request for the log region (filters
// and paging) gets only that region, with the presets and the export that follow the filters.
func (h *Handler) auditLog(c echo.Context) error {
	params := c.QueryParams()
	log := views.AuditLogView{
		Actor: params.Get("actor"), Action: params.Get("action"), Key: params.Get("key"), User: params.Get("user"),
		From: params.Get("from"), To: params.Get("to"), Today: h.store.Now().UTC().Format(time.DateOnly),
	}
	status := http.StatusOK
	filter, err := form.AuditFilter(params)
	query := models.AuditLogQuery{Filter: filter, Limit: auditEventsPerPage}
	if err == nil {
		query.Before, err = auditEventID(params, "before")
	}
	if err == nil {
		query.After, err = auditEventID(params, "after")
	}
	var fieldErr *models.FieldError
	switch {
	case errors.As(err, &fieldErr):
		status = http.StatusUnprocessableEntity
		log.Errors = models.FieldErrors{fieldErr.Field: fieldErr.Message}
	case err != nil:
		return err
	default:
		page, err := h.store.AuditLog(c.Request().Context(), query)
		if err != nil {
			return err
		}
		log.Events, log.Newer, log.Older = page.Events, page.Newer, page.Older
	}
	if web.IsHTMX(c) && c.Request().Header.Get("HX-Target") == "audit-log" {
		return web.Render(c, status, views.AuditLogFragment(log))
	}
	page, err := h.srv.Page(c, "Audit log", "audit-log")
	if err != nil {
		return err
	}
	return web.Render(c, status, views.AuditLogPage(page, log))
}

// auditEventID reads an optional event id from the query string: 0 when absent.
func auditEventID(params url.Values, name string) (int64, error) {
	raw := params.Get(name)
	if raw == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id < 1 {
		return 0, &models.FieldError{Field: name, Message: "must be an event id, a whole number from 1"}
	}
	return id, nil
}
