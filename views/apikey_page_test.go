package views_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"keysmith/models"
	"keysmith/views"
)

// usage is 30 days of requests ending today, with the given counts on the last days.
func usage(last ...int64) []models.APIKeyDayCount {
	days := make([]models.APIKeyDayCount, models.DailyUseDays)
	first := now.Truncate(24*time.Hour).AddDate(0, 0, -len(days)+1)
	for i := range days {
		days[i].Day = first.AddDate(0, 0, i)
	}
	for i, n := range last {
		days[len(days)-len(last)+i].Requests = n
	}
	return days
}

// The chart has one bar per day, in order, each as tall as its count against the busiest day's
// (60 units), rounded up so that a single request shows; a day without requests has none.
func TestUsageChartBars(t *testing.T) {
	for _, tc := range []struct {
		name     string
		requests []int64
		heights  []int
		total    string
	}{
		{"no requests", []int64{0, 0, 0}, []int{0, 0, 0}, "0 requests"},
		{"one busy day", []int64{0, 10, 5, 1, 0}, []int{0, 60, 30, 6, 0}, "16 requests"},
		{"a single request beside many", []int64{1, 123456}, []int{1, 60}, "123,457 requests"},
		{"one request", []int64{1}, []int{60}, "1 request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := render(t, views.APIKeyPage(page(), views.KeyPage{Key: keyNamed("chart"), Usage: usage(tc.requests...), Now: now}))
			chart := d.Find(`svg[data-testid="usage-chart"]`)
			if got, want := chart.AttrOr("viewBox", ""), "0 0 298 61"; got != want {
				t.Errorf("viewBox: got %q, want %q", got, want)
			}
			bars := chart.Find(`rect[data-testid="usage-bar"]`)
			if bars.Length() != models.DailyUseDays {
				t.Fatalf("bars: got %d, want %d", bars.Length(), models.DailyUseDays)
			}
			bars.Each(func(i int, bar *goquery.Selection) {
				wantDay := now.Truncate(24*time.Hour).AddDate(0, 0, i-models.DailyUseDays+1).Format(time.DateOnly)
				wantRequests, wantHeight := int64(0), 0
				if j := i - (models.DailyUseDays - len(tc.requests)); j >= 0 {
					wantRequests, wantHeight = tc.requests[j], tc.heights[j]
				}
				for _, attr := range []struct{ name, want string }{
					{"data-day", wantDay},
					{"data-requests", strconv.FormatInt(wantRequests, 10)},
					{"x", strconv.Itoa(i * 10)},
					{"y", strconv.Itoa(60 - wantHeight)},
					{"width", "8"},
					{"height", strconv.Itoa(wantHeight)},
				} {
					if got := bar.AttrOr(attr.name, ""); got != attr.want {
						t.Errorf("bar %d %s: got %q, want %q", i, attr.name, got, attr.want)
					}
				}
			})
			if got := d.Find(`[data-testid="usage-total"]`).Text(); !strings.Contains(got, tc.total) {
				t.Errorf("total: got %q, want it to say %q", got, tc.total)
			}
			if got := d.Find(`[data-testid="usage-table"] tbody tr`).Length(); got != models.DailyUseDays {
				t.Errorf("days in the table for screen readers: got %d, want %d", got, models.DailyUseDays)
			}
		})
	}
}

// Refused requests stack on the successful ones, against the busiest day's total, which the
// scale labels; each part of a day with a request shows at least one unit; the table gives
// both counts of each day.
func TestUsageChartStacksRefusedRequests(t *testing.T) {
	days := usage(0, 30, 0, 1, 2)
	refused := []int64{0, 90, 5, 0, 1000}
	for i, n := range refused {
		days[len(days)-len(refused)+i].Refused = n
	}
	d, _ := render(t, views.APIKeyPage(page(), views.KeyPage{Key: keyNamed("chart"), Usage: days, Now: now}))
	if got := d.Find(`[data-testid="usage-scale-max"]`).Text(); got != "1,002" {
		t.Errorf("the scale's top: got %q, want the busiest day's total, 1,002", got)
	}
	var stacks []string
	d.Find(`rect[data-testid="usage-bar"]`).Slice(models.DailyUseDays-len(refused), models.DailyUseDays).Each(func(_ int, bar *goquery.Selection) {
		stack := bar.AttrOr("y", "") + "+" + bar.AttrOr("height", "")
		if r := d.Find(`rect[data-testid="usage-refused-bar"][data-day="` + bar.AttrOr("data-day", "") + `"]`); r.Length() == 1 {
			stack += " " + r.AttrOr("y", "") + "+" + r.AttrOr("height", "") + " " + r.AttrOr("data-refused", "")
		}
		stacks = append(stacks, stack)
	})
	// Day by day: 0; 30 and 90 of 1,002 (2 units and 6); 5 refused alone (1 unit); 1 request
	// alone; 2 requests and 1,000 refused, the full height, the requests keeping their unit.
	want := []string{"60+0", "58+2 52+6 90", "60+0 59+1 5", "59+1", "59+1 0+59 1000"}
	if strings.Join(stacks, ", ") != strings.Join(want, ", ") {
		t.Errorf("stacks (y+height of the successful, then of the refused, and their count):\n got %q\nwant %q", stacks, want)
	}
	var rows []string
	d.Find(`[data-testid="usage-table"] tbody tr`).Slice(models.DailyUseDays-2, models.DailyUseDays).Each(func(_ int, row *goquery.Selection) {
		rows = append(rows, row.Find("td").First().Text()+"/"+row.Find("td").Last().Text())
	})
	if got := strings.Join(rows, " "); got != "1/0 2/1000" {
		t.Errorf("the table's last two days (successful/refused): got %q, want %q", got, "1/0 2/1000")
	}
	var heads []string
	d.Find(`[data-testid="usage-table"] thead th`).Each(func(_ int, th *goquery.Selection) { heads = append(heads, th.Text()) })
	if got := strings.Join(heads, ", "); got != "Day, Successful, Refused" {
		t.Errorf("the table's columns: got %q", got)
	}
	if got := d.Find(`[data-testid="usage-refused-total"]`).Text(); !strings.Contains(got, "1,095 refused") {
		t.Errorf("the refused total: got %q, want 1,095 refused", got)
	}
}

