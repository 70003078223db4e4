package integration

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// readCSV parses an export and returns its rows, the header first.
func readCSV(t *testing.T, res *apptest.Response) [][]string {
	t.Helper()
	rows, err := csv.NewReader(strings.NewReader(res.Body)).ReadAll()
	if err != nil {
		t.Fatalf("the export is not CSV: %v\n%s", err, res.Body)
	}
	return rows
}

// The export is an attachment that no cache keeps, holds every filtered event across its
// batches, and neutralises every cell a spreadsheet would run as a formula.
func TestAuditLogCSVExport(t *testing.T) {
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		ctx := models.WithAuditActor(context.Background(), models.AuditActor{Type: models.ActorCLI, Label: "=cmd|' /C calc'!A0"})
		for _, name := range []string{`=HYPERLINK("http://evil.example","x")`, "+SUM(1,2)", "-2+3", "@SUM(A1:A2)", "plain name"} {
			if _, _, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: name, Scope: models.ScopeReadOnly}); err != nil {
				t.Fatal(err)
			}
		}
		visitor := app.Client(t)
		visitor.Get("/login")
		wantStatus(t, postAs(visitor, "/login", "=1+1", signInForm("=cmd|calc@evil.example.com", "guess")), http.StatusUnauthorized)
		many := 1100
		insert := `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
			INSERT INTO audit_events (at, actor_type, action) SELECT i, 'system', 'test.bulk' FROM n`
		if app.Store.Dialect() == models.DialectPostgres {
			insert = "INSERT INTO audit_events (at, actor_type, action) SELECT i, 'system', 'test.bulk' FROM generate_series(1, ?) AS i"
		}
		if err := app.Store.Exec(context.Background(), insert, many); err != nil {
			t.Fatal(err)
		}

		res := admin.Get("/admin/audit-log.csv")
		wantStatus(t, res, http.StatusOK)
		if got := res.Header.Get("Content-Type"); got != "text/csv; charset=utf-8" {
			t.Errorf("Content-Type: got %q, want text/csv; charset=utf-8", got)
		}
		if got := res.Header.Get("Content-Disposition"); !strings.HasPrefix(got, `attachment; filename="keysmith-audit-log-`) || !strings.HasSuffix(got, `.csv"`) {
			t.Errorf("Content-Disposition: got %q, want an attachment named keysmith-audit-log-….csv", got)
		}
		if got := res.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control: got %q, want no-store", got)
		}
		rows := readCSV(t, res)
		wantHeader := []string{"id", "time", "actor_type", "actor_id", "actor_label", "action", "target_type", "target_id", "target_label", "client_address", "user_agent", "request_id", "detail"}
		if !slices.Equal(rows[0], wantHeader) {
			t.Fatalf("header: got %q, want %q", rows[0], wantHeader)
		}
		// The admin's creation and sign-in, 5 keys created, a failed sign-in, the bulk and this export.
		if got, want := len(rows)-1, 2+5+1+many+1; got != want {
			t.Errorf("rows: got %d, want %d", got, want)
		}
		var labels []string
		for _, row := range rows[1:] {
			for _, cell := range row {
				if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
					t.Errorf("cell %q would run as a formula", cell)
				}
			}
			if row[5] == models.AuditKeyCreated {
				labels = append(labels, row[8])
				if row[4] != "'=cmd|' /C calc'!A0" {
					t.Errorf("actor label: got %q, want it neutralised", row[4])
				}
			}
			if row[5] == models.AuditSignInFailed && (row[8] != "'=cmd|calc@evil.example.com" || row[10] != "'=1+1") {
				t.Errorf("failed sign-in: target %q, user agent %q; want both neutralised", row[8], row[10])
			}
		}
		want := []string{"plain name", "'@SUM(A1:A2)", "'-2+3", "'+SUM(1,2)", `'=HYPERLINK("http://evil.example","x")`}
		if !slices.Equal(labels, want) {
			t.Errorf("key names, newest first: got %q, want %q", labels, want)
		}

		filtered := readCSV(t, admin.Get("/admin/audit-log.csv?action=key.created&actor=cli"))
		if len(filtered) != 6 {
			t.Errorf("filtered export: %d rows, want the header and 5", len(filtered))
		}
		res = admin.Get("/admin/audit-log.csv?from=soon")
		wantStatus(t, res, http.StatusUnprocessableEntity)
		if !strings.Contains(res.Body, "from must be a date") {
			t.Errorf("a bad filter: got %s, want the page saying from must be a date", res.Body)
		}

		// Each export is recorded, by whom and with its filters; the refused one is not.
		var exports []string
		for _, ev := range modelstest.AuditEvents(t, app.Store, models.AuditFilter{Action: models.AuditExported}) {
			exports = append(exports, ev.Actor.Label+": "+ev.Detail)
		}
		wantExports := []string{adminEmail + ": CSV export, filters: none", adminEmail + ": CSV export, filters: action=key.created&actor=cli"}
		if !slices.Equal(exports, wantExports) {
			t.Errorf("exports recorded:\ngot  %q\nwant %q", exports, wantExports)
		}
	})
}

