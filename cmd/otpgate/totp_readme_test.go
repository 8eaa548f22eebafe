package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// totpSection is the README section whose curl walkthrough
// TestReadmeTOTPWalkthrough runs.
const totpSection = "## Authenticator apps (TOTP)"

// TestReadmeTOTPWalkthrough runs the README's authenticator-app walkthrough
// as a reader pastes it, its sh blocks one after another in one shell,
// against the server in dev mode, and compares what each block prints
// with the JSON the README shows after it: the same fields, and the same
// values but for ids, times, secrets and codes.
func TestReadmeTOTPWalkthrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "jq", "oathtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is not installed; .ci/run installs it", tool)
			}
			t.Skipf("%s is not installed (Debian: apt-get install curl jq oathtool)", tool)
		}
	}
	in := start(t, map[string]string{})

	const marker = "--- end of block ---"
	var script strings.Builder
	var shown []string
	script.WriteString("set -euo pipefail\n")
	for _, b := range readmeBlocks(t, totpSection) {
		switch b.lang {
		case "sh":
			script.WriteString(strings.ReplaceAll(b.text, "localhost:8080", strings.TrimPrefix(in.base, "http://")))
			script.WriteString("echo\necho '" + marker + "'\n")
		case "json":
			shown = append(shown, b.text)
		}
	}
	dir := t.TempDir()
	cmd := exec.Command("bash", "-c", script.String())
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the walkthrough failed: %v\n%s", err, out)
	}
	printed := strings.Split(strings.TrimSuffix(string(out), marker+"\n"), marker+"\n")
	if len(printed) != 5 || len(shown) != 5 {
		t.Fatalf("%d blocks printed and %d answers shown, want 5 of each: enrol, verify, replay, next code, recovery code\n%s", len(printed), len(shown), out)
	}
	// The enrolment's answer goes to factor.json, not the terminal.
	enrolled, err := os.ReadFile(filepath.Join(dir, "factor.json"))
	if err != nil {
		t.Fatal(err)
	}
	printed[0] = string(enrolled)
	for i, got := range printed {
		sameAnswer(t, i, []byte(got), []byte(shown[i]))
	}
	var enrolment struct{ ID string }
	var accepted struct {
		FactorID string `json:"factor_id"`
	}
	if json.Unmarshal(enrolled, &enrolment) != nil || json.Unmarshal([]byte(printed[3]), &accepted) != nil || accepted.FactorID != enrolment.ID {
		t.Errorf("the next code was accepted by %q, want the factor enrolled, %q", accepted.FactorID, enrolment.ID)
	}
}

// sameAnswer fails unless got and want are JSON objects of the same fields
// with equal values, but for those that differ from run to run, and lists
// of the same length.
func sameAnswer(t *testing.T, block int, got, want []byte) {
	t.Helper()
	var g, w map[string]any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("block %d printed %s: %v", block, got, err)
		return
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Errorf("the README shows %s after block %d: %v", want, block, err)
		return
	}
	varies := map[string]bool{"id": true, "factor_id": true, "created_at": true, "verified_at": true,
		"last_used_at": true, "secret": true, "uri": true, "qr_png": true}
	for k, wv := range w {
		gv, ok := g[k]
		switch {
		case !ok:
			t.Errorf("block %d: no %q in %s", block, k, got)
		case varies[k]:
		case reflect.TypeOf(gv) == reflect.TypeOf([]any{}):
			if len(gv.([]any)) != len(wv.([]any)) {
				t.Errorf("block %d: %d %s, the README shows %d", block, len(gv.([]any)), k, len(wv.([]any)))
			}
		case !reflect.DeepEqual(gv, wv):
			t.Errorf("block %d: %s = %v, the README shows %v", block, k, gv, wv)
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			t.Errorf("block %d printed %q, which the README does not show", block, k)
		}
	}
}

// block is one fenced block of the README.
type block struct{ lang, text string }

// readmeBlocks are the fenced blocks of the README section headed heading.
func readmeBlocks(t *testing.T, heading string) []block {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := bytes.Cut(readme, []byte("\n"+heading+"\n"))
	if !ok {
		t.Fatalf("README.md has no section %q", heading)
	}
	section, _, _ = bytes.Cut(section, []byte("\n## "))
	var blocks []block
	var cur *block
	for line := range strings.Lines(string(section)) {
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &block{lang: strings.TrimSpace(strings.TrimPrefix(line, "```"))}
		case cur != nil && line == "```\n":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line
		}
	}
	return blocks
}