// The chart can be read without seeing it, and draws without any inline style.
func TestUsageChartIsAccessible(t *testing.T) {
	d, html := render(t, views.APIKeyPage(page(), views.KeyPage{Key: keyNamed("chart"), Usage: usage(3, 0, 7), Now: now}))
	chart := d.Find(`svg[data-testid="usage-chart"]`)
	if got := chart.AttrOr("role", ""); got != "img" {
		t.Errorf("role: got %q, want img", got)
	}
	labels := strings.Fields(chart.AttrOr("aria-labelledby", ""))
	if len(labels) != 2 {
		t.Fatalf("aria-labelledby: got %q, want the title and the description", labels)
	}
	if got := chart.Find("#" + labels[0]).Text(); got != "Requests per day over the last 30 days" {
		t.Errorf("title: got %q, want %q", got, "Requests per day over the last 30 days")
	}
	desc := strings.Join(strings.Fields(chart.Find("#"+labels[1]).Text()), " ")
	if want := "10 requests in all. The busiest day was 25 Nov 2026, with 7 requests. The table after the chart lists every day."; desc != want {
		t.Errorf("description: got %q, want %q", desc, want)
	}
	last := d.Find(`[data-testid="usage-table"] tbody tr`).Last()
	if day, requests := last.Find("th").Text(), last.Find("td").First().Text(); day != "25 Nov 2026" || requests != "7" {
		t.Errorf("the table's last row: got %q and %q, want %q and %q", day, requests, "25 Nov 2026", "7")
	}
	if !d.Find(`[data-testid="usage-table"]`).HasClass("visually-hidden") {
		t.Error("the table for screen readers is not visually hidden")
	}
	if strings.Contains(html, " style=") || strings.Contains(html, "<style") {
		t.Error("the page has an inline style, which the CSP refuses")
	}
}

// A hostile name or client is text on the key page, never markup.
func TestKeyPageEscapesHostileText(t *testing.T) {
	hostile := `</h1><script>alert(1)</script><svg onload="x">`
	key := keyNamed(hostile)
	key.LastUsedClient = hostile
	d, html := render(t, views.APIKeyPage(page(), views.KeyPage{
		Key: key, Usage: usage(1), Now: now,
		Clients: []views.ClientUse{{Name: hostile, Address: "192.0.2.1", LastSeen: now}},
	}))
	if strings.Contains(html, "<script>alert") || strings.Contains(html, `<svg onload`) {
		t.Fatal("a hostile name is rendered as markup")
	}
	if got := d.Find(`[data-testid="key-page-name"]`).Text(); got != hostile {
		t.Errorf("name: got %q, want %q", got, hostile)
	}
	if got := d.Find(`[data-testid="key-client"] strong`).Text(); got != hostile {
		t.Errorf("client: got %q, want %q", got, hostile)
	}
}

// Created by names the creator as the Users page does, CLI for a key made without a console
// user (its hover text saying that it may be a creator removed from the database by hand),
// and says so honestly when the creator is no longer in the database.
func TestCreatedBy(t *testing.T) {
	ada, gone := int64(7), int64(8)
	names := map[int64]string{ada: "Ada Lovelace"}
	for _, tc := range []struct {
		name      string
		createdBy *int64
		want      string
	}{
		{"console user", &ada, "Ada Lovelace"},
		{"command line", nil, "CLI"},
		{"user deleted from the database", &gone, "Deleted user"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := models.APIKey{CreatedByID: tc.createdBy}
			if got := views.CreatedBy(key, names); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			// The hover text says what CLI may also mean: the link to a creator removed by hand.
			if hint := views.CreatedByHint(key, names); tc.createdBy == nil && !strings.Contains(hint, "since removed from the database") || tc.createdBy != nil && hint != "Created by "+tc.want {
				t.Errorf("hover text %q", hint)
			}
		})
	}
}
