package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"keysmith/handlers/form"
	"keysmith/models"
)

// auditPartyJSON is an event's actor or target.
type auditPartyJSON struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Label string `json:"label"`
}

// auditEventJSON is an audit event as the API serves it.
type auditEventJSON struct {
	ID            int64          `json:"id"`
	Time          time.Time      `json:"time"`
	Actor         auditPartyJSON `json:"actor"`
	Action        string         `json:"action"`
	Target        auditPartyJSON `json:"target"`
	ClientAddress string         `json:"client_address"`
	UserAgent     string         `json:"user_agent"`
	RequestID     string         `json:"request_id"`
	Detail        string         `json:"detail"`
	// Chain is null for an event recorded before the audit log was chained.
	Chain *auditChainJSON `json:"chain"`
}

// auditChainJSON is an event's place in the audit chain: kept by a SIEM, the newest it holds
// is an anchor for `keysmith audit verify --anchor position:link`.
type auditChainJSON struct {
	Position int64  `json:"position"`
	Link     string `json:"link"`
}

// apiAuditEvents answers GET /api/v1/audit-events for a SIEM to pull: the events the filters
// select (as the console takes them), oldest first, limit at a time (100 unless set, 1000 at
// most), after cursor, with next_cursor to ask for the next ones. next_cursor is always set
// once an event was served: asked again later, it gives the events written since, without
// skipping or repeating one. A bad filter, limit or cursor is 422 naming it.
func (h *Handler) auditEvents(c echo.Context) error {
	filter, err := form.AuditFilter(c.QueryParams())
	if err != nil {
		return err
	}
	limit, err := queryInt(c, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	cursor, err := models.ParseAuditCursor(c.QueryParam("cursor"))
	if err != nil {
		return err
	}
	events, next, err := h.store.AuditEventsAfter(c.Request().Context(), filter, cursor, limit)
	if err != nil {
		return err
	}
	out := make([]auditEventJSON, len(events))
	for i, ev := range events {
		out[i] = auditEventJSON{
			ID: ev.ID, Time: ev.At.UTC(),
			Actor:         auditPartyJSON{Type: ev.Actor.Type, ID: ev.Actor.ID, Label: ev.Actor.Label},
			Action:        ev.Action,
			Target:        auditPartyJSON{Type: ev.TargetType, ID: ev.TargetID, Label: ev.TargetLabel},
			ClientAddress: ev.Actor.Address, UserAgent: ev.Actor.UserAgent, RequestID: ev.Actor.RequestID, Detail: ev.Detail,
		}
		if ev.Chain.Position > 0 {
			out[i].Chain = &auditChainJSON{Position: ev.Chain.Position, Link: ev.Chain.Link}
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"events": out, "next_cursor": next.String()})
}
