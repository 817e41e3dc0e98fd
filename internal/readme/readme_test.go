// Package readme checks that every Go block in the repository's README.md
// is a whole file that compiles and passes go vet as written.
package readme

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// goBlock matches a fenced Go block of a Markdown file.
var goBlock = regexp.MustCompile("(?ms)^```go\n(.*?)^```\n")

// TestREADMEBlocksCompile writes each ```go block of README.md as the only
// file of its own package inside this module, so that imports of the
// module resolve to this checkout, and runs go vet on it (which type-checks
// test files too) and, for a block with tests, go test.
func TestREADMEBlocksCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("readme: runs the go tool; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("readme: the go tool is not on PATH")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := goBlock.FindAllSubmatch(readme, -1)
	if len(blocks) == 0 {
		t.Fatal("README.md has no ```go block")
	}
	// A directory whose name starts with "_" is inside the module but out
	// of reach of ./... patterns, should a crash leave it behind.
	dir, err := os.MkdirTemp(root, "_readme")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	for i, b := range blocks {
		src := b[1]
		if !bytes.HasPrefix(src, []byte("package ")) {
			t.Errorf("README block %d does not start with a package clause: a reader cannot paste it as a file", i+1)
			continue
		}
		name := "main.go"
		isTest := bytes.Contains(src, []byte("\nfunc Test"))
		if isTest {
			name = "block_test.go"
		}
		pkg := filepath.Join(dir, "block"+string(rune('a'+i)))
		if err := os.MkdirAll(pkg, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pkg, name), src, 0o644); err != nil {
			t.Fatal(err)
		}
		rel := "./" + filepath.ToSlash(strings.TrimPrefix(pkg, root+string(filepath.Separator)))
		run(t, root, i+1, goTool, "vet", rel)
		if isTest {
			run(t, root, i+1, goTool, "test", "-count=1", rel)
		}
	}
}

// run runs the go tool in the module root and reports its output on failure.
func run(t *testing.T, root string, block int, goTool string, args ...string) {
	t.Helper()
	cmd := exec.Command(goTool, args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("README block %d: go %s: %v\n%s", block, strings.Join(args, " "), err, out)
	}
}
