package cli

import (
	"bytes"
	"strings"
	"testing"

	"keysmith/app/apptest"
)

// The version command works in-process too, the same for its three spellings, and refuses
// arguments.
func TestVersionCommand(t *testing.T) {
	var outputs []string
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		var out, errs bytes.Buffer
		if err := Run(t.Context(), args, getenv(nil), nil, &out, &errs); err != nil {
			t.Fatalf("keysmith %s: %v", args[0], err)
		}
		outputs = append(outputs, out.String())
		if fields := apptest.VersionFields(out.String()); fields["keysmith"] == "" || fields["go"] == "" || fields["revision"] == "" {
			t.Errorf("keysmith %s: got %q, want keysmith, revision and go lines", args[0], out.String())
		}
	}
	if outputs[0] != outputs[1] || outputs[1] != outputs[2] {
		t.Errorf("version, --version and -version differ: %q", outputs)
	}
	var out, errs bytes.Buffer
	err := Run(t.Context(), []string{"version", "extra"}, getenv(nil), nil, &out, &errs)
	if err == nil || !strings.Contains(err.Error(), "unexpected arguments") {
		t.Errorf("keysmith version extra: got %v, want an error naming the unexpected arguments", err)
	}
}
