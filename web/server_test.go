package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"keysmith/logging"
	"keysmith/models/modelstest"
)

// A handler that panics is answered 500 with the request id, logged by the access log and
// counted in the metrics like any other request.
func TestPanicIsAnsweredLoggedAndCounted(t *testing.T) {
	store := modelstest.Open(t, modelstest.Targets(t)[0])
	srv := keyServer(t, store)
	var logs strings.Builder
	srv.log = logging.New(&logs, "text", nil)
	srv.Echo.GET("/api/v1/boom", func(echo.Context) error { panic("boom") })
	rec := httptest.NewRecorder()
	srv.Echo.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/boom", nil))
	requestID := rec.Header().Get(echo.HeaderXRequestID)
	if rec.Code != http.StatusInternalServerError || requestID == "" || !strings.Contains(rec.Body.String(), requestID) {
		t.Fatalf("panic: status %d, body %q, want 500 with the request id %q", rec.Code, rec.Body.String(), requestID)
	}
	if line := "msg=request request_id=" + requestID; !strings.Contains(logs.String(), line) || !strings.Contains(logs.String(), "status=500") {
		t.Errorf("log %q, want the access log line %q with status=500", logs.String(), line)
	}
	scrape := httptest.NewRecorder()
	srv.Metrics.Handler().ServeHTTP(scrape, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if want := `keysmith_http_requests_total{method="GET",route="/api/v1/boom",status="500"} 1`; !strings.Contains(scrape.Body.String(), want) {
		t.Errorf("metrics lack %q", want)
	}
}
