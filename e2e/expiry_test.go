package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
	"keysmith/views"
)

// choose sets a form control's value and tells the page, as picking it does.
func (tb *tab) choose(selector, value string) {
	tb.t.Helper()
	tb.do("set "+selector+" to "+value, chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const field = document.querySelector(%q);
		field.value = %q;
		field.dispatchEvent(new Event("input", {bubbles: true}));
		field.dispatchEvent(new Event("change", {bubbles: true}));
	})()`, selector, value)))
}

// TestBrowserExpiryDates: the line under the expiry choice names the date the key will expire
// on as the choice changes, and a custom date is shown everywhere as the day that was picked;
// the notice that says so goes by itself.
func TestBrowserExpiryDates(t *testing.T) {
	browserCtx := startBrowser(t)
	app := apptest.New(t, modelstest.Targets(t)[0])
	app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
	tb := openTab(t, browserCtx, app, true)
	tb.grantClipboard()
	tb.login(adminEmail)
	tb.openNewKeyDialog()

	line := `dialog[open] [data-testid="expiry-line"]`
	// The date of a preset is counted from when the form was shown: either side of midnight.
	presetLine := func(days int, shownAfter time.Time) []string {
		return []string{views.ExpiresOnLine(shownAfter.AddDate(0, 0, days)), views.ExpiresOnLine(time.Now().AddDate(0, 0, days))}
	}
	shown := time.Now()
	if got, want := tb.text(line), presetLine(180, shown); got != want[0] && got != want[1] {
		t.Errorf("line under the default choice: got %q, want %q", got, want[1])
	}
	tb.choose(`dialog[open] select[name="expires_in"]`, "30d")
	if got, want := tb.text(line), presetLine(30, shown); got != want[0] && got != want[1] {
		t.Errorf("line under 30 days: got %q, want %q", got, want[1])
	}
	tb.choose(`dialog[open] select[name="expires_in"]`, "never")
	if got := tb.text(line); got != views.NeverExpiresLine {
		t.Errorf("line under Never: got %q, want %q", got, views.NeverExpiresLine)
	}
	tb.choose(`dialog[open] select[name="expires_in"]`, "custom")
	if got := tb.text(line); got != views.CustomDateHint {
		t.Errorf("line under Custom date before a date is picked: got %q, want %q", got, views.CustomDateHint)
	}
	picked := time.Now().UTC().AddDate(0, 0, 40)
	tb.choose(`dialog[open] input[name="expires_at"]`, picked.Format(time.DateOnly))
	if got, want := tb.text(line), "This key will expire on "+picked.Format("2 Jan 2006")+"."; got != want {
		t.Errorf("line under the picked date: got %q, want %q", got, want)
	}

	tb.do("fill in the rest and create",
		chromedp.SendKeys(chromedp.CSS(`dialog[open] #api-key-name`), "Quarter-end export"),
		chromedp.Click(chromedp.CSS(`dialog[open] input[name="scope"][value="read-only"]`)),
		chromedp.Click(chromedp.CSS(`dialog[open] [data-testid="create-api-key"]`)),
		chromedp.WaitVisible(chromedp.CSS(`dialog[open][data-testid="api-key-secret-dialog"]`)),
	)
	day := picked.Format("2 Jan 2006")
	if got := tb.text(`[data-testid="secret-expires"]`); got != day {
		t.Errorf("expiry beside the secret: got %q, want the picked day %q", got, day)
	}
	publicID := tb.text(`[data-testid="api-key-public-id"]`)
	tb.copySecret("copy-formatted", "Copied the header line.")
	tb.closeSecret()
	if got, want := tb.text(`[data-testid="flash"]`), "It works through "+picked.Format("2 Jan 2006")+" (UTC)."; !strings.Contains(got, want) {
		t.Errorf("notice after the secret closed: got %q, want it to say %q", got, want)
	}
	// The notice goes by itself (but not while the pointer is on it: it is moved away, as a
	// person's would be after the click).
	tb.do("move the pointer away", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 1, 1))
	tb.waitLonger("the notice goes away", `document.querySelector("[data-testid=notices] .notice") === null`)
	date := `[data-key-id="` + publicID + `"] [data-testid="expiry-date"]`
	if got := tb.text(date); got != day {
		t.Errorf("expiry in the list: got %q, want the picked day %q", got, day)
	}
	hover := get(tb, "read the expiry's title", chromedp.AttributeValue(chromedp.CSS(date), "title"))
	if want := "Works through the end of " + picked.Format("2 Jan 2006") + " (UTC)"; hover.Value != want {
		t.Errorf("exact expiry on hover: got %q, want %q", hover.Value, want)
	}
	key, err := app.Store.APIKeyByPublicID(context.Background(), publicID)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(picked.Year(), picked.Month(), picked.Day()+1, 0, 0, 0, 0, time.UTC); key.ExpiresAt == nil || !key.ExpiresAt.Equal(want) {
		t.Errorf("stored expiry: got %v, want %v (the key works through the picked day)", key.ExpiresAt, want)
	}
}
