package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// envRunMain makes the test binary run Keysmith's main instead of the tests, so the stop tests
// can send a real SIGTERM to a real process and read its exit code.
const envRunMain = "KEYSMITH_TEST_RUN_MAIN"

// TestMain runs the tests, or, with KEYSMITH_TEST_RUN_MAIN=1, Keysmith itself: main exits 1
// when run fails, and the process exits 0 when it returns. Either way password hashes are
// cheap, as in every test binary.
func TestMain(m *testing.M) {
	modelstest.UseFastPasswords()
	if os.Getenv(envRunMain) == "1" {
		main() // exits 1 itself when run fails
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Settings of the Keysmith processes the stop tests start: short, so that each test stays
// well under 30 s, and the stop's bound is the shutdown timeout plus stopMargin.
const (
	stopShutdownTimeout = 3 * time.Second
	stopMargin          = time.Second
	// startWait bounds how long a started process may take to answer /healthz.
	startWait = 10 * time.Second
)

// keysmithProcess is Keysmith running as a child process of the test.
type keysmithProcess struct {
	cmd    *exec.Cmd
	addr   string
	stderr *apptest.Buffer
	// exited is closed once the process has exited and its output is read.
	exited   chan struct{}
	exitedAt time.Time
}

// startKeysmith runs Keysmith serve in a child process with the given KEYSMITH_ settings (none
// inherited from the test's environment), on a free loopback port, with JSON logs, and waits
// until it answers /healthz. The process is killed when the test ends if it is still running.
func startKeysmith(t *testing.T, settings map[string]string) *keysmithProcess {
	t.Helper()
	executable, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return startExecutable(t, executable, settings)
}

// startExecutable runs executable, this test binary (which then runs Keysmith's main) or a
// keysmith binary, as startKeysmith describes.
func startExecutable(t *testing.T, executable string, settings map[string]string) *keysmithProcess {
	t.Helper()
	addr := apptest.FreeAddr(t)
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYSMITH_") && !strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	// Under -race the runtime sleeps a second before exiting, unless told not to; that second
	// is not Keysmith's.
	env = append(env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	env = append(env, envRunMain+"=1", "KEYSMITH_ADDR="+addr, "KEYSMITH_LOG_FORMAT=json")
	for name, value := range settings {
		env = append(env, name+"="+value)
	}
	p := &keysmithProcess{addr: addr, stderr: &apptest.Buffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(executable)
	p.cmd.Env = env
	p.cmd.Stderr = p.stderr // the setup link on stdout is not read
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start keysmith: %v", err)
	}
	go func() {
		p.cmd.Wait()
		p.exitedAt = time.Now()
		close(p.exited)
	}()
	// Cleanups run last first: the process is killed, then its log is shown if the test failed.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("keysmith's log, without the access log:\n%s", p.log())
		}
	})
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	client := &http.Client{Timeout: time.Second}
	for start := time.Now(); time.Since(start) < startWait; time.Sleep(50 * time.Millisecond) {
		select {
		case <-p.exited:
			t.Fatalf("keysmith exited with code %d before answering /healthz", p.cmd.ProcessState.ExitCode())
		default:
		}
		res, err := client.Get(p.url("/healthz"))
		if err != nil {
			continue
		}
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			return p
		}
	}
	t.Fatalf("keysmith did not answer /healthz within %v", startWait)
	return nil
}

func (p *keysmithProcess) url(path string) string { return "http://" + p.addr + path }

// sigterm sends SIGTERM and returns when it was sent.
func (p *keysmithProcess) sigterm(t *testing.T) time.Time {
	t.Helper()
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("send SIGTERM: %v", err)
	}
	return sent
}

// waitExit waits for the process to exit, at most limit after since, and returns its exit code
// and how long after since it exited. If the process outlives limit, it kills it and fails the
// test at once.
func (p *keysmithProcess) waitExit(t *testing.T, since time.Time, limit time.Duration) (code int, took time.Duration) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(time.Until(since.Add(limit))):
		p.cmd.Process.Kill()
		<-p.exited
		t.Fatalf("stop: got keysmith still running %v after SIGTERM, want it exited by then", limit)
	}
	return p.cmd.ProcessState.ExitCode(), p.exitedAt.Sub(since)
}

