package handlers

import (
	"cmp"
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"keysmith/models"
)

// auditExportBatch is how many events the export reads at a time.
const auditExportBatch = 1000

// auditCSVHeader names the export's columns.
var auditCSVHeader = []string{"id", "time", "actor_type", "actor_id", "actor_label", "action", "target_type", "target_id",
	"target_label", "client_address", "user_agent", "request_id", "detail"}

// auditLogCSV exports every event the filters select, newest first, as CSV for a spreadsheet:
// an attachment that no cache keeps, read and written a batch at a time. A cell that a
// spreadsheet would read as a formula is written with a leading quote (csvCell). The export
// is itself recorded (audit.exported, with its filters) before anything is sent: nobody
// takes the log away unrecorded.
func (h *Handler) auditLogCSV(c echo.Context) error {
	filter, err := auditFilter(c.QueryParams())
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	detail := "CSV export, filters: " + cmp.Or(c.QueryParams().Encode(), "none")
	if err := h.store.RecordAudit(ctx, models.AuditEvent{Action: models.AuditExported, Detail: detail}); err != nil {
		return err
	}
	// The first batch is read before anything is written, so that a failure is still answered
	// with its error.
	page, err := h.store.AuditLog(ctx, models.AuditLogQuery{Filter: filter, Limit: auditExportBatch})
	if err != nil {
		return err
	}
	header := c.Response().Header()
	header.Set("Content-Type", "text/csv; charset=utf-8")
	header.Set("Content-Disposition", `attachment; filename="keysmith-audit-log-`+h.store.Now().Format("20060102T150405Z")+`.csv"`)
	header.Set("Cache-Control", "no-store")
	c.Response().WriteHeader(http.StatusOK)
	out := csv.NewWriter(c.Response())
	if err := out.Write(auditCSVHeader); err != nil {
		return err
	}
	for {
		for _, ev := range page.Events {
			row := []string{strconv.FormatInt(ev.ID, 10), ev.At.UTC().Format(time.RFC3339Nano), ev.Actor.Type, ev.Actor.ID, ev.Actor.Label,
				ev.Action, ev.TargetType, ev.TargetID, ev.TargetLabel, ev.Actor.Address, ev.Actor.UserAgent, ev.Actor.RequestID, ev.Detail}
			for i, cell := range row {
				row[i] = csvCell(cell)
			}
			if err := out.Write(row); err != nil {
				return err
			}
		}
		if !page.Older || len(page.Events) == 0 {
			break
		}
		before := page.Events[len(page.Events)-1].ID
		if page, err = h.store.AuditLog(ctx, models.AuditLogQuery{Filter: filter, Before: before, Limit: auditExportBatch}); err != nil {
			// The answer has begun: it ends here, short, and the log says why.
			h.log.Error("audit log export cut short", "request_id", c.Response().Header().Get(echo.HeaderXRequestID), "error", err)
			break
		}
	}
	out.Flush()
	return out.Error()
}

// csvCell neutralises a cell that a spreadsheet would run as a formula (one beginning with =,
// +, -, @, a tab or a carriage return) by putting a single quote before it, which spreadsheets
// show as text.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
