package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"keysmith/app/apptest"
	"keysmith/models"
	"keysmith/models/modelstest"
)

// pythonWithRequests finds a python3 that has the requests library, or skips the test. CI
// installs Debian's python3-requests when no python3 has it.
func pythonWithRequests(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		if exec.Command(path, "-c", "import requests").Run() == nil {
			return path
		}
	}
	t.Skip("no python3 with the requests library (apt-get install python3-requests): skipping the API guide's Python example")
	return ""
}

// apiGuide is the page that says how to call the API with a key.
const apiGuide = "docs/api.md"

// The API guide's Python example runs as it is against a running Keysmith: the script lists
// and creates an item with a Manage documentation key, and the scanner checks in and sends its
// inventory with a Scanner key.
func TestAPIGuidePythonExampleRuns(t *testing.T) {
	python := pythonWithRequests(t)
	guide, err := os.ReadFile(filepath.Join("..", apiGuide))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(guide), "```python\n"); n != 1 {
		t.Fatalf("%s: %d ```python blocks, want one", apiGuide, n)
	}
	_, example, _ := strings.Cut(string(guide), "```python\n")
	example, _, _ = strings.Cut(example, "```")

	modelstest.Each(t, func(t *testing.T, store *models.Store, _ modelstest.Target) {
		app := apptest.NewOnStore(t, store)
		ctx := context.Background()
		_, scriptSecret, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "nightly export", Scope: models.ScopeManageDocumentation})
		if err != nil {
			t.Fatal(err)
		}
		scannerKey, scannerSecret, err := store.CreateAPIKey(ctx, models.NewAPIKey{Name: "pg scanner", Scope: models.ScopeScanner})
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(python, "-c", example)
		cmd.Env = append(os.Environ(), "KEYSMITH_URL="+app.URL, "KEYSMITH_SECRET="+scriptSecret, "KEYSMITH_SCANNER_SECRET="+scannerSecret)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the API guide's Python example: %v\n%s", err, out)
		}
		for _, want := range []string{"0 items match", "created item ", "inventory: 1 created, 0 updated"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("the API guide's Python example printed %q, want it to say %q", out, want)
			}
		}
		items, err := store.ListItems(ctx, models.ItemQuery{Page: 1, PerPage: 10})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, item := range items.Items {
			names = append(names, item.Name+" by "+item.ChangedByKeyName)
		}
		if got, want := strings.Join(names, ", "), "customers by pg scanner, orders by nightly export"; got != want {
			t.Errorf("items after the example: got %q, want %q", got, want)
		}
		name, err := store.ScannerNameForKey(ctx, scannerKey.ID)
		if err != nil || name != "pg-scanner" {
			t.Errorf("the scanner of the Scanner key: got %q (%v), want pg-scanner", name, err)
		}
	})
}
