package caddymodule_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callbackguard/callbackguard/internal/testcaddy"
)

// caddymodule builds into someone else's Caddy as a plain plugin, the way
// `xcaddy build --with github.com/callbackguard/callbackguard/caddymodule`
// does it: a main package of their own importing Caddy's standard modules
// and ours, our module replaced by this checkout.
func TestImportableAsPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a second Caddy")
	}
	root, err := testcaddy.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("main.go", `package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/callbackguard/callbackguard/caddymodule"
)

func main() { caddycmd.Main() }
`)
	write("go.mod", "module example.com/mycaddy\n\ngo 1.26.0\n\nrequire github.com/callbackguard/callbackguard v0.0.0\n\nreplace github.com/callbackguard/callbackguard => "+root+"\n")
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write("go.sum", string(sum))
	run := func(name string, args ...string) string {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("go", "mod", "tidy")
	run("go", "build", "-o", "caddy", ".")
	if out := run(filepath.Join(dir, "caddy"), "list-modules"); !strings.Contains(out, "http.handlers.callback_guard") {
		t.Fatalf("the plugin build does not list the module:\n%s", out)
	}
	// The module brings its command (package cli) with it.
	if out := run(filepath.Join(dir, "caddy"), "callback", "sign", "--help"); !strings.Contains(out, "payglocal") || !strings.Contains(out, "Exit codes:") {
		t.Fatalf("the plugin build has no caddy callback command:\n%s", out)
	}
}
