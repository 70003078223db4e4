package e2e

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"keysmith/app/apptest"
)

// Timeouts keep a broken page from hanging the suite: the whole browser lives at most
// browserLifetime, and one step (a click and what it should cause) gets stepTimeout.
const (
	browserLifetime = 2 * time.Minute
	stepTimeout     = 10 * time.Second
)

// chromiumPath finds the browser the suite drives, or skips the test when there is none. CI
// installs Chromium, so a skip there shows in the verbose output.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if path := os.Getenv("KEYSMITH_CHROMIUM"); path != "" {
		return path
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Skip("Chromium not found (looked for /usr/bin/chromium, chromium, chromium-browser, google-chrome; set KEYSMITH_CHROMIUM to its path): skipping the browser tests")
	return ""
}

// startBrowser starts one headless Chromium for a test and returns its context; tabs opened
// from it share the process. The browser stops when the test ends or browserLifetime passes.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	lifetime, cancelLifetime := context.WithTimeout(context.Background(), browserLifetime)
	t.Cleanup(cancelLifetime)
	allocator, cancelAllocator := chromedp.NewExecAllocator(lifetime,
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 800),
	)
	t.Cleanup(cancelAllocator)
	ctx, cancel := chromedp.NewContext(allocator)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium at %s: %v", path, err)
	}
	return ctx
}

// tab is one browser tab, in a browser context of its own (its own cookies), on one running
// Keysmith. It records every console error, uncaught exception and CSP violation the pages
// report, and the test fails on any of them.
type tab struct {
	t   *testing.T
	ctx context.Context
	app *apptest.App

	// marked is set once the page carries a marker that a full reload would lose.
	marked bool

	mu       sync.Mutex
	problems []string
	allowed  []string
}

// cspReporter runs before every page's own scripts (DevTools injects it, so the page's CSP
// does not apply to it) and turns each securitypolicyviolation event into a console error,
// which the tab records.
const cspReporter = `document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
    " at " + e.sourceFile + ":" + e.lineNumber + " sample " + JSON.stringify(e.sample));
}, true);`

// openTab opens a tab on app. With javascript false, scripts are disabled before the first
// navigation, as in a browser with JavaScript turned off.
func openTab(t *testing.T, browserCtx context.Context, app *apptest.App, javascript bool) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx, app: app}
	messages := chromedp.Console(ctx)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException ||
				strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "CSP violation") {
				tb.record(fmt.Sprintf("%s (at %s:%d)", m, m.URL, m.Line+1))
			}
		}
	}()
	if javascript {
		tb.call("inject the CSP violation reporter", func(ctx context.Context) error {
			_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspReporter})
			return err
		})
	} else {
		tb.call("disable JavaScript", func(ctx context.Context) error {
			_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		})
	}
	// A headless tab is not focused, and the clipboard API refuses pages without focus.
	tb.call("emulate focus", func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true})
		return err
	})
	t.Cleanup(tb.checkConsole)
	return tb
}

// record notes one problem unless the test said to expect it.
func (tb *tab) record(problem string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, allowed := range tb.allowed {
		if strings.Contains(problem, allowed) {
			return
		}
	}
	tb.problems = append(tb.problems, problem)
}

// allow makes console messages containing text expected, such as the browser's log line
// for a 422 response to an invalid form, which is how htmx gets the re-rendered form.
func (tb *tab) allow(text string) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.allowed = append(tb.allowed, text)
}

// checkConsole fails the test for every console error, exception or CSP violation seen.
func (tb *tab) checkConsole() {
	// Console messages arrive asynchronously; a round trip lets the last ones in.
	ctx, cancel := context.WithTimeout(tb.ctx, time.Second)
	defer cancel()
	chromedp.Do(ctx, chromedp.Sleep(100*time.Millisecond))
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, problem := range tb.problems {
		tb.t.Errorf("the page reported: %s", problem)
	}
}