// runsAsFormula tells whether a spreadsheet could take cell for a formula: one beginning with
// a tab or a carriage return, or with =, +, - or @ (or their full-width forms) after spaces.
func runsAsFormula(cell string) bool {
	if strings.HasPrefix(cell, "\t") || strings.HasPrefix(cell, "\r") {
		return true
	}
	first, _ := utf8.DecodeRuneInString(strings.TrimLeftFunc(cell, unicode.IsSpace))
	return strings.ContainsRune("=+-@＝＋－＠", first)
}

// A spreadsheet runs no cell of the export in any locale. An attacker who never signed in
// types an email and sends a User-Agent that hide formulas behind semicolons, and a key's name
// does the same; each reaches the export quoted, and neutralised wherever a spreadsheet could
// split it: read with a comma, with a semicolon (a lenient reader, as spreadsheets are), and
// split on every separator with the quotes ignored.
func TestAuditLogCSVRunsNoFormulaInAnyLocale(t *testing.T) {
	const (
		email     = "a;=3+4;@ex.com"
		userAgent = "Mozilla/5.0;=cmd|'/ccalc'!A0;"
	)
	eachApp(t, func(t *testing.T, app *apptest.App, admin *apptest.Client) {
		visitor := app.Client(t)
		visitor.Get("/login")
		wantStatus(t, postAs(visitor, "/login", userAgent, signInForm(email, "guess")), http.StatusUnauthorized)
		// From another address, so that the sign-in throttle's summary does not fold it in.
		other := app.ClientFrom(t, "127.0.0.2")
		other.Get("/login")
		wantStatus(t, postAs(other, "/login", "curl, =1+1; -2", signInForm("b@ex.com", "guess")), http.StatusUnauthorized)
		// Names the console accepts, each hiding a formula behind a separator, a space, a
		// quote or a full-width equals sign.
		names := []string{"k;=1+2;", `q";=3+4`, "s, =5+6", "w;＝7+8"}
		for _, name := range names {
			admin.Get("/admin/api-keys/new")
			wantStatus(t, admin.Post("/admin/api-keys", createForm(name, models.ScopeReadOnly, "30d")), http.StatusOK)
		}

		res := admin.Get("/admin/audit-log.csv")
		wantStatus(t, res, http.StatusOK)
		comma := csv.NewReader(strings.NewReader(res.Body))
		lines := strings.Split(res.Body, "\n")
		var rows [][]string
		var bare []string
		for {
			row, err := comma.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("the export is not CSV: %v\n%s", err, res.Body)
			}
			for i := range row {
				line, column := comma.FieldPos(i)
				if raw := lines[line-1]; column > len(raw) || raw[column-1] != '"' {
					bare = append(bare, fmt.Sprintf("line %d field %d %q", line, i+1, row[i]))
				}
			}
			rows = append(rows, row)
		}
		if len(bare) > 0 {
			t.Errorf("%d fields not quoted, the first %s", len(bare), bare[0])
		}
		semicolon := csv.NewReader(strings.NewReader(res.Body))
		semicolon.Comma, semicolon.LazyQuotes, semicolon.FieldsPerRecord = ';', true, -1
		bySemicolon, err := semicolon.ReadAll()
		if err != nil {
			t.Fatalf("the export read with semicolons: %v", err)
		}
		var unquoted [][]string
		for _, line := range lines {
			unquoted = append(unquoted, strings.FieldsFunc(line, func(r rune) bool { return strings.ContainsRune(",;\t\r", r) }))
		}
		for reading, cells := range map[string][][]string{"with commas": rows, "with semicolons": bySemicolon, "split with the quotes ignored": unquoted} {
			for _, row := range cells {
				for _, cell := range row {
					if runsAsFormula(strings.TrimLeft(cell, `"`)) {
						t.Errorf("read %s: cell %q would run as a formula", reading, cell)
					}
				}
			}
		}

		var signIns, userAgents, keyNames []string
		for _, row := range rows[1:] {
			switch row[5] {
			case models.AuditSignInFailed:
				signIns, userAgents = append(signIns, row[8]), append(userAgents, row[10])
			case models.AuditKeyCreated:
				keyNames = append(keyNames, row[8])
			}
		}
		if want := []string{"b@ex.com", "a;'=3+4;'@ex.com"}; !slices.Equal(signIns, want) {
			t.Errorf("failed sign-ins' emails, newest first: got %q, want %q", signIns, want)
		}
		if want := []string{"curl,' =1+1;' -2", "Mozilla/5.0;'=cmd|'/ccalc'!A0;"}; !slices.Equal(userAgents, want) {
			t.Errorf("failed sign-ins' User-Agents, newest first: got %q, want %q", userAgents, want)
		}
		if want := []string{"w;'＝7+8", "s,' =5+6", `q";'=3+4`, "k;'=1+2;"}; !slices.Equal(keyNames, want) {
			t.Errorf("key names, newest first: got %q, want %q", keyNames, want)
		}
	})
}
