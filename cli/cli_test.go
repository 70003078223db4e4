package cli

import (
	"os"
	"slices"
	"strings"
	"testing"

	"keysmith/models/modelstest"
)

// TestMain makes password hashes cheap, as in every test binary.
func TestMain(m *testing.M) {
	modelstest.UseFastPasswords()
	os.Exit(m.Run())
}

func getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// A command's own flags, the configuration flags and the other arguments are told apart in
// whatever order they come, each flag with its value, written in any of the forms flag reads.
func TestSplitArgs(t *testing.T) {
	own := map[string]bool{"status": true, "json": false}
	for _, tc := range []struct {
		name                  string
		args                  []string
		own, configArgs, rest []string
	}{
		{"values after the flag", []string{"--status", "active", "--database-url", "k.db", "--json"},
			[]string{"--status", "active", "--json"}, []string{"--database-url", "k.db"}, nil},
		{"values after =", []string{"-status=active", "--database-url=k.db", "-json=true"},
			[]string{"-status=active", "-json=true"}, []string{"--database-url=k.db"}, nil},
		{"flags after an argument", []string{"ak_1", "--database-url", "k.db", "--json"},
			[]string{"--json"}, []string{"--database-url", "k.db"}, []string{"ak_1"}},
		{"a flag without a value takes none", []string{"--json", "ak_1"},
			[]string{"--json"}, nil, []string{"ak_1"}},
		{"a value that looks like a flag", []string{"--status", "-x", "--log-level", "--json"},
			[]string{"--status", "-x"}, []string{"--log-level", "--json"}, nil},
		{"a value missing at the end", []string{"ak_1", "--status"},
			[]string{"--status"}, nil, []string{"ak_1"}},
		{"a lone dash", []string{"-"},
			nil, nil, []string{"-"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gotOwn, gotConfig, gotRest := splitArgs(tc.args, own)
			if !slices.Equal(gotOwn, tc.own) || !slices.Equal(gotConfig, tc.configArgs) || !slices.Equal(gotRest, tc.rest) {
				t.Errorf("splitArgs(%q): got %q, %q, %q; want %q, %q, %q", tc.args, gotOwn, gotConfig, gotRest, tc.own, tc.configArgs, tc.rest)
			}
		})
	}
}

// The CLI guide shows the usage that `keysmith help` prints, word for word.
func TestGuideShowsTheUsage(t *testing.T) {
	guide, err := os.ReadFile("../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	_, commands, _ := strings.Cut(string(guide), "\n## Commands\n")
	_, block, _ := strings.Cut(commands, "```\n")
	block, _, closed := strings.Cut(block, "\n```")
	if !closed || block != usage {
		t.Errorf("docs/cli.md, Commands: got the block\n%s\nwant the usage of `keysmith help`:\n%s", block, usage)
	}
}