// call runs f with a step timeout and fails the test, naming the step, if it fails.
func (tb *tab) call(step string, f func(ctx context.Context) error) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := f(ctx); err != nil {
		tb.t.Fatalf("%s: %v", step, err)
	}
}

// do runs actions in order with a step timeout and fails the test, naming the step.
func (tb *tab) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	tb.call(step, func(ctx context.Context) error { return chromedp.Do(ctx, actions...) })
}

// get runs one action that returns a value, with a step timeout.
func get[T any](tb *tab, step string, action chromedp.Action[T]) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	value, err := chromedp.Run(ctx, action)
	if err != nil {
		tb.t.Fatalf("%s: %v", step, err)
	}
	return value
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](tb *tab, step, expression string) T {
	tb.t.Helper()
	return get(tb, step, chromedp.Evaluate[T](expression, chromedp.EvalAwaitPromise))
}

// waitFor polls a JavaScript condition until it holds, and fails the test with what it
// describes otherwise.
func (tb *tab) waitFor(what, condition string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](condition, chromedp.WithPollingTimeout(stepTimeout-time.Second), chromedp.WithPollingInterval(25*time.Millisecond)))
	if err != nil {
		tb.t.Fatalf("waiting until %s (%s): %v", what, condition, err)
	}
}

// grantClipboard lets the app's pages read and write the clipboard, as a person would allow.
func (tb *tab) grantClipboard() {
	tb.t.Helper()
	contextID := chromedp.FromContext(tb.ctx).BrowserContextID
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		tb.call("grant "+name, func(ctx context.Context) error {
			_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
				Permission:       &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: name == "clipboard-write"},
				Setting:          browser.PermissionSettingGranted,
				Origin:           tb.app.URL,
				BrowserContextID: contextID,
			})
			return err
		})
	}
}

// clipboard reads the clipboard as the page sees it.
func (tb *tab) clipboard() string {
	tb.t.Helper()
	return eval[string](tb, "read the clipboard", `navigator.clipboard.readText()`)
}

// login signs in through the login form as a user made by apptest.App.CreateUser,
// starting from the API Keys page so the redirect to login and back is exercised too.
func (tb *tab) login(email string) {
	tb.t.Helper()
	tb.do("open the API Keys page signed out",
		chromedp.Navigate(tb.app.URL+"/admin/api-keys"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)),
	)
	if location := get(tb, "read the location", chromedp.Location()); !strings.Contains(location, "/login?next=") {
		tb.t.Errorf("signed out, /admin/api-keys went to %q, want the login page with next", location)
	}
	tb.do("sign in",
		chromedp.SendKeys(chromedp.CSS(`#email`), email),
		chromedp.SendKeys(chromedp.CSS(`#password`), apptest.DefaultPassword),
		chromedp.Click(chromedp.CSS(`[data-testid="login-submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="new-api-key"]`)),
	)
	if user := get(tb, "read the signed-in user", chromedp.Text(chromedp.CSS(`[data-testid="signed-in-user"]`))); !strings.Contains(user, strings.Split(email, "@")[0]) {
		tb.t.Errorf("signed-in user shows %q, want it to name %q", user, email)
	}
}

// text returns the visible text of the first element matching a CSS selector.
func (tb *tab) text(selector string) string {
	tb.t.Helper()
	return get(tb, "read the text of "+selector, chromedp.Text(chromedp.CSS(selector), chromedp.NodeVisible))
}

// count returns how many elements match a CSS selector right now.
func (tb *tab) count(selector string) int {
	tb.t.Helper()
	return eval[int](tb, "count "+selector, fmt.Sprintf(`document.querySelectorAll(%q).length`, selector))
}

// rowIDs returns the data-key-id of every row of the list, in order.
func (tb *tab) rowIDs() []string {
	tb.t.Helper()
	return eval[[]string](tb, "read the rows", `Array.from(document.querySelectorAll('[data-testid="api-key-row"]'), r => r.dataset.keyId)`)
}

