package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// TestSecretDialogKeepsShowsAndTries: with a 100-character name, on a laptop and a phone, the
// raw secret is shown whole (nothing cut off or scrolled away inside its field); the Try it
// command and its copy button, the key id's copy button and, in the confirmation before a
// secret nobody copied is closed, Keep it open are on screen and are what a click at their
// centre reaches. That confirmation puts the focus on Keep it open, so Enter keeps the secret.
// The copy buttons copy the command and the key id, in the dialog and in the list.
func TestSecretDialogKeepsShowsAndTries(t *testing.T) {
	browserCtx := startBrowser(t)
	app := apptest.New(t, modelstest.Targets(t)[0])
	app.CreateUser(t, adminEmail, models.PermissionConnectivityAdmin)
	tb := openTab(t, browserCtx, app, true)
	tb.grantClipboard()
	tb.login(adminEmail)

	name := strings.Repeat("Nightly lineage export to the warehouse ", 3)[:100]
	for _, s := range []screen{{name: "laptop", width: 1280, height: 860}, {name: "phone", width: 390, height: 844, phone: true}} {
		func() {
			tb.useScreen(s)
			created := tb.createKey(name[:99]+s.name[:1], models.ScopeScanner, "30d")
			whole := eval[string](tb, "measure the raw secret", `(f => f.scrollWidth <= f.clientWidth && f.scrollHeight <= f.clientHeight ? "" :
				f.scrollWidth + "x" + f.scrollHeight + " in " + f.clientWidth + "x" + f.clientHeight)(document.querySelector("[data-testid=api-key-secret]"))`)
			if whole != "" {
				t.Errorf("the raw secret does not fit its field: %s", whole)
			}
			command := get(tb, "read the command", chromedp.Value(chromedp.CSS(`[data-testid="try-it"]`)))
			if want := "curl -H 'X-API-SECRET: " + created.secret + "' '" + app.Config.BaseURL.String() + "/api/v1/auth/verify'"; command != want {
				t.Errorf("Try it: got %q, want %q", command, want)
			}
			for _, control := range []string{`[data-testid="copy-try"]`, `[data-testid="api-key-secret-dialog"] [data-testid="copy-key-id"]`} {
				tb.checkReachable(control)
			}

			// Nothing copied yet: closing asks, with the focus on Keep it open; Enter keeps it.
			tb.do("press the close button", chromedp.Click(chromedp.CSS(`[data-testid="api-key-secret-dialog"] [data-close-secret]`)))
			tb.waitFor("the close confirmation shows", `!document.querySelector("[data-testid=confirm-close]").hidden`)
			if got := tb.focused(); got != "keep-open" {
				t.Errorf("focus in the close confirmation: got %q, want keep-open", got)
			}
			tb.checkReachable(`[data-testid="keep-open"]`)
			tb.press("press Enter", kb.Enter)
			tb.waitFor("the confirmation hides", `document.querySelector("[data-testid=confirm-close]").hidden`)
			if !tb.secretDialogOpen() {
				t.Fatalf("Enter in the close confirmation closed the secret; want it kept open")
			}

			tb.copySecret("copy-try", "Copied the curl command.")
			if got := tb.clipboard(); got != command {
				t.Errorf("clipboard after copying the command: got %q, want %q", got, command)
			}
			tb.do("copy the key id", chromedp.Click(chromedp.CSS(`[data-testid="api-key-secret-dialog"] [data-testid="copy-key-id"]`)))
			tb.waitFor("the button says Copied", `document.querySelector("[data-testid=api-key-secret-dialog] [data-testid=copy-key-id]").textContent.startsWith("Copied")`)
			if got := tb.clipboard(); got != created.publicID {
				t.Errorf("clipboard after copying the key id in the dialog: got %q, want %q", got, created.publicID)
			}
			tb.closeSecret()
			// The notice that the key was created floats over the top of the list until it goes.
			tb.do("dismiss the notice", chromedp.Click(chromedp.CSS(`[data-testid="dismiss-notices"]`)))
			tb.waitFor("the notice goes", `document.querySelector("#flash .notice") === null`)

			inRow := fmt.Sprintf(`[data-key-id=%q] [data-testid="copy-key-id"]`, created.publicID)
			tb.checkReachable(inRow)
			tb.do("copy the key id from the list", chromedp.Click(chromedp.CSS(inRow)))
			tb.waitFor("the row's button says Copied", fmt.Sprintf(`document.querySelector(%q).textContent.startsWith("Copied")`, inRow))
			if got := tb.clipboard(); got != created.publicID {
				t.Errorf("clipboard after copying the key id in the list: got %q, want %q", got, created.publicID)
			}
		}()
	}
}

// checkReachable scrolls a control into view, as a person would, and checks that it lies
// inside the viewport and that the element at its centre is the control or inside it, so that
// nothing covers it.
func (tb *tab) checkReachable(selector string) {
	tb.t.Helper()
	problem := eval[string](tb, "reach "+selector, fmt.Sprintf(`(() => {
		const control = document.querySelector(%q);
		if (!control || !control.checkVisibility()) { return "not visible"; }
		control.scrollIntoView({block: "center", inline: "nearest"});
		const r = control.getBoundingClientRect();
		if (r.left < 0 || r.top < 0 || r.right > window.innerWidth || r.bottom > window.innerHeight) {
			return "outside the " + window.innerWidth + "x" + window.innerHeight + " viewport at " + [r.left, r.top, r.right, r.bottom].map(Math.round).join(",");
		}
		const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
		return hit && control.contains(hit) ? "" : "covered by " + (hit ? hit.outerHTML.slice(0, 120) : "nothing");
	})()`, selector))
	if problem != "" {
		tb.t.Errorf("%s: %s", selector, problem)
	}
}
