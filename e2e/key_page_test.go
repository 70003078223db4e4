package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// chartBar is a bar of the usage chart as the browser draws it.
type chartBar struct {
	Day      string  `json:"day"`
	Requests int64   `json:"requests"`
	Height   float64 `json:"height"`
	Fill     string  `json:"fill"`
}

// TestBrowserKeyPageChart opens a key's page from its name in the list and finds the chart of
// its requests per day drawn: bars on screen as tall as their counts, coloured by the
// stylesheet, with no inline style for the CSP to block.
func TestBrowserKeyPageChart(t *testing.T) {
	browserCtx := startBrowser(t)
	for _, target := range modelstest.Targets(t) {
		t.Run(target.Name, func(t *testing.T) {
			app := apptest.New(t, target)
			app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
			ctx := context.Background()
			key, secret, err := app.Store.CreateAPIKey(ctx, models.NewAPIKey{Name: "Nightly lineage export", Scope: models.ScopeReadOnly})
			if err != nil {
				t.Fatal(err)
			}
			// Requests through the API: five three days ago, two today.
			gateway := app.Client(t)
			now := time.Now()
			for _, day := range []struct{ daysAgo, requests int }{{3, 5}, {0, 2}} {
				app.Store.SetClock(func() time.Time { return now.AddDate(0, 0, -day.daysAgo) })
				for range day.requests {
					res := gateway.Do(http.MethodGet, "/api/v1/auth/verify", nil, map[string]string{"X-API-SECRET": secret, "User-Agent": "lineage-export/2.3"})
					if res.StatusCode != http.StatusOK {
						t.Fatalf("verify: got status %d, want 200", res.StatusCode)
					}
				}
			}
			app.Store.SetClock(time.Now)

			tb := openTab(t, browserCtx, app, true)
			tb.login(adminEmail)
			tb.do("follow the key's name to its page",
				chromedp.Click(chromedp.CSS(`[data-key-id="`+key.PublicID+`"] [data-testid="api-key-link"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-testid="api-key-page"] [data-testid="usage-chart"]`)),
			)
			if location := get(tb, "read the location", chromedp.Location()); location != app.URL+"/admin/api-keys/"+key.PublicID {
				t.Errorf("location of the key page: got %q, want %q", location, app.URL+"/admin/api-keys/"+key.PublicID)
			}
			if got := tb.text(`[data-testid="key-page-name"]`); got != key.Name {
				t.Errorf("the page's heading: got %q, want %q", got, key.Name)
			}
			chart := eval[struct{ Width, Height float64 }](tb, "measure the chart",
				`(r => ({Width: r.width, Height: r.height}))(document.querySelector('[data-testid="usage-chart"]').getBoundingClientRect())`)
			if chart.Width < 300 || chart.Height < 60 {
				t.Errorf("the chart on screen: got %.0f×%.0f px, want at least 300×60", chart.Width, chart.Height)
			}
			bars := eval[[]chartBar](tb, "measure the bars", `Array.from(document.querySelectorAll('[data-testid="usage-bar"]'), b => ({
				day: b.dataset.day, requests: Number(b.dataset.requests),
				height: b.getBoundingClientRect().height, fill: getComputedStyle(b).fill}))`)
			if len(bars) != models.DailyUseDays {
				t.Fatalf("bars drawn: got %d, want %d", len(bars), models.DailyUseDays)
			}
			busy, today := bars[len(bars)-4], bars[len(bars)-1]
			if busy.Requests != 5 || today.Requests != 2 {
				t.Fatalf("requests three days ago and today: got %d and %d, want 5 and 2", busy.Requests, today.Requests)
			}
			if busy.Height < 0.95*chart.Height || today.Height < 0.35*chart.Height || today.Height > 0.45*chart.Height {
				t.Errorf("bars of 5 and 2 requests: got %.1f and %.1f px tall in a chart of %.1f px, want the full height and two fifths", busy.Height, today.Height, chart.Height)
			}
			// The stylesheet colours the bars as links, in the theme's primary colour.
			if primary := eval[string](tb, "read the links' colour", `getComputedStyle(document.querySelector('[data-testid="back-to-list"]')).color`); busy.Fill != primary {
				t.Errorf("the bars' fill: got %q, want the theme's primary colour, %q", busy.Fill, primary)
			}
			for _, bar := range bars {
				if bar.Requests == 0 && bar.Height != 0 {
					t.Errorf("bar of %s without requests: got %.1f px tall, want 0", bar.Day, bar.Height)
				}
			}
		})
	}
}
