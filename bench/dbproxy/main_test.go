package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startEcho starts a TCP server on 127.0.0.1 that writes back whatever it reads, and stops it
// when the test ends.
func startEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				io.Copy(conn, conn)
			}()
		}
	}()
	return ln.Addr().String()
}

// echoes reports whether msg comes back through a new connection to addr within a second.
func echoes(addr, msg string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(conn, msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil {
		return err
	}
	if string(got) != msg {
		return errors.New("got " + string(got) + ", want " + msg)
	}
	return nil
}

// TestRun drives dbproxy as bench/outage.sh does: it reads the address, sends commands and
// waits for each answer, then ends the input and checks the proxy is gone.
func TestRun(t *testing.T) {
	target := startEcho(t)
	stdin, commands := io.Pipe()
	answers, stdout := io.Pipe()
	var stderr strings.Builder
	done := make(chan error, 1)
	go func() {
		done <- run(context.Background(), []string{"-target", target}, stdin, stdout, &stderr)
		stdout.Close()
	}()
	lines := bufio.NewReader(answers)
	readLine := func() string {
		t.Helper()
		line, err := lines.ReadString('\n')
		if err != nil {
			t.Fatalf("read dbproxy's output: got error %v, want a line (stderr %q)", err, stderr.String())
		}
		return strings.TrimSuffix(line, "\n")
	}
	send := func(command string) string {
		t.Helper()
		if _, err := io.WriteString(commands, command+"\n"); err != nil {
			t.Fatalf("write %q: %v", command, err)
		}
		return readLine()
	}

	addr := readLine()
	if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
		t.Fatalf("first line: got %q, want 127.0.0.1:port", addr)
	}
	if err := echoes(addr, "before"); err != nil {
		t.Fatalf("echo before any command: got %v, want none", err)
	}

	tests := []struct {
		command, answer string
		// refused: a new connection is refused; otherwise echoes tells whether it echoes.
		refused, echoes bool
	}{
		{command: "refuse", answer: "ok refuse", refused: true},
		{command: "forward", answer: "ok forward", echoes: true},
		{command: "drop", answer: "ok drop", echoes: true},
		{command: "hang", answer: "ok hang", echoes: false},
		{command: "  forward ", answer: "ok forward", echoes: true},
		{command: "explode", answer: `error: unknown command "explode" (want forward, refuse, hang or drop)`, echoes: true},
	}
	for _, tt := range tests {
		if got := send(tt.command); got != tt.answer {
			t.Fatalf("%q: got answer %q, want %q", tt.command, got, tt.answer)
		}
		err := echoes(addr, tt.command)
		switch {
		case tt.refused:
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("after %q: got %v, want connection refused", tt.command, err)
			}
		case tt.echoes:
			if err != nil {
				t.Fatalf("after %q: got %v, want an echo", tt.command, err)
			}
		default:
			if err == nil {
				t.Fatalf("after %q: got an echo, want none", tt.command)
			}
		}
	}

	commands.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after the end of input: got %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("run: still running 10s after the end of its input, want it stopped")
	}
	if err := echoes(addr, "after"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("after dbproxy stopped: got %v, want connection refused", err)
	}
}

func TestRunRejectsRemoteTarget(t *testing.T) {
	var stdout, stderr strings.Builder
	err := run(context.Background(), []string{"-target", "10.0.0.1:5432"}, strings.NewReader(""), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("run -target 10.0.0.1:5432: got error %v, want one saying it is not a loopback address", err)
	}
	if stdout.Len() != 0 {
		t.Fatalf("stdout: got %q, want nothing", stdout.String())
	}
}
