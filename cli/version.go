package cli

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
)

// printVersion writes what `keysmith version` and `keysmith --version` say: the module version
// and the version-control revision that the Go toolchain stamped into the binary, so an
// operator can tell which commit an instance runs. Each line is a name and a value:
//
//	keysmith v0.0.0-20261126112000-1051d28f3a9c
//	revision 1051d28f3a9c4e0b7d6a2c8e5f1b3d7a9c0e2f4b
//	committed 2026-11-26T11:20:00Z
//	modified false
//	go go1.26.8
//
// A binary built outside a git checkout, or with -buildvcs=false, has no revision: the line
// says so, and committed and modified are left out.
func printVersion(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("version: unexpected arguments %q", args)
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return errors.New("version: this binary carries no build information")
	}
	vcs := make(map[string]string, len(info.Settings))
	for _, s := range info.Settings {
		vcs[s.Key] = s.Value
	}
	fmt.Fprintf(stdout, "keysmith %s\n", info.Main.Version)
	if revision := vcs["vcs.revision"]; revision != "" {
		fmt.Fprintf(stdout, "revision %s\n", revision)
	} else {
		fmt.Fprintln(stdout, "revision unknown (built without version control information)")
	}
	if committed := vcs["vcs.time"]; committed != "" {
		fmt.Fprintf(stdout, "committed %s\n", committed)
	}
	if modified := vcs["vcs.modified"]; modified != "" {
		fmt.Fprintf(stdout, "modified %s\n", modified)
	}
	fmt.Fprintf(stdout, "go %s\n", info.GoVersion)
	return nil
}
