// Command keysmith serves the Administration › API Keys console and the catalog API that the
// keys open, and administers them from a script: `keysmith [serve]`, `keysmith migrate`,
// `keysmith users …`, `keysmith keys …`, `keysmith audit verify` and `keysmith version`.
// The commands are package cli; `keysmith help` lists them.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"keysmith/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cli.Run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "keysmith:", err)
		}
		os.Exit(1)
	}
}
