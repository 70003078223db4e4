package main

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"keysmith/app/apptest"
	"keysmith/config"
)

// dockerImage is what the Dockerfile says about building and running Keysmith.
type dockerImage struct {
	// goImage is the tag of the golang image of the build stage ("1.26.8-bookworm").
	goImage string
	// buildEnv holds the build stage's ENV settings, in order ("CGO_ENABLED=0").
	buildEnv []string
	// build is the build stage's `RUN go build …` line, split into words ("go", "build", …).
	build []string
	// runEnv holds the final image's ENV settings.
	runEnv map[string]string
	// volume is the final image's VOLUME.
	volume string
}

// readDockerfile reads ./Dockerfile: its first stage builds, its last one runs. It fails the
// test on anything it cannot read as plain words, so that what it runs is what the shell of
// `docker build` would run.
func readDockerfile(t *testing.T) dockerImage {
	t.Helper()
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	image := dockerImage{runEnv: map[string]string{}}
	stage := 0
	var instruction string
	scanner := bufio.NewScanner(bytes.NewReader(data))
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if instruction == "" && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		// A backslash at the end of a line continues the instruction on the next one.
		if continued, ok := strings.CutSuffix(line, `\`); ok {
			instruction += continued + " "
			continue
		}
		instruction += line
		keyword, rest, _ := strings.Cut(instruction, " ")
		instruction = ""
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(keyword) {
		case "FROM":
			stage++
			if stage == 1 {
				from := strings.Fields(rest)[0]
				tag, ok := strings.CutPrefix(from, "golang:")
				if !ok {
					t.Fatalf("Dockerfile: the build stage is FROM %q, want a golang image", from)
				}
				image.goImage = tag
			}
		case "ENV":
			for _, setting := range shellWords(t, rest) {
				name, value, ok := strings.Cut(setting, "=")
				if !ok {
					t.Fatalf("Dockerfile: ENV %q: want NAME=value", setting)
				}
				if stage == 1 {
					image.buildEnv = append(image.buildEnv, setting)
				} else {
					image.runEnv[name] = value
				}
			}
		case "RUN":
			if stage == 1 && strings.HasPrefix(rest, "go build ") {
				if image.build != nil {
					t.Fatal("Dockerfile: more than one `RUN go build` line")
				}
				image.build = shellWords(t, rest)
			}
		case "VOLUME":
			image.volume = rest
		}
	}
	if image.build == nil {
		t.Fatal("Dockerfile: no `RUN go build …` line in the build stage")
	}
	return image
}

// shellWords splits s into words as a shell would, with single and double quotes, and fails
// the test on anything else a shell would expand or interpret.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var word strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			word.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case strings.ContainsRune("\\$`;&|<>(){}*?~#", r):
			t.Fatalf("Dockerfile: %q holds %q: keep the lines this test reads to plain words and quotes", s, r)
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("Dockerfile: %q has an unclosed quote", s)
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}

// The binary built the way the Dockerfile builds it (the same ENV and `go build` line) is
// static, names its commit in `keysmith version`, and serves /readyz with the image's
// settings and its database on the volume. No container runtime is needed.
func TestDockerfileBuildServesReadyz(t *testing.T) {
	image := readDockerfile(t)

	goMod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	var goVersion string
	for _, line := range strings.Split(string(goMod), "\n") {
		if v, ok := strings.CutPrefix(line, "go "); ok {
			goVersion = strings.TrimSpace(v)
		}
	}
	if want := goVersion + "-"; goVersion == "" || !strings.HasPrefix(image.goImage, want) {
		t.Errorf("Dockerfile: build stage FROM golang:%s, want golang:%s… (go.mod's go %s)", image.goImage, want, goVersion)
	}
	if !slices.Contains(image.buildEnv, "CGO_ENABLED=0") {
		t.Errorf("Dockerfile: build stage ENV %q, want CGO_ENABLED=0 for a static binary", image.buildEnv)
	}

	// The image's settings, its listen address on every interface included, are accepted.
	if _, _, err := config.Load("keysmith serve", nil, func(name string) string { return image.runEnv[name] }, io.Discard); err != nil {
		t.Errorf("Dockerfile: the image's ENV is refused: %v", err)
	}

	// Build as the Dockerfile does, with its -o pointed into a temporary folder. GOFLAGS and
	// CGO_ENABLED from this environment would not be in the build stage's.
	binary := filepath.Join(t.TempDir(), "keysmith")
	args := append([]string(nil), image.build[1:]...)
	output := -1
	for i, arg := range args {
		if arg == "-o" && i+1 < len(args) {
			output = i + 1
		}
	}
	if output < 0 {
		t.Fatalf("Dockerfile: %q has no -o PATH", image.build)
	}
	args[output] = binary
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	build := exec.Command(goTool, args...)
	build.Env = append(withoutEnv(os.Environ(), "GOFLAGS", "CGO_ENABLED"), image.buildEnv...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}

	// Static: no dynamic loader and no shared library, so it runs on distroless's static base.
	executable, err := elf.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	for _, program := range executable.Progs {
		if program.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader (PT_INTERP): want a static binary")
		}
	}
	if libraries, err := executable.ImportedLibraries(); err != nil || len(libraries) > 0 {
		t.Errorf("the binary imports shared libraries %q (%v): want none", libraries, err)
	}
	executable.Close()
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if got := settings["CGO_ENABLED"]; got != "0" {
		t.Errorf("build setting CGO_ENABLED: got %q, want 0", got)
	}

	// `keysmith version` and `--version` name the module version and the commit. Go stamps
	// the commit from a .git folder (a clone, as CI's and docker build's); a linked worktree's
	// .git is a file, which it does not read.
	head, gitErr := exec.Command("git", "rev-parse", "HEAD").Output()
	if gitErr == nil {
		if dotGit, err := os.Stat(".git"); err == nil && !dotGit.IsDir() {
			gitErr = errors.New(".git is a file: a linked worktree")
		}
	}
	for _, arg := range []string{"version", "--version"} {
		out, err := exec.Command(binary, arg).Output()
		if err != nil {
			t.Fatalf("keysmith %s: %v", arg, err)
		}
		fields := apptest.VersionFields(string(out))
		if got, want := fields["keysmith"], info.Main.Version; got != want || got == "" {
			t.Errorf("keysmith %s: module version %q, want %q (the binary's build information)", arg, got, want)
		}
		if got := fields["go"]; got != info.GoVersion {
			t.Errorf("keysmith %s: go %q, want %q", arg, got, info.GoVersion)
		}
		if gitErr != nil {
			// Not a clone: nothing to stamp, and the version says so.
			t.Logf("no commit to stamp (%v): checking that the version says the revision is unknown", gitErr)
			if got := fields["revision"]; !strings.HasPrefix(got, "unknown") {
				t.Errorf("keysmith %s outside a git checkout: revision %q, want unknown", arg, got)
			}
			continue
		}
		if got, want := fields["revision"], strings.TrimSpace(string(head)); got != want {
			t.Errorf("keysmith %s: revision %q, want %q (git rev-parse HEAD)\n%s", arg, got, want, out)
		}
		if fields["committed"] == "" || (fields["modified"] != "true" && fields["modified"] != "false") {
			t.Errorf("keysmith %s: committed %q, modified %q; want the commit's time and true or false\n%s", arg, fields["committed"], fields["modified"], out)
		}
	}

	// Started with the image's settings, the database on a folder standing in for the volume.
	run := make(map[string]string, len(image.runEnv))
	for name, value := range image.runEnv {
		run[name] = value
	}
	database, onVolume := strings.CutPrefix(run["KEYSMITH_DATABASE_URL"], image.volume+"/")
	if image.volume == "" || !onVolume {
		t.Fatalf("Dockerfile: KEYSMITH_DATABASE_URL %q is not on the VOLUME %q", run["KEYSMITH_DATABASE_URL"], image.volume)
	}
	volume := t.TempDir()
	run["KEYSMITH_DATABASE_URL"] = filepath.Join(volume, database)
	// The image listens on every interface of its container; here, on loopback.
	delete(run, "KEYSMITH_ADDR")
	p := startExecutable(t, binary, run)
	res, err := http.Get(p.url("/readyz"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET /readyz: status %d, want %d", res.StatusCode, http.StatusOK)
	}
	if _, err := os.Stat(filepath.Join(volume, database)); err != nil {
		t.Errorf("the database is not on the volume: %v", err)
	}
	if code, _ := p.waitExit(t, p.sigterm(t), config.DefaultShutdownTimeout+stopMargin); code != 0 {
		t.Errorf("exit code after SIGTERM: got %d, want 0", code)
	}
}

// withoutEnv returns env without the variables named.
func withoutEnv(env []string, names ...string) []string {
	var kept []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, name) {
			kept = append(kept, kv)
		}
	}
	return kept
}
