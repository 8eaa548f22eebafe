package validate

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// loadCompose loads deploy/docker-compose.yml as `docker compose` would:
// schema validation, interpolation with an empty environment, normalisation,
// consistency checks and paths resolved against deploy/.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	dir, err := filepath.Abs(deployDir)
	if err != nil {
		t.Fatal(err)
	}
	details := types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "docker-compose.yml")}},
		Environment: types.Mapping{},
	}
	p, err := loader.LoadWithContext(t.Context(), details, func(o *loader.Options) {
		o.ResolvePaths = true
		// otpgate.env is the operator's uncommitted copy of the example,
		// which TestEnvExampleIsValid checks instead.
		o.SkipResolveEnvironment = true
	})
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return p
}

func TestComposeFileIsValid(t *testing.T) {
	p := loadCompose(t)
	dir, _ := filepath.Abs(deployDir)
	root, _ := filepath.Abs(repoRoot)

	app, err := p.GetService("otpgate")
	if err != nil {
		t.Fatal(err)
	}
	redis, err := p.GetService("redis")
	if err != nil {
		t.Fatal(err)
	}

	if app.Build == nil || app.Build.Context != root || app.Build.Dockerfile != "deploy/Dockerfile" {
		t.Errorf("otpgate must build deploy/Dockerfile with the repository root as context, got %+v", app.Build)
	} else {
		mustExist(t, filepath.Join(app.Build.Context, app.Build.Dockerfile))
	}
	// /metrics and /readyz must stay off the network (contract §6): the
	// port is for a reverse proxy on the same host.
	published := slices.ContainsFunc(app.Ports, func(p types.ServicePortConfig) bool {
		return p.Target == 8080 && p.Published == "8080" && p.HostIP == "127.0.0.1"
	})
	if !published || len(app.Ports) != 1 {
		t.Errorf("otpgate must publish port 8080 on 127.0.0.1 only, got %+v", app.Ports)
	}
	if len(app.EnvFiles) != 1 || app.EnvFiles[0].Path != filepath.Join(dir, "otpgate.env") || !bool(app.EnvFiles[0].Required) {
		t.Errorf("otpgate must read its secrets from the required env file deploy/otpgate.env, got %+v", app.EnvFiles)
	}
	mustExist(t, filepath.Join(dir, "otpgate.env.example"))
	for k, v := range app.Environment {
		if k == "REDIS_URL" {
			continue // the compose network's Redis, which has no password
		}
		if secretVars[k] {
			t.Errorf("compose file sets the secret %s; it belongs in otpgate.env", k)
		}
		if v != nil && !contractVars[k] {
			t.Errorf("compose file sets %s, which otpgate does not read", k)
		}
	}
	if url := app.Environment["REDIS_URL"]; url == nil || *url != "redis://redis:6379/0" {
		t.Errorf("otpgate REDIS_URL = %v, want the redis service", url)
	}
	if _, ok := app.DependsOn["redis"]; !ok {
		t.Errorf("otpgate does not wait for redis")
	}
	if !app.ReadOnly || !slices.Equal(app.CapDrop, []string{"ALL"}) {
		t.Errorf("otpgate must run read-only with all capabilities dropped")
	}

	if len(redis.Ports) > 0 {
		t.Errorf("redis publishes ports %+v; only otpgate may reach it", redis.Ports)
	}
	for name := range redis.Networks {
		if n := p.Networks[name]; !n.Internal {
			t.Errorf("redis is on network %s, which is not internal", name)
		}
	}
	confPath := filepath.Join(dir, "redis", "redis.conf")
	var conf, data bool
	for _, v := range redis.Volumes {
		switch {
		case v.Type == types.VolumeTypeBind && v.Source == confPath && v.ReadOnly:
			conf = slices.Contains(redis.Command, v.Target)
		case v.Type == types.VolumeTypeVolume && v.Target == "/data":
			_, data = p.Volumes[v.Source]
		}
	}
	if !conf {
		t.Errorf("redis must mount deploy/redis/redis.conf read-only and start with it, got volumes %+v command %v", redis.Volumes, redis.Command)
	}
	if !data {
		t.Errorf("redis must keep /data (its AOF) on a named volume")
	}
	if redis.HealthCheck == nil {
		t.Errorf("redis has no healthcheck, so otpgate cannot wait for it")
	}
}

// TestEnvExampleIsValid parses otpgate.env.example with compose's own
// dotenv parser and checks that it names only variables otpgate reads and
// ships no secret values.
func TestEnvExampleIsValid(t *testing.T) {
	env, err := dotenv.Read(filepath.Join(deployDir, "otpgate.env.example"))
	if err != nil {
		t.Fatalf("otpgate.env.example: %v", err)
	}
	for k, v := range env {
		if !contractVars[k] {
			t.Errorf("otpgate.env.example sets %s, which otpgate does not read", k)
		}
		if secretVars[k] && !isPlaceholder(v) {
			t.Errorf("otpgate.env.example ships a value for the secret %s", k)
		}
	}
	for _, k := range []string{"CONNEXUS_CLIENT_ID", "CONNEXUS_CLIENT_SECRET", "OTPGATE_API_KEYS", "OTPGATE_WEBHOOK_TOKEN"} {
		if _, ok := env[k]; !ok {
			t.Errorf("otpgate.env.example does not document %s", k)
		}
	}
	if _, ok := env["REDIS_URL"]; ok {
		t.Errorf("otpgate.env.example sets REDIS_URL, which the compose file owns")
	}
}
