package validate

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// instruction is one Dockerfile instruction with its continuation lines
// joined.
type instruction struct {
	line int
	cmd  string // upper case, e.g. RUN
	args string
}

// stage is the instructions from one FROM to the next.
type stage struct {
	from string
	body []instruction
}

// parseDockerfile splits deploy/Dockerfile into the ARGs before the first
// FROM and its stages.
func parseDockerfile(t *testing.T) (globalArgs []instruction, stages []stage) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(mustRead(t, filepath.Join(deployDir, "Dockerfile"))))
	var cur *instruction
	var all []instruction
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cont := strings.HasSuffix(line, `\`)
		line = strings.TrimSpace(strings.TrimSuffix(line, `\`))
		if cur == nil {
			cmd, args, _ := strings.Cut(line, " ")
			cur = &instruction{line: n, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		} else {
			cur.args += " " + line
		}
		if !cont {
			all = append(all, *cur)
			cur = nil
		}
	}
	if cur != nil {
		t.Fatalf("Dockerfile ends inside a continued line")
	}
	for _, in := range all {
		switch {
		case in.cmd == "FROM":
			stages = append(stages, stage{from: in.args})
		case len(stages) == 0:
			globalArgs = append(globalArgs, in)
		default:
			stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
		}
	}
	return globalArgs, stages
}

func (s stage) find(cmd string) []instruction {
	var out []instruction
	for _, in := range s.body {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// goBuild returns the build stage's RUN that compiles otpgate.
func goBuild(t *testing.T, stages []stage) instruction {
	t.Helper()
	for _, in := range stages[0].find("RUN") {
		if strings.Contains(in.args, "go build") {
			return in
		}
	}
	t.Fatalf("the first stage has no RUN with go build")
	return instruction{}
}

func TestDockerfileRules(t *testing.T) {
	args, stages := parseDockerfile(t)
	if len(stages) < 2 {
		t.Fatalf("want a multi-stage build, got %d stage(s)", len(stages))
	}

	// The builder's Go must be the one go.mod asks for.
	want := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mustRead(t, filepath.Join(repoRoot, "go.mod")))
	if want == nil {
		t.Fatalf("go.mod has no go directive")
	}
	if !slices.ContainsFunc(args, func(in instruction) bool { return in.cmd == "ARG" && in.args == "GO_VERSION="+string(want[1]) }) {
		t.Errorf("want ARG GO_VERSION=%s before the first FROM, matching go.mod", want[1])
	}
	if !strings.Contains(stages[0].from, "golang:${GO_VERSION}") {
		t.Errorf("build stage FROM %q does not use golang:${GO_VERSION}", stages[0].from)
	}

	final := stages[len(stages)-1]
	base := strings.Fields(final.from)[0]
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("final stage FROM %s, want distroless static or scratch", base)
	}
	users := final.find("USER")
	if len(users) == 0 || !regexp.MustCompile(`^[1-9]\d*(:\d+)?$`).MatchString(users[len(users)-1].args) {
		t.Errorf("final stage must end as a numeric non-root USER (runAsNonRoot checks the number), got %+v", users)
	}
	if ep := final.find("ENTRYPOINT"); len(ep) != 1 || !strings.HasPrefix(ep[0].args, "[") {
		t.Errorf("want one exec-form ENTRYPOINT, so SIGTERM reaches otpgate and not a shell")
	}
	for _, s := range stages {
		if hc := s.find("HEALTHCHECK"); len(hc) > 0 {
			t.Errorf("line %d: HEALTHCHECK; probes belong to the orchestrator", hc[0].line)
		}
	}

	build := goBuild(t, stages)
	for _, flag := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "./cmd/otpgate"} {
		if !strings.Contains(build.args, flag) {
			t.Errorf("line %d: go build lacks %s", build.line, flag)
		}
	}
	if !slices.ContainsFunc(stages[0].find("ARG"), func(in instruction) bool { return strings.HasPrefix(in.args, "VERSION") }) {
		t.Errorf("build stage does not declare ARG VERSION")
	}
}

// TestDockerfileBuildsAStaticStampedBinary does what the build stage does
// without a Docker engine: it copies the build context as
// Dockerfile.dockerignore filters it, runs the Dockerfile's own go build
// command in it, and checks the binary is static, trimmed and stamped.
func TestDockerfileBuildsAStaticStampedBinary(t *testing.T) {
	if _, err := os.Stat(filepath.Join(repoRoot, "cmd", "otpgate")); err != nil {
		requireCI(t, "cmd/otpgate does not exist yet: %v", err)
	}
	_, stages := parseDockerfile(t)
	build := goBuild(t, stages)

	ctx := t.TempDir()
	copyContext(t, ctx)
	for _, p := range []string{"go.mod", "go.sum", "cmd/otpgate"} {
		mustExist(t, filepath.Join(ctx, p))
	}
	if _, err := os.Stat(filepath.Join(ctx, ".git")); err == nil {
		t.Errorf(".git is sent to the builder")
	}

	// Strip BuildKit's cache mounts and write the binary outside the context.
	script := build.args
	for _, f := range strings.Fields(script) {
		if strings.HasPrefix(f, "--mount=") {
			script = strings.Replace(script, f, "", 1)
		}
	}
	out := filepath.Join(t.TempDir(), "otpgate")
	if !strings.Contains(script, "-o /out/otpgate") {
		t.Fatalf("line %d: go build does not write -o /out/otpgate", build.line)
	}
	script = strings.Replace(script, "-o /out/otpgate", "-o "+out, 1)

	const version = "v0.0.0-validate-4f1c"
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = ctx
	cmd.Env = append(os.Environ(), "TARGETOS=linux", "TARGETARCH="+runtime.GOARCH, "VERSION="+version)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("line %d: %s: %v\n%s", build.line, script, err, b)
	}

	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("binary is dynamically linked; distroless/static has no libc")
		}
	}
	info, err := buildinfo.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings CGO_ENABLED=%q -trimpath=%q, want 0 and true", settings["CGO_ENABLED"], settings["-trimpath"])
	}
	// The linker ignores -X for a variable that does not exist and drops one
	// that nothing reads, so the string is in the binary only if otpgate
	// declares main.version and uses it (logs it, for example).
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(bin, []byte(version)) {
		t.Errorf("-X main.version did not stamp the binary: cmd/otpgate needs a `var version = \"dev\"` that it uses")
	}
}

// copyContext copies the repository root into dst, leaving out what
// deploy/Dockerfile.dockerignore excludes, as the Docker client does.
func copyContext(t *testing.T, dst string) {
	t.Helper()
	f, err := os.Open(filepath.Join(deployDir, "Dockerfile.dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		excluded, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		switch {
		case excluded && d.IsDir() && !pm.Exclusions():
			return filepath.SkipDir
		case excluded:
			return nil
		case d.IsDir():
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		case !d.Type().IsRegular():
			return nil
		}
		return copyFile(path, filepath.Join(dst, rel))
	})
	if err != nil {
		t.Fatalf("copy build context: %v", err)
	}
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
