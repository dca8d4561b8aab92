// Package deploy holds what an operator needs to run dbfleetd nodes (a
// systemd unit, a container image definition, a Kubernetes example and an
// example configuration); its tests hold those files to the code they
// deploy.
package deploy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

// Where the deployment files agree to find dbfleetd and its configuration.
const (
	configPath   = "/etc/dbfleetd/dbfleetd.yaml"
	apiPort      = "8580"
	livenessPath = "/healthz"
	readyPath    = "/readyz"
	// minStopGrace is the least time a supervisor must give dbfleetd
	// between SIGTERM and SIGKILL: its HTTP drain and its job stop, each
	// bounded at ten seconds, with room to spare.
	minStopGrace = 30 * time.Second
)

// unit is a systemd unit file: values by section and key, in order.
type unit map[string]map[string][]string

func readUnit(t *testing.T, path string) unit {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	u := unit{}
	section := ""
	scanner := bufio.NewScanner(bytes.NewReader(b))
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			key, value, ok := strings.Cut(line, "=")
			require.True(t, ok, "%s: a line that is neither a section, a comment nor key=value: %q", path, line)
			require.NotEmpty(t, section, "%s: %q before any section", path, line)
			u[section][key] = append(u[section][key], value)
		}
	}
	require.NoError(t, scanner.Err())
	return u
}

func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	u := readUnit(t, "dbfleetd.service")
	for _, want := range []struct{ section, key, value string }{
		{"Service", "ExecStart", "/usr/local/bin/dbfleetd serve --config " + configPath},
		// dbfleetd does not call sd_notify: Type=notify would time out.
		{"Service", "Type", "simple"},
		{"Service", "User", "dbfleetd"},
		{"Service", "KillSignal", "SIGTERM"},
		{"Service", "Restart", "always"},
		{"Service", "NoNewPrivileges", "yes"},
		{"Service", "ProtectSystem", "strict"},
		{"Service", "StateDirectory", "dbfleetd"},
		{"Install", "WantedBy", "multi-user.target"},
	} {
		require.Equal(t, []string{want.value}, u[want.section][want.key], "[%s] %s", want.section, want.key)
	}
	stop, err := strconv.Atoi(u["Service"]["TimeoutStopSec"][0])
	require.NoError(t, err, "TimeoutStopSec in seconds")
	require.GreaterOrEqual(t, time.Duration(stop)*time.Second, minStopGrace, "TimeoutStopSec leaves the graceful stop its time")

	sysusers, err := os.ReadFile("dbfleetd.sysusers")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^u dbfleetd - `, string(sysusers), "the unit's user is the one dbfleetd.sysusers makes")

	verifyWithSystemd(t)
}

// verifyWithSystemd runs systemd-analyze verify over the unit, where it is
// installed, with ExecStart's program replaced by a stub (verify insists
// that it exists). Any complaint, an unknown key say, fails the test.
func verifyWithSystemd(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed: the unit was only parsed")
		return
	}
	dir := t.TempDir()
	stub := filepath.Join(dir, "dbfleetd")
	require.NoError(t, os.WriteFile(stub, []byte("#!/bin/sh\n"), 0o755))
	b, err := os.ReadFile("dbfleetd.service")
	require.NoError(t, err)
	unitFile := filepath.Join(dir, "dbfleetd.service")
	require.NoError(t, os.WriteFile(unitFile, bytes.ReplaceAll(b, []byte("/usr/local/bin/dbfleetd"), []byte(stub)), 0o644))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, analyze, "verify", unitFile).CombinedOutput()
	require.NoError(t, err, "systemd-analyze verify: %s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify complained")
}

// instruction is one instruction of a Containerfile, continuation lines
// joined.
type instruction struct {
	name string
	args string
}

// stages reads a Containerfile into its build stages; the first holds the
// instructions before the first FROM.
func stages(t *testing.T, path string) [][]instruction {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	all := [][]instruction{nil}
	var logical strings.Builder
	for line := range strings.SplitSeq(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && logical.Len() == 0) {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, "\\"); ok {
			logical.WriteString(cont + " ")
			continue
		}
		logical.WriteString(trimmed)
		name, args, _ := strings.Cut(logical.String(), " ")
		logical.Reset()
		in := instruction{name: strings.ToUpper(name), args: strings.Join(strings.Fields(args), " ")}
		if in.name == "FROM" {
			all = append(all, nil)
		}
		all[len(all)-1] = append(all[len(all)-1], in)
	}
	require.Zero(t, logical.Len(), "%s ends in a continuation", path)
	return all
}

// arg returns the instructions' value of name (from NAME args or ARG
// NAME=value).
func arg(ins []instruction, name string) []string {
	var out []string
	for _, in := range ins {
		switch {
		case in.name == name:
			out = append(out, in.args)
		case in.name == "ARG" && strings.HasPrefix(in.args, name+"="):
			out = append(out, strings.TrimPrefix(in.args, name+"="))
		}
	}
	return out
}

func TestContainerfile(t *testing.T) {
	t.Parallel()
	all := stages(t, "Containerfile")
	require.Len(t, all, 3, "global ARGs, a build stage and the runtime stage")
	global, build, runtime := all[0], all[1], all[2]

	mod, err := os.ReadFile("../../go.mod")
	require.NoError(t, err)
	goVersion := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	require.NotNil(t, goVersion, "go.mod's go line")
	require.Equal(t, []string{string(goVersion[1])}, arg(global, "GO_VERSION"), "the image builds with go.mod's Go")
	require.Regexp(t, `^docker\.io/library/golang:\$\{GO_VERSION\}-alpine AS build$`, build[0].args)
	require.Contains(t, strings.Join(arg(build, "RUN"), "\n"), "CGO_ENABLED=0 go build", "a static binary for the minimal base")

	user := arg(runtime, "USER")
	require.Len(t, user, 1)
	require.NotRegexp(t, `^(root|0)(:|$)`, user[0], "the runtime stage runs as an unprivileged user")
	require.Equal(t, []string{apiPort}, arg(runtime, "EXPOSE"))
	require.Equal(t, []string{"SIGTERM"}, arg(runtime, "STOPSIGNAL"))
	require.Equal(t, []string{`["/usr/local/bin/dbfleetd"]`}, arg(runtime, "ENTRYPOINT"))
	require.Equal(t, []string{`["serve", "--config", "` + configPath + `"]`}, arg(runtime, "CMD"))
	health := arg(runtime, "HEALTHCHECK")
	require.Len(t, health, 1)
	require.Contains(t, health[0], "CMD wget -q -O /dev/null http://127.0.0.1:"+apiPort+livenessPath)
}

// kubernetesDeployment is the part of the example's Deployment the test
// checks.
type kubernetesDeployment struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Replicas int `yaml:"replicas"`
		Template struct {
			Spec struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				SecurityContext               struct {
					RunAsNonRoot bool `yaml:"runAsNonRoot"`
				} `yaml:"securityContext"`
				Containers []struct {
					Args  []string `yaml:"args"`
					Ports []struct {
						Name          string `yaml:"name"`
						ContainerPort int    `yaml:"containerPort"`
					} `yaml:"ports"`
					LivenessProbe  kubernetesProbe `yaml:"livenessProbe"`
					ReadinessProbe kubernetesProbe `yaml:"readinessProbe"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type kubernetesProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

