package handlers

import (
	"bufio"
	"cmp"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"keysmith/handlers/form"
	"keysmith/models"
)

// auditExportBatch is how many events the export reads at a time.
const auditExportBatch = 1000

// auditCSVHeader names the export's columns.
var auditCSVHeader = []string{"id", "time", "actor_type", "actor_id", "actor_label", "action", "target_type", "target_id",
	"target_label", "client_address", "user_agent", "request_id", "detail"}

// auditLogCSV exports every event the filters select, newest first, as CSV for a spreadsheet:
// an attachment that no cache keeps, read and written a batch at a time. Every cell is quoted
// and none can run as a formula, whatever separator the spreadsheet splits on (writeCSVRow,
// csvCell). The export is itself recorded (audit.exported, with its filters) before anything
// is sent: nobody takes the log away unrecorded.
func (h *Handler) auditLogCSV(c echo.Context) error {
	filter, err := form.AuditFilter(c.QueryParams())
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
	out := bufio.NewWriter(c.Response())
	if err := writeCSVRow(out, auditCSVHeader); err != nil {
		return err
	}
	for {
		for _, ev := range page.Events {
			row := []string{strconv.FormatInt(ev.ID, 10), ev.At.UTC().Format(time.RFC3339Nano), ev.Actor.Type, ev.Actor.ID, ev.Actor.Label,
				ev.Action, ev.TargetType, ev.TargetID, ev.TargetLabel, ev.Actor.Address, ev.Actor.UserAgent, ev.Actor.RequestID, ev.Detail}
			if err := writeCSVRow(out, row); err != nil {
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
	return out.Flush()
}

// writeCSVRow writes one record with every cell quoted and neutralised (csvCell), ending in
// CRLF as RFC 4180 does. It is written by hand because encoding/csv quotes a cell only when it
// holds a comma, a quote or a line break: "a;=3+4" went out bare, and a spreadsheet that splits
// on semicolons (Excel in German, French or Dutch) made =3+4 a cell of its own. The bufio.Writer
// keeps its first error, so the last write's says whether the row went out.
func writeCSVRow(out *bufio.Writer, cells []string) error {
	for i, cell := range cells {
		if i > 0 {
			out.WriteByte(',')
		}
		out.WriteByte('"')
		out.WriteString(strings.ReplaceAll(csvCell(cell), `"`, `""`))
		out.WriteByte('"')
	}
	_, err := out.WriteString("\r\n")
	return err
}

// csvBreaks are where a spreadsheet may begin a new cell in text it splits itself, as one that
// ignores the quotes does: the comma, the semicolon and the tab, each some locale's separator,
// and the line ends, which begin a new row.
const csvBreaks = ",;\t\r\n"

// formulaStarts begin a formula: =, +, - and @, and their full-width forms, which some
// spreadsheets take for them.
const formulaStarts = "=+-@＝＋－＠"

// csvCell neutralises a cell that a spreadsheet could run as a formula, split on any separator
// or not: it puts a single quote, which spreadsheets show as text, before the cell and before
// each part after a separator (csvBreaks) that starts a formula. A part starts one when it
// begins with a tab or a carriage return, or with a formula character after blanks (spaces,
// and invisible formatting characters such as a zero-width space), since a spreadsheet may
// trim those. The quote goes before the blanks, so that trimmed or not the part begins with it.
// Exact values are in /api/v1/audit-events.
func csvCell(s string) string {
	var out strings.Builder
	for i := range len(s) {
		// Separators are ASCII, so a byte that is one never sits inside a wider character.
		if (i == 0 || strings.IndexByte(csvBreaks, s[i-1]) >= 0) && startsFormula(s[i:]) {
			out.WriteByte('\'')
		}
		out.WriteByte(s[i])
	}
	return out.String()
}

// startsFormula tells whether a spreadsheet could read part as a formula (see csvCell).
func startsFormula(part string) bool {
	if strings.HasPrefix(part, "\t") || strings.HasPrefix(part, "\r") {
		return true
	}
	// A separator ends the blanks: the part after it is checked on its own.
	first, _ := utf8.DecodeRuneInString(strings.TrimLeftFunc(part, func(r rune) bool {
		return !strings.ContainsRune(csvBreaks, r) && (unicode.IsSpace(r) || unicode.Is(unicode.Cf, r))
	}))
	return strings.ContainsRune(formulaStarts, first)
}
