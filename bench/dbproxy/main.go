// Command dbproxy puts the fault proxy of the store tests (modelstest.Proxy) between a running
// keysmith and PostgreSQL, so bench/outage.sh can take the database away under load. It prints
// the proxy's address (127.0.0.1:port) on standard output, then reads commands from standard
// input, one a line:
//
//	forward  pass connections through (the start)
//	refuse   refuse new connections and close the existing ones, as a stopped database does
//	hang     forward nothing, close nothing: a database or network that stops answering
//	drop     close the existing connections, keep the mode
//
// Each command is answered on standard output once it is in effect, "ok MODE", or with
// "error: …", so a script can wait for the answer. dbproxy stops at the end of its input or on
// SIGINT/SIGTERM. The target must be a loopback address.
//
//	dbproxy [-target 127.0.0.1:5432]
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"keysmith/models/modelstest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "dbproxy:", err)
		os.Exit(1)
	}
}

// run is the whole command with its dependencies passed in.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) (err error) {
	flags := flag.NewFlagSet("dbproxy", flag.ContinueOnError)
	flags.SetOutput(stderr)
	target := flags.String("target", "127.0.0.1:5432", "host:port of PostgreSQL, on loopback")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", flags.Args())
	}
	proxy, err := modelstest.StartProxy(*target)
	if err != nil {
		return err
	}
	proxy.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, "dbproxy: "+format+"\n", args...) }
	defer func() {
		if closeErr := proxy.Close(); err == nil {
			err = closeErr
		}
	}()
	if _, err := fmt.Fprintln(stdout, proxy.Addr()); err != nil {
		return err
	}

	lines := make(chan string)
	go func() {
		// Never closed on a cancelled ctx: the read blocks until the process exits.
		defer close(lines)
		scanner := bufio.NewScanner(stdin)
		for scanner.Scan() {
			lines <- scanner.Text()
		}
	}()
	for {
		var line string
		select {
		case <-ctx.Done():
			return nil
		case read, ok := <-lines:
			if !ok {
				return nil
			}
			line = strings.TrimSpace(read)
		}
		if line == "" {
			continue
		}
		answer := "ok " + line
		switch line {
		case "forward":
			proxy.Forward()
		case "refuse":
			proxy.Refuse()
		case "hang":
			proxy.Hang()
		case "drop":
			proxy.Drop()
		default:
			answer = fmt.Sprintf("error: unknown command %q (want forward, refuse, hang or drop)", line)
		}
		if _, err := fmt.Fprintln(stdout, answer); err != nil {
			return err
		}
	}
}
