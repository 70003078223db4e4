// Package apptest starts the whole Keysmith application for tests, built by app.New and
// served by app.App.Serve as `keysmith serve` runs it (Echo, every middleware, every route,
// the background jobs) over a real database, and gives them a browser-like client with a
// cookie jar. The system tests in integration/ and e2e/ and the command's own tests use it.
// Every answer of /api/v1 that its clients receive is checked against the OpenAPI document
// that the server serves, and a test fails on any that the document does not describe.
package apptest

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"keysmith/app"
	"keysmith/config"
	"keysmith/logging"
	"keysmith/models"
	"keysmith/models/modelstest"
	"keysmith/services/cluster"
	"keysmith/services/keyauth"
	"keysmith/services/webhook"
	"keysmith/web"
)

// DefaultPassword is the password of users made by CreateUser.
const DefaultPassword = "correct horse battery staple"

// App is a running Keysmith over a test database, built and served as `keysmith serve` builds
// and serves it (app.New, app.App.Serve).
type App struct {
	Store  *models.Store
	Server *web.Server
	Config config.Config
	// Keys, Cluster and Webhooks are the application's services (Webhooks nil without a
	// webhook URL).
	Keys     *keyauth.Verifier
	Cluster  *cluster.Instance
	Webhooks *webhook.Sender
	// URL is the base URL of the running HTTP server.
	URL  string
	logs *Buffer
	// openAPI is the document every answer of the API that a Client receives is checked
	// against.
	openAPI contract
}

// Logs returns everything the server has logged so far, so tests can check what never
// reaches the log.
func (a *App) Logs() string {
	return a.logs.String()
}

// New starts Keysmith on target's database. configure may change the configuration first.
func New(t testing.TB, target modelstest.Target, configure ...func(*config.Config)) *App {
	t.Helper()
	store := modelstest.Open(t, target)
	return NewOnStore(t, store, configure...)
}