// screenshot takes a PNG of the viewport.
func (tb *tab) screenshot() []byte {
	tb.t.Helper()
	return get(tb, "take a screenshot", chromedp.CaptureScreenshot())
}

var errNotPNG = errors.New("not a PNG")

// checkPNG reports whether data starts like a PNG file.
func checkPNG(data []byte) error {
	if len(data) < 8 || string(data[:8]) != "\x89PNG\r\n\x1a\n" {
		return errNotPNG
	}
	return nil
}

// axeSource is axe-core, the accessibility checker the walk-through runs in every page. It is
// a test fixture pinned to one version: testdata/README.md records where it comes from.
//
//go:embed testdata/axe-4.14.1.min.js
var axeSource string

// screen is one way of looking at the console: a viewport size, and the colour scheme the
// browser asks for.
type screen struct {
	name          string
	width, height int64
	phone, dark   bool
}

// screens are the sizes and colour schemes every page must work in: a laptop and a phone,
// each light and dark.
var screens = []screen{
	{name: "desktop light", width: 1280, height: 800},
	{name: "desktop dark", width: 1280, height: 800, dark: true},
	{name: "phone light", width: 390, height: 844, phone: true},
	{name: "phone dark", width: 390, height: 844, phone: true, dark: true},
}

// useScreen sizes the viewport (as a phone, honouring the page's viewport meta, when phone
// is set) and sets the colour scheme the page sees.
func (tb *tab) useScreen(s screen) {
	tb.t.Helper()
	scheme := "light"
	if s.dark {
		scheme = "dark"
	}
	options := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if s.phone {
		options = append(options, chromedp.EmulatePortrait, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	tb.do("use the "+s.name+" screen", chromedp.EmulateViewport(s.width, s.height, options...))
	// With reduced motion (which Pico honours) colours change at once with the scheme, rather
	// than through a transition that a screenshot or axe would catch half-way.
	tb.call("use the "+scheme+" colour scheme", func(ctx context.Context) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}, {Name: "prefers-reduced-motion", Value: "reduce"}},
		})
		return err
	})
	tb.waitFor("the page's transitions end", `document.getAnimations().every(a => a.playState !== "running")`)
}

// checkEveryScreen looks at the page as it is now on every screen (checkScreen), and leaves
// the tab on the first, the desktop in light mode.
func (tb *tab) checkEveryScreen(where string) {
	tb.t.Helper()
	for _, s := range screens {
		tb.useScreen(s)
		tb.checkScreen(where+", "+s.name, s)
	}
	tb.useScreen(screens[0])
}

// checkScreen checks the page on the screen in use: the page never scrolls sideways, every
// open dialog's box lies inside the viewport, and axe-core finds no accessibility violation.
func (tb *tab) checkScreen(where string, s screen) {
	tb.t.Helper()
	width := eval[[]int64](tb, "measure the page", `[window.innerWidth, document.documentElement.scrollWidth]`)
	if width[0] != s.width || width[1] > s.width {
		tb.t.Errorf("%s: viewport %d px wide, page %d px wide; want both %d (no sideways scroll)", where, width[0], width[1], s.width)
	}
	outside := eval[[]string](tb, "measure the dialogs", `Array.from(document.querySelectorAll("dialog[open] > article"), box => {
		const r = box.getBoundingClientRect();
		const inside = r.left >= 0 && r.top >= 0 && r.right <= window.innerWidth && r.bottom <= window.innerHeight;
		return inside ? "" : box.parentElement.dataset.testid + " at " + [r.left, r.top, r.right, r.bottom].map(Math.round).join(",");
	}).filter(Boolean)`)
	for _, box := range outside {
		tb.t.Errorf("%s: dialog %s reaches outside the %dx%d viewport", where, box, s.width, s.height)
	}
	for _, violation := range tb.axe() {
		tb.t.Errorf("%s: axe: %s", where, violation)
	}
}

