package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

// TestCLI runs the commands of CONTRACT.md §5 against one data folder.
func TestCLI(t *testing.T) {
	dir := t.TempDir()
	cli := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append(args, "--data-dir", dir, "--log-level", "warn"), &out, &errOut)
		return out.String(), err
	}
	if _, err := cli("migrate"); err != nil {
		t.Fatal(err)
	}
	out, err := cli("keys", "create", "--org", "acme", "--scopes", "media:read,admin")
	if err != nil || !regexp.MustCompile(`^sk_[a-z0-9]{32}\n$`).MatchString(out) {
		t.Fatalf("keys create: %q %v", out, err)
	}
	if out, err = cli("users", "add", "--org", "acme", "--email", "Ann@Acme.test", "--role", "admin"); err != nil || !strings.Contains(out, "ann@acme.test\tADMIN") {
		t.Fatalf("users add: %q %v", out, err)
	}
	if out, err = cli("keys", "create", "--org", "acme", "--user", "ann@acme.test", "--scopes", "media:read"); err != nil || !strings.HasPrefix(out, "sk_") {
		t.Fatalf("keys create for a user: %q %v", out, err)
	}
	if out, err = cli("orgs", "list"); err != nil || !strings.Contains(out, "\tacme\n") {
		t.Fatalf("orgs list: %q %v", out, err)
	}
	for _, bad := range [][]string{
		{"keys", "create", "--org", "acme", "--scopes", "media:everything"},
		{"keys", "create", "--scopes", "media:read"},
		{"users", "add", "--org", "nope", "--email", "a@b.c"},
		{"users", "add", "--org", "acme", "--email", "ann@acme.test"},
		{"frobnicate"},
	} {
		if _, err := cli(bad...); err == nil {
			t.Errorf("%v succeeded", bad)
		}
	}
	if out, err = cli("sweep"); err != nil || !strings.Contains(out, "removed 0") {
		t.Fatalf("sweep: %q %v", out, err)
	}
}
