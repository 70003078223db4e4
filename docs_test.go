package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// guides returns the documents operators and administrators read: the README and the pages
// of docs/.
func guides(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join("docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) == 0 {
		t.Fatal("docs/ holds no Markdown page")
	}
	return append([]string{"README.md"}, pages...)
}

// sentences splits a Markdown document into sentences, each on one line; each table row is one.
func sentences(markdown string) []string {
	var found []string
	var paragraph []string
	flush := func() {
		for _, sentence := range regexp.MustCompile(`[.!?]\s+`).Split(strings.Join(paragraph, " "), -1) {
			found = append(found, strings.Join(strings.Fields(sentence), " "))
		}
		paragraph = nil
	}
	for _, line := range strings.Split(markdown, "\n") {
		switch trimmed := strings.TrimSpace(line); {
		case trimmed == "":
			flush()
		case strings.HasPrefix(trimmed, "|"):
			flush()
			found = append(found, trimmed)
		default:
			paragraph = append(paragraph, trimmed)
		}
	}
	flush()
	return found
}

// The guides say how soon a key or secret that is deleted, disabled or ended is refused as it
// is: at once by the instance that made the change, within a second by the others. Under load
// another instance answered 200 for 48 ms after the change, so "at once" alone is not true.
func TestGuidesSayHowSoonARevokedKeyIsRefused(t *testing.T) {
	claim := regexp.MustCompile(`(?i)\b(stop\w*|refus\w*|end\w*|revok\w*|dies)\b[^.]*\bat once\b`)
	aboutKeys := regexp.MustCompile(`(?i)\b(key|secret)s?\b`)
	for _, guide := range guides(t) {
		data, err := os.ReadFile(guide)
		if err != nil {
			t.Fatal(err)
		}
		for _, sentence := range sentences(string(data)) {
			if claim.MatchString(sentence) && aboutKeys.MatchString(sentence) && !strings.Contains(sentence, "within a second") {
				t.Errorf("%s: %q says a key is refused at once, and not that other instances take up to a second", guide, sentence)
			}
		}
	}
}

// Every `docker run` example that serves, in the Dockerfile and the guides, sets
// KEYSMITH_BASE_URL: the address people use is for the operator to say.
func TestDockerRunExamplesSetTheBaseURL(t *testing.T) {
	examples := 0
	for _, file := range append([]string{"Dockerfile"}, guides(t)...) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			_, command, ok := strings.Cut(line, "docker run ")
			if !ok {
				continue
			}
			command, _, _ = strings.Cut(command, "#")
			if words := strings.Fields(command); len(words) == 0 || words[len(words)-1] == "version" {
				continue
			}
			examples++
			if !strings.Contains(command, "-e KEYSMITH_BASE_URL=") {
				t.Errorf("%s: %q does not set KEYSMITH_BASE_URL", file, strings.TrimSpace(line))
			}
		}
	}
	if examples < 3 {
		t.Errorf("found %d `docker run` examples that serve, want the Dockerfile's and the operations guide's two", examples)
	}
}

// markdownFiles returns every Markdown file of the repository: the README, the pages of docs/,
// and the notes beside the code (bench/README.md and the like).
func markdownFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if entry.IsDir() && path != "." && strings.HasPrefix(entry.Name(), ".") {
			return filepath.SkipDir
		}
		if !entry.IsDir() && strings.HasSuffix(path, ".md") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// proseLines returns a Markdown document's lines outside fenced code blocks, where links and
// headings are.
func proseLines(markdown string) []string {
	var prose []string
	fenced := false
	for _, line := range strings.Split(markdown, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			prose = append(prose, line)
		}
	}
	return prose
}

// headingAnchors returns the anchors GitHub gives a Markdown document's headings: the
// heading's text in lower case, each space a hyphen, punctuation (backticks and asterisks
// too) dropped, and -1, -2… after a repeated one.
func headingAnchors(markdown string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, line := range proseLines(markdown) {
		hashes := len(line) - len(strings.TrimLeft(line, "#"))
		if hashes == 0 || hashes > 6 || !strings.HasPrefix(line[hashes:], " ") {
			continue
		}
		var anchor strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(line[hashes:])) {
			switch {
			case r == ' ':
				anchor.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				anchor.WriteRune(r)
			}
		}
		name := anchor.String()
		if n := seen[name]; n > 0 {
			anchors[name+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[name] = true
		}
		seen[name]++
	}
	return anchors
}