// log returns the process's log without the access log lines, for failure messages.
func (p *keysmithProcess) log() string {
	var b strings.Builder
	for _, line := range strings.Split(p.stderr.String(), "\n") {
		var record struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(line), &record) == nil && record.Msg == "request" {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// logRecords returns the JSON log lines whose msg is message, each decoded into a map.
func (p *keysmithProcess) logRecords(t *testing.T, message string) []map[string]any {
	t.Helper()
	var records []map[string]any
	scanner := bufio.NewScanner(strings.NewReader(p.stderr.String()))
	scanner.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for scanner.Scan() {
		var record map[string]any
		if err := json.Unmarshal(scanner.Bytes(), &record); err != nil {
			continue // "keysmith: <error>" from main is not JSON
		}
		if record["msg"] == message {
			records = append(records, record)
		}
	}
	if err := scanner.Err(); err != nil {
		t.Fatalf("read keysmith's log: %v", err)
	}
	return records
}

// verifyRequest asks Keysmith whether secret is valid, as a gateway does, with userAgent as the
// client name Keysmith records for the use.
func verifyRequest(addr, secret, userAgent string) *http.Request {
	return &http.Request{
		Method: http.MethodGet,
		URL:    &url.URL{Scheme: "http", Host: addr, Path: "/api/v1/auth/verify"},
		Header: http.Header{"X-Api-Secret": {secret}, "User-Agent": {userAgent}},
	}
}

// newConnectionClient opens a new connection for every request, so each one shows whether
// Keysmith still accepts connections.
func newConnectionClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
}

// TestSIGTERMDrainsThenStops checks the stop a load balancer needs: on SIGTERM /readyz fails at
// once while new connections, /healthz and keys are still served for the drain delay; then the
// process exits 0 within the shutdown timeout, having written the use of a key made during the
// drain.
func TestSIGTERMDrainsThenStops(t *testing.T) {
	const drainDelay = time.Second
	const drainClient = "drain-check/1.0"
	dbPath := filepath.Join(t.TempDir(), "keysmith.db")
	store, err := models.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	key, secret, err := store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "drain", Scope: models.ScopeReadOnly})
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	p := startKeysmith(t, map[string]string{
		"KEYSMITH_DATABASE_URL":      dbPath,
		"KEYSMITH_DRAIN_DELAY":       drainDelay.String(),
		"KEYSMITH_SHUTDOWN_TIMEOUT":  stopShutdownTimeout.String(),
		"KEYSMITH_DB_TIMEOUT":        "1s",
		"KEYSMITH_VERIFY_DB_TIMEOUT": "300ms",
	})
	client := newConnectionClient()
	get := func(req *http.Request) (int, error) {
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		res.Body.Close()
		return res.StatusCode, nil
	}
	readyz, err := http.NewRequest(http.MethodGet, p.url("/readyz"), nil)
	if err != nil {
		t.Fatal(err)
	}
	healthz, err := http.NewRequest(http.MethodGet, p.url("/healthz"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if status, err := get(readyz); err != nil || status != http.StatusOK {
		t.Fatalf("/readyz before SIGTERM: got %d, %v, want %d", status, err, http.StatusOK)
	}

	sent := p.sigterm(t)
	// /readyz fails at once: within a few milliseconds of the signal, given the time its delivery
	// takes, and long before the drain delay ends.
	var readyzStatus int
	for time.Since(sent) < drainDelay/4 {
		if readyzStatus, err = get(readyz); err != nil || readyzStatus == http.StatusServiceUnavailable {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if readyzStatus != http.StatusServiceUnavailable {
		t.Fatalf("/readyz within %v of SIGTERM: got %d, %v, want %d", drainDelay/4, readyzStatus, err, http.StatusServiceUnavailable)
	}
	// Meanwhile the server keeps serving, on new connections, until the drain delay ends.
	if status, err := get(healthz); err != nil || status != http.StatusOK {
		t.Errorf("/healthz during the drain: got %d, %v, want %d", status, err, http.StatusOK)
	}
	if status, err := get(verifyRequest(p.addr, secret, drainClient)); err != nil || status != http.StatusOK {
		t.Errorf("/api/v1/auth/verify during the drain: got %d, %v, want %d", status, err, http.StatusOK)
	}
	if status, err := get(readyz); err != nil || status != http.StatusServiceUnavailable {
		t.Errorf("/readyz later in the drain: got %d, %v, want %d", status, err, http.StatusServiceUnavailable)
	}
	if elapsed := time.Since(sent); elapsed >= drainDelay {
		t.Fatalf("the requests during the drain took until %v after SIGTERM, past the drain delay of %v: the test proves nothing", elapsed, drainDelay)
	}

	code, took := p.waitExit(t, sent, stopShutdownTimeout+stopMargin)
	if code != 0 {
		t.Errorf("exit code: got %d, want 0", code)
	}
	if took < drainDelay {
		t.Errorf("stopped %v after SIGTERM, want no sooner than the drain delay of %v", took, drainDelay)
	}
	t.Logf("stopped %v after SIGTERM", took.Round(time.Millisecond))
	if lost := p.logRecords(t, "last uses not written"); len(lost) != 0 {
		t.Errorf("got %d lines %q, want none: the database was up; %v", len(lost), "last uses not written", lost)
	}

	store, err = models.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	got, err := store.APIKeyByPublicID(context.Background(), key.PublicID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastUsedAt == nil || got.LastUsedAt.Before(sent.Truncate(time.Second)) {
		t.Errorf("last use after the stop: got %v, want the use during the drain, at or after %v", got.LastUsedAt, sent.UTC().Truncate(time.Second))
	}
	if got.LastUsedClient != drainClient {
		t.Errorf("last used client after the stop: got %q, want %q", got.LastUsedClient, drainClient)
	}
}

// TestSIGTERMAnswersRequestOnConnectionOpenedBeforeStop sends a request on a connection that
// Keysmith accepted before SIGTERM, once the listener is closed. With the default drain delay of
// 0 that is every request on its way when the signal comes: it has reached Keysmith, and must be
// answered. (net/http's Server.Shutdown reads such a request and closes the connection without
// a word, so the stop must not call Shutdown while accepted connections wait for their first
// request.)
func TestSIGTERMAnswersRequestOnConnectionOpenedBeforeStop(t *testing.T) {
	p := startKeysmith(t, map[string]string{
		"KEYSMITH_DATABASE_URL":     filepath.Join(t.TempDir(), "keysmith.db"),
		"KEYSMITH_SHUTDOWN_TIMEOUT": stopShutdownTimeout.String(),
	})
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Give the server time to accept the connection, as it does at once when idle.
	time.Sleep(100 * time.Millisecond)

	sent := p.sigterm(t)
	// Once new connections are refused, the stop has closed the listener.
	for {
		probe, err := net.DialTimeout("tcp", p.addr, time.Second)
		if err != nil {
			break
		}
		probe.Close()
		if time.Since(sent) > stopShutdownTimeout/2 {
			t.Fatalf("still accepting connections %v after SIGTERM with no drain delay", time.Since(sent))
		}
		time.Sleep(5 * time.Millisecond)
	}
	conn.SetDeadline(time.Now().Add(stopShutdownTimeout + stopMargin))
	_, err = fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", p.addr)
	wrote := time.Since(sent).Round(time.Millisecond)
	if err != nil {
		t.Fatalf("write the request %v after SIGTERM: %v", wrote, err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Errorf("answer to a request sent %v after SIGTERM on a connection opened before it: got %v, want %d, or %d with Retry-After",
			wrote, err, http.StatusOK, http.StatusServiceUnavailable)
	} else {
		res.Body.Close()
		if res.StatusCode != http.StatusOK && (res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "") {
			t.Errorf("answer to a request on a connection opened before SIGTERM: got %d with Retry-After %q, want %d, or %d with Retry-After",
				res.StatusCode, res.Header.Get("Retry-After"), http.StatusOK, http.StatusServiceUnavailable)
		}
	}
	if code, took := p.waitExit(t, sent, stopShutdownTimeout+stopMargin); code != 0 {
		t.Errorf("exit code: got %d, want 0 (stopped %v after SIGTERM)", code, took)
	}
}

// TestSIGTERMWithDatabaseDown stops Keysmith under load while PostgreSQL refuses connections.
func TestSIGTERMWithDatabaseDown(t *testing.T) {
	testStopUnderLoad(t, "refused", (*modelstest.Proxy).Refuse)
}

// TestSIGTERMWithDatabaseHung stops Keysmith under load while PostgreSQL answers nothing: the
// stop must still end within the shutdown timeout.
func TestSIGTERMWithDatabaseHung(t *testing.T) {
	testStopUnderLoad(t, "hung", (*modelstest.Proxy).Hang)
}

// The load balancer that the stop tests put in front of Keysmith: it checks /readyz every
// healthCheckInterval and takes the instance out of rotation after unhealthyThreshold checks
// in a row answer that it is stopping. The drain delay gives it the time to.
const (
	loadWorkers         = 8
	healthCheckInterval = 25 * time.Millisecond
	unhealthyThreshold  = 3
	loadDrainDelay      = time.Second
	// loadLimit bounds the load however the test goes.
	loadLimit = 15 * time.Second
)

// balancedLoad sends verify requests to Keysmith from loadWorkers clients, each with a
// User-Agent of its own, while a load balancer keeps the instance in rotation, and checks
// every answer.
type balancedLoad struct {
	addr, secret string
	// sigtermAt is when SIGTERM is sent, in Unix nanoseconds, set just before; 0 until then.
	sigtermAt  atomic.Int64
	inRotation atomic.Bool
	wg         sync.WaitGroup

	ok, stale, unavailable, answeredAfterSIGTERM atomic.Int64

	mu       sync.Mutex
	failures []string
}

// startBalancedLoad starts the workers and the health checks; they stop once the instance is
// out of rotation or ctx ends.
func startBalancedLoad(ctx context.Context, addr, secret string) *balancedLoad {
	l := &balancedLoad{addr: addr, secret: secret}
	l.inRotation.Store(true)
	for worker := range loadWorkers {
		l.wg.Go(func() {
			client := newConnectionClient()
			userAgent := fmt.Sprintf("load-%d/1.0", worker)
			for ctx.Err() == nil && l.inRotation.Load() {
				started := time.Now()
				res, err := client.Do(verifyRequest(addr, secret, userAgent))
				l.record(started, res, err)
				if err == nil {
					res.Body.Close()
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	l.wg.Go(func() { l.checkHealth(ctx) })
	return l
}

// checkHealth is the load balancer's health check. An answer that the database is unreachable
// keeps the instance in rotation: every instance says so during an outage, and load balancers
// then fail open. An answer that it is stopping takes it out.
func (l *balancedLoad) checkHealth(ctx context.Context) {
	client := newConnectionClient()
	stopping := 0
	for ctx.Err() == nil {
		started := time.Now()
		res, err := client.Get("http://" + l.addr + "/readyz")
		if err != nil {
			l.fail("/readyz sent %s: got %v, want an HTTP answer", l.when(started), err)
		} else {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusServiceUnavailable && strings.TrimSpace(string(body)) == "stopping" {
				stopping++
			} else {
				stopping = 0
			}
			if stopping >= unhealthyThreshold {
				l.inRotation.Store(false)
				return
			}
		}
		time.Sleep(healthCheckInterval)
	}
}

// when tells when a request started, for failure messages: before SIGTERM, or how long after.
func (l *balancedLoad) when(started time.Time) string {
	sent := l.sigtermAt.Load()
	if sent == 0 || started.UnixNano() < sent {
		return "before SIGTERM"
	}
	return fmt.Sprintf("%v after SIGTERM", started.Sub(time.Unix(0, sent)).Round(time.Millisecond))
}

func (l *balancedLoad) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) < 20 {
		l.failures = append(l.failures, fmt.Sprintf(format, args...))
	}
}

// record checks one verify request's outcome: an HTTP answer, and once the database is down
// either 200 from memory (stale) or 503 with Retry-After.
func (l *balancedLoad) record(started time.Time, res *http.Response, err error) {
	sent := l.sigtermAt.Load()
	afterSIGTERM := sent != 0 && started.UnixNano() >= sent
	switch {
	case err != nil:
		l.fail("verify sent %s: got %v, want an HTTP answer", l.when(started), err)
		return
	case res.StatusCode == http.StatusOK:
		l.ok.Add(1)
		stale := res.Header.Get("X-Keysmith-Stale") == "true"
		if stale {
			l.stale.Add(1)
		} else if afterSIGTERM {
			l.fail("verify sent %s: got 200 without X-Keysmith-Stale, want it stale: the database is down", l.when(started))
		}
	case res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != "":
		l.unavailable.Add(1)
	default:
		l.fail("verify sent %s: got %d with Retry-After %q, want 200, or 503 with Retry-After",
			l.when(started), res.StatusCode, res.Header.Get("Retry-After"))
		return
	}
	if afterSIGTERM {
		l.answeredAfterSIGTERM.Add(1)
	}
}

// testStopUnderLoad starts Keysmith on PostgreSQL through a proxy, behind a load balancer that
// sends it verify requests from several clients, injects the fault once uses are gathered and
// sends SIGTERM while the load goes on. It checks every answer, the exit code, the time the stop
// took and the one log line that counts the uses given up.
func testStopUnderLoad(t *testing.T, faultName string, fault func(*modelstest.Proxy)) {
	target := modelstest.Postgres(t, "the stop with the database "+faultName)
	store := modelstest.Open(t, target)
	key, secret, err := store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "load", Scope: models.ScopeReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	databaseURL, err := url.Parse(target.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := modelstest.NewProxy(t, databaseURL.Host)
	p := startKeysmith(t, map[string]string{
		"KEYSMITH_DATABASE_URL":      proxy.URL(target.URL),
		"KEYSMITH_SHUTDOWN_TIMEOUT":  stopShutdownTimeout.String(),
		"KEYSMITH_DRAIN_DELAY":       loadDrainDelay.String(),
		"KEYSMITH_DB_TIMEOUT":        "1s",
		"KEYSMITH_VERIFY_DB_TIMEOUT": "300ms",
		"KEYSMITH_STALE_KEYS_FOR":    "1m",
	})

	loadCtx, stopLoad := context.WithTimeout(context.Background(), loadLimit)
	load := startBalancedLoad(loadCtx, p.addr, secret)
	t.Cleanup(func() {
		stopLoad()
		load.wg.Wait()
	})
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for start := time.Now(); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Since(start) > 5*time.Second {
				t.Fatalf("%s: not within 5s", what)
			}
		}
	}
	time.Sleep(500 * time.Millisecond)
	waitFor("load answered from the database", func() bool { return load.ok.Load() >= 50 })
	fault(proxy)
	// Answers from memory prove that the database is out of reach, and that uses are being
	// gathered with no way to be written.
	waitFor("load answered stale with the database "+faultName, func() bool { return load.stale.Load() >= 10 })
	load.sigtermAt.Store(time.Now().UnixNano())
	sent := p.sigterm(t)

	code, took := p.waitExit(t, sent, stopShutdownTimeout+stopMargin)
	stopLoad()
	load.wg.Wait()
	t.Logf("stopped %v after SIGTERM; answers: %d ok (%d stale), %d 503; %d answered after SIGTERM",
		took.Round(time.Millisecond), load.ok.Load(), load.stale.Load(), load.unavailable.Load(), load.answeredAfterSIGTERM.Load())
	if code != 0 {
		t.Errorf("exit code: got %d, want 0", code)
	}
	for _, failure := range load.failures {
		t.Error(failure)
	}
	if load.inRotation.Load() {
		t.Errorf("the load balancer never saw /readyz answer that the instance is stopping")
	}
	if load.answeredAfterSIGTERM.Load() == 0 {
		t.Errorf("no verify request sent after SIGTERM was answered, want the load to go on into the drain")
	}
	lost := p.logRecords(t, "last uses not written")
	if len(lost) != 1 {
		t.Fatalf("got %d lines %q, want 1", len(lost), "last uses not written")
	}
	record := lost[0]
	if level := record["level"]; level != "WARN" && level != "ERROR" {
		t.Errorf("level of %q: got %v, want WARN or ERROR", "last uses not written", level)
	}
	// One key was used, by one client per worker, all from 127.0.0.1.
	uses, _ := record["uses"].(float64)
	keys, _ := record["keys"].(float64)
	if uses < 1 || uses > loadWorkers {
		t.Errorf("uses in %q: got %v, want 1 to %d", "last uses not written", record["uses"], loadWorkers)
	}
	if keys != 1 {
		t.Errorf("keys in %q: got %v, want 1 (key %s)", "last uses not written", record["keys"], key.PublicID)
	}
	// Every request answered from memory since the fault was counted, and none of them could
	// be written: the stop says so too.
	uncounted := p.logRecords(t, "daily request counts not written")
	if len(uncounted) != 1 {
		t.Fatalf("got %d lines %q, want 1", len(uncounted), "daily request counts not written")
	}
	requests, _ := uncounted[0]["requests"].(float64)
	if int64(requests) < load.stale.Load() || int64(requests) > load.ok.Load() || uncounted[0]["keys"] != 1.0 {
		t.Errorf("%q: got %v requests of %v keys, want from %d (the answers from memory) to %d (every 200) of 1",
			"daily request counts not written", uncounted[0]["requests"], uncounted[0]["keys"], load.stale.Load(), load.ok.Load())
	}
}

// TestSIGTERMWithWebhookReceiverHung stops Keysmith while it waits for a webhook receiver that
// never answers, with an attempt deadline far past the shutdown timeout: the stop cuts the
// attempt short and still ends within the shutdown timeout, and the event stays in the outbox,
// to be sent again.
func TestSIGTERMWithWebhookReceiverHung(t *testing.T) {
	received := make(chan struct{}, 1)
	release := make(chan struct{})
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case received <- struct{}{}:
		default:
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer receiver.Close()
	defer close(release)

	dbPath := filepath.Join(t.TempDir(), "keysmith.db")
	store, err := models.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	store.EnableWebhookEvents()
	key, _, err := store.CreateAPIKey(context.Background(), models.NewAPIKey{Name: "announced", Scope: models.ScopeReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.DeleteAPIKey(context.Background(), key.PublicID); err != nil {
		t.Fatal(err)
	}
	p := startKeysmith(t, map[string]string{
		"KEYSMITH_DATABASE_URL":     dbPath,
		"KEYSMITH_SHUTDOWN_TIMEOUT": stopShutdownTimeout.String(),
		"KEYSMITH_WEBHOOK_URL":      receiver.URL,
		"KEYSMITH_WEBHOOK_SECRET":   "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 32)),
		"KEYSMITH_WEBHOOK_TIMEOUT":  "1m",
	})
	select {
	case <-received:
	case <-time.After(5 * time.Second):
		t.Fatal("the receiver got no request within 5 s of the start")
	}
	sent := p.sigterm(t)
	code, took := p.waitExit(t, sent, stopShutdownTimeout+stopMargin)
	if code != 0 {
		t.Errorf("exit code: got %d, want 0", code)
	}
	t.Logf("stopped %v after SIGTERM, an attempt under way", took.Round(time.Millisecond))
	if pending, err := store.PendingWebhookEvents(context.Background()); err != nil || pending != 1 {
		t.Errorf("events pending after the stop: got %d (%v), want 1, to be sent again", pending, err)
	}
}
