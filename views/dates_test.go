package views_test

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"

	"keysmith/models"
	"keysmith/views"
)

// otherDateStyles are the ways of writing a date the console no longer uses: ISO dates and
// instants, dates with a weekday, and times to the second.
var otherDateStyles = map[string]*regexp.Regexp{
	"ISO date":       regexp.MustCompile(`\d{4}-\d{2}-\d{2}`),
	"weekday":        regexp.MustCompile(`\b(Mon|Tue|Wed|Thu|Fri|Sat|Sun),? \d{1,2} [A-Z][a-z]{2}`),
	"time to second": regexp.MustCompile(`\d{2}:\d{2}:\d{2}`),
}

// oneDateStyle is the console's: "7 Dec 2026" for a day, "7 Dec 2026, 13:37 UTC" for a moment.
var oneDateStyle = regexp.MustCompile(`^\d{1,2} [A-Z][a-z]{2} \d{4}(, \d{2}:\d{2} UTC)?$`)

// TestEveryPageWritesDatesOneWay renders the pages that show dates and times with known times
// and finds them written one way in the text a person reads; the exact time stays in title and
// datetime attributes, which the text check leaves out.
func TestEveryPageWritesDatesOneWay(t *testing.T) {
	key := keyNamed("Nightly export")
	rotated := now.Add(-time.Hour)
	endsAt := time.Date(2026, 11, 26, 13, 37, 59, 0, time.UTC)
	hash := "h"
	rotating := key
	rotating.RotatedAt = &rotated
	rotating.Previous = models.PreviousSecret{SecretHash: &hash, Hint: "ksk_old…", EndsAt: &endsAt}
	list := views.APIKeyList{Page: models.APIKeyPage{Keys: []models.APIKey{key, rotating}, Total: 2, Page: 1, PerPage: 25}, Now: now, Sort: models.DefaultAPIKeySort}
	event := models.AuditEvent{ID: 7, At: time.Date(2026, 12, 7, 13, 37, 59, 0, time.UTC), Action: "api_key.expiry_changed",
		Actor: models.AuditActor{Type: "user", ID: "1", Label: "ada@example.com"}, TargetType: "api_key", TargetID: "ak_0123456789abcdef",
		Detail: "expiry 2027-02-06T00:00:00Z → 2027-03-08T12:30:00Z"}
	for _, tc := range []struct {
		name string
		page templ.Component
	}{
		{"list", views.APIKeysPage(page(), list)},
		{"key page", views.APIKeyPage(page(), views.KeyPage{Key: rotating, Usage: usage(3, 0, 7), Now: now})},
		{"secret dialog", views.SecretDialog(views.CreatedKey{Key: key, Secret: models.GenerateSecret()})},
		{"rotating note", views.RotatingNote(rotating, now)},
		{"scanners", views.ScannerListRegion(views.ScannersView{Scanners: []models.Scanner{{Name: "snowflake-prod", Key: &key, LastCheckInAt: now}}, Now: now})},
		{"audit log", views.AuditLogPage(page(), views.AuditLogView{Events: []models.AuditEvent{event}, Today: "2026-12-07"})},
		{"user link", views.UserLinkPage(page(), views.UserLinkView{User: models.User{Name: "Bo", Email: "bo@example.com"}, Link: "https://k.example/set-password", ExpiresAt: endsAt, Now: now})},
	} {
		d, _ := render(t, tc.page)
		d.Find("script, style, input, textarea").Remove()
		text := d.Find("body").Text()
		for style, re := range otherDateStyles {
			if found := re.FindString(text); found != "" {
				t.Errorf("%s: shows %q (style: %s)", tc.name, found, style)
			}
		}
		d.Find("time").Each(func(_ int, s *goquery.Selection) {
			if _, ok := s.Attr("title"); !ok && strings.Contains(s.AttrOr("datetime", ""), "T") {
				t.Errorf("%s: <time> %q has no exact time on hover", tc.name, s.Text())
			}
			shown := strings.TrimSpace(s.Contents().Not("small").Text())
			if !oneDateStyle.MatchString(shown) && !strings.HasSuffix(shown, "ago") && !strings.HasPrefix(shown, "in ") && shown != "just now" {
				t.Errorf("%s: <time> shows %q, not the console's date style", tc.name, shown)
			}
		})
	}
}

// TestAuditDetailShowsItsDatesInTheConsoleStyle checks that the instants an audit detail holds
// read as the rest of the console's dates, with the raw instant in the datetime attribute.
func TestAuditDetailShowsItsDatesInTheConsoleStyle(t *testing.T) {
	event := models.AuditEvent{ID: 1, At: now, Action: "api_key.expiry_changed", Actor: models.AuditActor{Type: "system"},
		Detail: "expiry 2027-02-06T00:00:00Z → 2027-03-08T12:30:00Z; not a date 2027-99-99T00:00:00Z"}
	d, _ := render(t, views.AuditLogRegion(views.AuditLogView{Events: []models.AuditEvent{event}, Today: "2026-11-25"}))
	detail := d.Find(`[data-testid="audit-detail"]`)
	want := "expiry 6 Feb 2027, 00:00 UTC → 8 Mar 2027, 12:30 UTC; not a date 2027-99-99T00:00:00Z"
	if got := strings.Join(strings.Fields(detail.Text()), " "); got != want {
		t.Errorf("detail reads %q, want %q", got, want)
	}
	if got := detail.Find("time").First().AttrOr("datetime", ""); got != "2027-02-06T00:00:00Z" {
		t.Errorf("detail's first date: datetime %q, want the stored instant", got)
	}
}