// axe runs axe-core's default rules on the page and describes each violation with the
// elements it found it on.
func (tb *tab) axe() []string {
	tb.t.Helper()
	if !eval[bool](tb, "look for axe", `typeof window.axe === "object"`) {
		eval[chromedp.Void](tb, "inject axe", axeSource)
	}
	return eval[[]string](tb, "run axe", `axe.run(document, {resultTypes: ["violations"]}).then(results =>
		results.violations.flatMap(v => v.nodes.map(n => v.id + " (" + v.impact + "): " + v.help + " at " + n.target.join(" ") + ": " + n.failureSummary.replace(/\s+/g, " "))))`)
}

// copySecret presses a copy button of the secret dialog and waits for the status line to name
// what was copied.
func (tb *tab) copySecret(button, status string) {
	tb.t.Helper()
	tb.do("press "+button, chromedp.Click(chromedp.CSS(`[data-testid="`+button+`"]`)))
	tb.waitFor(`the copy status says "`+status+`"`, fmt.Sprintf(`document.querySelector("[data-testid=copy-status]").textContent.trim() === %q`, status))
}

// closeSecret presses Done on the secret dialog of a secret that was copied, which closes it
// without asking.
func (tb *tab) closeSecret() {
	tb.t.Helper()
	tb.do("press Done",
		chromedp.Click(chromedp.CSS(`[data-testid="secret-done"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`[data-testid="api-key-secret-dialog"]`)),
	)
}

// press sends keys to whatever has focus, as a person at the keyboard does.
func (tb *tab) press(what string, keys string, options ...chromedp.KeyOption) {
	tb.t.Helper()
	tb.do(what, chromedp.KeyEvent(keys, options...))
}

// pressCopy copies the selection with Ctrl+C, as a person copying by hand does.
func (tb *tab) pressCopy() {
	tb.t.Helper()
	for _, kind := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeKeyDown, input.DispatchKeyEventTypeKeyUp} {
		tb.call("press Ctrl+C", func(ctx context.Context) error {
			params := input.DispatchKeyEventParams{Type: kind, Key: "c", Code: "KeyC", WindowsVirtualKeyCode: 67, Modifiers: 2}
			if kind == input.DispatchKeyEventTypeKeyDown {
				params.Commands = []string{"copy"}
			}
			_, err := chromedp.Call(ctx, input.DispatchKeyEvent, params)
			return err
		})
	}
}

// focused describes the element that has focus: its data-testid, id or tag name.
func (tb *tab) focused() string {
	tb.t.Helper()
	return eval[string](tb, "read the focus", `(e => e.dataset.testid || e.id || e.tagName.toLowerCase())(document.activeElement)`)
}

// tabTo presses Tab until the element matching selector has focus, and fails the test when it
// never gets it: everything a test reaches this way can be reached from the keyboard.
func (tb *tab) tabTo(selector string) {
	tb.t.Helper()
	condition := fmt.Sprintf(`document.activeElement !== null && document.activeElement.matches(%q)`, selector)
	for range 80 {
		if eval[bool](tb, "check the focus", condition) {
			return
		}
		tb.press("press Tab", kb.Tab)
	}
	tb.t.Fatalf("80 presses of Tab never reached %s (focus is on %s)", selector, tb.focused())
}

// waitLonger polls a condition as waitFor does, for something that takes a few seconds by
// design (a notice that goes by itself), up to three steps' time.
func (tb *tab) waitLonger(what, condition string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 3*stepTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](condition, chromedp.WithPollingTimeout(3*stepTimeout-time.Second), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		tb.t.Fatalf("waiting until %s (%s): %v", what, condition, err)
	}
}

// htmxIdle waits until htmx has no request in flight and has finished settling what it
// swapped in, when the new content's forms and links are htmx's: a key pressed sooner would
// act on them as on plain ones.
func (tb *tab) htmxIdle() {
	tb.t.Helper()
	tb.waitFor("htmx is idle", `document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling, .htmx-added") === null`)
}