func TestKubernetesExample(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("kubernetes.yaml")
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var kinds []string
	var deployment kubernetesDeployment
	for {
		var doc kubernetesDeployment
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		kinds = append(kinds, doc.Kind)
		if doc.Kind == "Deployment" {
			deployment = doc
		}
	}
	require.Equal(t, []string{"Deployment", "Service", "PodDisruptionBudget"}, kinds)

	spec := deployment.Spec.Template.Spec
	require.Greater(t, deployment.Spec.Replicas, 1, "several nodes")
	require.GreaterOrEqual(t, time.Duration(spec.TerminationGracePeriodSeconds)*time.Second, minStopGrace)
	require.True(t, spec.SecurityContext.RunAsNonRoot)
	require.Len(t, spec.Containers, 1)
	c := spec.Containers[0]
	require.Equal(t, []string{"serve", "--config", configPath}, c.Args)
	require.Len(t, c.Ports, 1)
	require.Equal(t, apiPort, strconv.Itoa(c.Ports[0].ContainerPort))
	require.Equal(t, livenessPath, c.LivenessProbe.HTTPGet.Path)
	require.Equal(t, readyPath, c.ReadinessProbe.HTTPGet.Path)
	require.Equal(t, c.Ports[0].Name, c.LivenessProbe.HTTPGet.Port)
	require.Equal(t, c.Ports[0].Name, c.ReadinessProbe.HTTPGet.Port)
}

// TestREADMENamesTheFiles keeps README.md in step with the directory.
func TestREADMENamesTheFiles(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	entries, err := os.ReadDir(".")
	require.NoError(t, err)
	for _, e := range entries {
		if name := e.Name(); name != "README.md" && !strings.HasSuffix(name, "_test.go") {
			require.Contains(t, string(readme), "`"+name+"`", "README.md describes %s", name)
		}
	}
	for _, path := range []string{livenessPath, readyPath, configPath, "SIGTERM"} {
		require.Contains(t, string(readme), path)
	}
}

// pingStore is a state store that only answers Ping, with err.
type pingStore struct {
	store.Store
	err error
}

func (s pingStore) Ping(context.Context) error { return s.err }

// TestProbePathsAreServed asks dbfleetd's real HTTP API, without a token,
// for the paths the deployment files probe: liveness answers 200 whatever
// the store does, readiness 200 only while the store is reachable.
func TestProbePathsAreServed(t *testing.T) {
	t.Parallel()
	probes := regexp.MustCompile(`(?m)(?:path: |http://127\.0\.0\.1:` + apiPort + `)(/[a-z]+)`)
	var paths []string
	for _, file := range []string{"Containerfile", "kubernetes.yaml"} {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		for _, m := range probes.FindAllStringSubmatch(string(b), -1) {
			if !slices.Contains(paths, m[1]) {
				paths = append(paths, m[1])
			}
		}
	}
	slices.Sort(paths)
	require.Equal(t, []string{livenessPath, readyPath}, paths, "the paths the deployment files probe")

	for _, tc := range []struct {
		name  string
		store error
		want  map[string]int
	}{
		{"StoreReachable", nil, map[string]int{livenessPath: http.StatusOK, readyPath: http.StatusOK}},
		{"StoreDown", errors.New("connection refused"), map[string]int{livenessPath: http.StatusOK, readyPath: http.StatusServiceUnavailable}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			server := api.New(api.Config{Store: pingStore{err: tc.store}, Logger: zerolog.Nop(), Registry: prometheus.NewRegistry()})
			for path, want := range tc.want {
				rec := httptest.NewRecorder()
				server.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				require.Equal(t, want, rec.Code, "GET %s: %s", path, rec.Body)
			}
		})
	}
}