// relativeLinks returns the targets of a Markdown document's links and images that point
// into the repository: [text](target), and <img src="target"> as the README's phone
// screenshot is written. Links in code (a span, which may go on over lines of its paragraph,
// or a fenced block) are not links.
func relativeLinks(markdown string) []string {
	codeSpan := regexp.MustCompile("`[^`]*`")
	link := regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)|<img[^>]*\ssrc="([^"]+)"`)
	var targets []string
	for _, paragraph := range strings.Split(strings.Join(proseLines(markdown), "\n"), "\n\n") {
		for _, match := range link.FindAllStringSubmatch(codeSpan.ReplaceAllString(paragraph, ""), -1) {
			target := match[1] + match[2]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			targets = append(targets, target)
		}
	}
	return targets
}

// brokenLinks returns what is wrong with each relative link of the Markdown file at path: a
// file that does not exist, or a #fragment that names no heading of the Markdown file it
// points to (the file itself when the link is only a fragment).
func brokenLinks(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var broken []string
	for _, target := range relativeLinks(string(data)) {
		file, fragment, _ := strings.Cut(target, "#")
		resolved := path
		if file != "" {
			resolved = filepath.Join(filepath.Dir(path), filepath.FromSlash(file))
		}
		if _, err := os.Stat(resolved); err != nil {
			broken = append(broken, fmt.Sprintf("%s: no file %s", target, resolved))
			continue
		}
		if fragment == "" {
			continue
		}
		if !strings.HasSuffix(resolved, ".md") {
			broken = append(broken, fmt.Sprintf("%s: a #fragment on %s, which has no headings", target, resolved))
			continue
		}
		linked, err := os.ReadFile(resolved)
		if err != nil {
			t.Fatal(err)
		}
		if !headingAnchors(string(linked))[fragment] {
			broken = append(broken, fmt.Sprintf("%s: no heading of %s has the anchor #%s", target, resolved, fragment))
		}
	}
	return broken
}

// Every relative link of the README, the pages of docs/ and the other Markdown files points to
// a file that exists and, with a #fragment, to a heading of that file: moving a section, or a
// page, breaks no link silently.
func TestMarkdownLinksPointToFilesAndHeadings(t *testing.T) {
	files := markdownFiles(t)
	links := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		links += len(relativeLinks(string(data)))
		for _, broken := range brokenLinks(t, file) {
			t.Errorf("%s: broken link %s", file, broken)
		}
	}
	if links < 50 {
		t.Errorf("found %d relative links in %d Markdown files, want the README's and docs/'s (50 at least)", links, len(files))
	}
}

// The anchors the link test expects are GitHub's, for headings as this repository writes them.
func TestHeadingAnchors(t *testing.T) {
	markdown := "# Keysmith\n\n## The audit-events feed for a SIEM\n\n```sh\n# not a heading\n```\n\n" +
		"### `KEYSMITH_SESSION_KEYS` and other secrets\n\n## What the instances share, and why SQLite is for one instance only\n\n" +
		"## Set up\n\n## Set up\n\n#hashtag\n"
	got := headingAnchors(markdown)
	want := []string{"keysmith", "the-audit-events-feed-for-a-siem", "keysmith_session_keys-and-other-secrets",
		"what-the-instances-share-and-why-sqlite-is-for-one-instance-only", "set-up", "set-up-1"}
	for _, anchor := range want {
		if !got[anchor] {
			t.Errorf("anchor %q missing from %v", anchor, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d anchors %v, want %d: %q", len(got), got, len(want), want)
	}
}

// The architecture page names every package of the tree, bench tools and test helpers
// included, and draws each in its diagram: a package added without it fails here.
func TestArchitectureNamesEveryPackage(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	page := string(data)
	diagram := page[strings.Index(page, "```mermaid"):]
	diagram = diagram[:strings.Index(diagram[3:], "```")+3]
	packages := map[string]bool{}
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && filepath.Dir(path) != "." {
			packages[filepath.ToSlash(filepath.Dir(path))] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(packages) < 10 {
		t.Fatalf("found only %d packages: %v", len(packages), packages)
	}
	for pkg := range packages {
		if !strings.Contains(page, "[`"+pkg+"`](../"+pkg+")") {
			t.Errorf("docs/architecture.md: the packages table does not link %s as [`%s`](../%s)", pkg, pkg, pkg)
		}
		if name := pkg[strings.LastIndex(pkg, "/")+1:]; !regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\b`).MatchString(diagram) {
			t.Errorf("docs/architecture.md: the diagram does not draw %s", pkg)
		}
	}
}