// NewBehindProxy starts Keysmith on a fresh PostgreSQL schema that it reaches only through a
// proxy the test controls, so that the test can refuse, drop or hang its connections; every
// database call is bounded by dbTimeout. It also returns a store that reaches the database
// directly, to set up and look at what was written. It skips without PostgreSQL.
func NewBehindProxy(t *testing.T, dbTimeout time.Duration, configure ...func(*config.Config)) (app *App, proxy *modelstest.Proxy, direct *models.Store) {
	t.Helper()
	target := modelstest.Postgres(t, "the database fault tests")
	direct = modelstest.Open(t, target)
	u, err := url.Parse(target.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy = modelstest.NewProxy(t, u.Host)
	store, err := models.OpenWithTimeout(context.Background(), proxy.URL(target.URL), dbTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	bounded := func(cfg *config.Config) { cfg.DBTimeout = dbTimeout }
	return NewOnStore(t, store, append([]func(*config.Config){bounded}, configure...)...), proxy, direct
}

// NewOnStore starts Keysmith over an already open store, for tests that need two servers on
// one database.
func NewOnStore(t testing.TB, store *models.Store, configure ...func(*config.Config)) *App {
	t.Helper()
	cfg, _, err := config.Load("test", nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range configure {
		f(&cfg)
	}
	logs := &Buffer{}
	log := logging.New(logs, "text", slog.LevelInfo)
	key, err := store.SessionKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	keysmith := app.New(cfg, store, log, [][]byte{key})
	// Served as in production, with the background jobs, and stopped as in production when the
	// test ends.
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serving, stop := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- keysmith.Serve(serving, listener) }()
	t.Cleanup(func() {
		stop()
		if err := <-stopped; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	// The index of secret hashes is built in the background; until it is, unknown keys are
	// looked up. Tests count lookups and connections, so they start once it is built, as a
	// serving instance soon is.
	for deadline := time.Now().Add(10 * time.Second); !keysmith.Keys.IndexComplete(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the index of secret hashes was not built within 10 s")
		}
	}
	return &App{
		Store: store, Server: keysmith.Server, Config: cfg, Keys: keysmith.Keys, Cluster: keysmith.Cluster, Webhooks: keysmith.Webhooks,
		URL: "http://" + listener.Addr().String(), logs: logs,
	}
}

// VerifyStatus asks the gateway endpoint about secret, as a service presenting it would, and
// returns the status code.
func (a *App) VerifyStatus(t testing.TB, secret string) int {
	t.Helper()
	return a.Client(t).Do(http.MethodGet, "/api/v1/auth/verify", nil, map[string]string{"X-API-SECRET": secret}).StatusCode
}

// CreateUser adds a console user with DefaultPassword.
func (a *App) CreateUser(t testing.TB, email string, permission models.Permission) *models.User {
	t.Helper()
	user, err := a.Store.CreateUser(context.Background(), models.NewUser{Email: email, Name: strings.Split(email, "@")[0], Password: DefaultPassword, Permission: permission})
	if err != nil {
		t.Fatal(err)
	}
	return user
}

// Client is a browser-like HTTP client: it keeps cookies and does not follow redirects, so
// tests see every 303.
type Client struct {
	t   testing.TB
	app *App
	// base is the URL that paths are relative to: the App's, or a gateway's in front of it.
	base string
	HTTP *http.Client
	// CSRF is the token from the last HTML page fetched, sent back by Post and Delete. Requests
	// of one client may run in parallel: they write and read it under mu; a test reads it
	// directly only between them.
	CSRF string
	mu   sync.Mutex
}

// csrf returns the token to send back.
func (c *Client) csrf() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.CSRF
}

// Client returns a new client with an empty cookie jar.
func (a *App) Client(t testing.TB) *Client {
	return a.ClientVia(t, a.URL)
}

// ClientVia returns a new client, with an empty cookie jar, that sends its requests to base,
// a gateway in front of the App, rather than to the App itself.
func (a *App) ClientVia(t testing.TB, base string) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{t: t, app: a, base: base, HTTP: &http.Client{
		Jar:           jar,
		Transport:     &checkedTransport{t: t, app: a, next: http.DefaultTransport},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// ClientFrom returns a new client, with an empty cookie jar, whose connections come from ip: a
// loopback address such as 127.0.0.2 (Linux routes all of 127.0.0.0/8 to the loopback
// interface). The server sees each as a client of its own, as it would clients on other
// machines, without being told to believe X-Forwarded-For.
func (a *App) ClientFrom(t testing.TB, ip string) *Client {
	t.Helper()
	local := net.ParseIP(ip)
	if local == nil || !local.IsLoopback() {
		t.Fatalf("ClientFrom(%q): want a loopback address", ip)
	}
	c := a.Client(t)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: local}, Timeout: 5 * time.Second}
	transport := &http.Transport{DialContext: dialer.DialContext}
	t.Cleanup(transport.CloseIdleConnections)
	c.HTTP.Transport.(*checkedTransport).next = transport
	return c
}

// Response is a finished response with its body read.
type Response struct {
	*http.Response
	Body string
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)

// Do sends a request with the given headers and remembers the CSRF token of an HTML answer.
func (c *Client) Do(method, path string, body io.Reader, headers map[string]string) *Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if m := csrfField.FindStringSubmatch(string(data)); m != nil {
		c.mu.Lock()
		c.CSRF = m[1]
		c.mu.Unlock()
	}
	return &Response{Response: res, Body: string(data)}
}

// Get fetches a page.
func (c *Client) Get(path string) *Response { return c.Do(http.MethodGet, path, nil, nil) }

// Post submits a form with the client's CSRF token added (unless form sets _csrf itself). The
// caller's form is left as it was, so several clients may post the same one at once.
func (c *Client) Post(path string, form url.Values) *Response {
	c.t.Helper()
	form = maps.Clone(form)
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["_csrf"]; !ok {
		form.Set("_csrf", c.csrf())
	}
	return c.Do(http.MethodPost, path, strings.NewReader(form.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
}

// HTMX sends a request as htmx would: HX-Request, HX-Target and the CSRF header.
func (c *Client) HTMX(method, path, target string, form url.Values) *Response {
	c.t.Helper()
	headers := map[string]string{"HX-Request": "true", "X-CSRF-Token": c.csrf()}
	if target != "" {
		headers["HX-Target"] = target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
		headers["Content-Type"] = "application/x-www-form-urlencoded"
	}
	return c.Do(method, path, body, headers)
}

// Login signs the client in as email with DefaultPassword and fails the test otherwise. A
// client signed in already is sent on by /login, and takes the CSRF token, which is bound to
// its session, from the page it is sent to.
func (c *Client) Login(email string) {
	c.t.Helper()
	if res := c.Get("/login"); res.StatusCode == http.StatusSeeOther {
		c.Get(res.Header.Get("Location"))
	}
	res := c.Post("/login", url.Values{"email": {email}, "password": {DefaultPassword}})
	if res.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("login as %s: status %d, want 303; body: %s", email, res.StatusCode, res.Body)
	}
}

// Cookie returns the value of the named cookie the client holds for the app, or "".
func (c *Client) Cookie(name string) string {
	u, _ := url.Parse(c.base)
	for _, cookie := range c.HTTP.Jar.Cookies(u) {
		if cookie.Name == name {
			return cookie.Value
		}
	}
	return ""
}
