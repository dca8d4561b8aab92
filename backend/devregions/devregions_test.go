package devregions_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/devregions"
)

// newDataDir returns an empty data directory and removes, when the test ends, the directory that
// holds the clusters a fleet keeps outside it.
func newDataDir(t *testing.T) string {
	t.Helper()
	dataDir := t.TempDir()
	t.Cleanup(func() {
		require.NoError(t, os.RemoveAll(devregions.FallbackParent(dataDir)))
	})
	return dataDir
}

// startFleet starts a fleet of names on dataDir and stops it when the test ends.
func startFleet(t *testing.T, dataDir string, names ...string) *devregions.Fleet {
	t.Helper()
	return startFleetWith(t, devregions.Options{DataDir: dataDir, Names: names})
}

// startFleetWith starts a fleet with opts, logging to the test, and stops it when the test ends.
func startFleetWith(t *testing.T, opts devregions.Options) *devregions.Fleet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts.Logger = zerolog.New(zerolog.NewTestWriter(t))
	f, err := devregions.Start(ctx, opts)
	require.NoError(t, err)
	dataDir := opts.DataDir
	t.Cleanup(func() {
		require.NoError(t, f.Stop(context.Background()))
		require.NoError(t, devregions.RemoveClusters(dataDir, opts.Names...))
		for _, r := range f.Regions() {
			if !strings.HasPrefix(r.ClusterDir, dataDir+string(filepath.Separator)) {
				require.NoDirExists(t, r.ClusterDir, "RemoveClusters removes the clusters kept outside the data directory")
				require.NoDirExists(t, filepath.Dir(r.ClusterDir), "and their parent once it is empty")
			}
		}
	})
	return f
}

func connect(t *testing.T, r devregions.Region) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, r.AdminDSN())
	require.NoError(t, err, "connecting to region %s", r.Name)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryString(t *testing.T, conn *pgx.Conn, sql string) string {
	t.Helper()
	var s string
	require.NoError(t, conn.QueryRow(context.Background(), sql).Scan(&s), sql)
	return s
}

func regionByName(t *testing.T, f *devregions.Fleet, name string) devregions.Region {
	t.Helper()
	for _, r := range f.Regions() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("region %s not in fleet", name)
	return devregions.Region{}
}

// processUID returns the real uid of a local process.
func processUID(t *testing.T, pid int) int {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for line := range strings.Lines(string(status)) {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			uid, err := strconv.Atoi(strings.Fields(rest)[0])
			require.NoError(t, err)
			return uid
		}
	}
	t.Fatalf("no Uid line in /proc/%d/status", pid)
	return 0
}

func TestStart(t *testing.T) {
	t.Parallel()
	dataDir := newDataDir(t)
	modeBefore, err := os.Stat(dataDir)
	require.NoError(t, err)
	f := startFleet(t, dataDir, "westeurope", "eastus")

	regions := f.Regions()
	require.Len(t, regions, 2)
	require.Equal(t, "westeurope", regions[0].Name)
	require.Equal(t, "eastus", regions[1].Name)
	require.NotEqual(t, regions[0].Port, regions[1].Port)

	for _, r := range regions {
		t.Run(r.Name, func(t *testing.T) {
			conn := connect(t, r)

			t.Run("ServesLogicalWALOnLoopback", func(t *testing.T) {
				require.Equal(t, "127.0.0.1", r.Host)
				require.Equal(t, "logical", queryString(t, conn, "SHOW wal_level"))
				require.Equal(t, "127.0.0.1", queryString(t, conn, "SHOW listen_addresses"))
				require.Equal(t, "off", queryString(t, conn, "SHOW fsync"))
				require.Equal(t, "scram-sha-256", queryString(t, conn, "SHOW password_encryption"))
			})

			t.Run("RunsAsNonRoot", func(t *testing.T) {
				var pid int
				require.NoError(t, conn.QueryRow(context.Background(), "SELECT pg_backend_pid()").Scan(&pid))
				uid := processUID(t, pid)
				require.NotZero(t, uid, "the server runs as root")
				if os.Geteuid() != 0 {
					require.Equal(t, os.Geteuid(), uid)
				}
			})

			t.Run("DefaultsToSuperuserAdmin", func(t *testing.T) {
				require.Equal(t, devregions.AdminSuperuser, r.AdminKind)
				require.Equal(t, r.AdminUser, r.SuperuserUser)
				require.Equal(t, r.AdminPassword, r.SuperuserPassword)
				require.Equal(t, r.AdminDSN(), r.SuperuserDSN())
				require.Equal(t, "on", queryString(t, conn, "SHOW is_superuser"))
			})

			t.Run("RejectsWrongPassword", func(t *testing.T) {
				wrong := r
				wrong.AdminPassword = "not-" + r.AdminPassword
				_, err := pgx.Connect(context.Background(), wrong.AdminDSN())
				require.ErrorContains(t, err, "password authentication failed")
			})

			t.Run("KeepsCredentialsPrivate", func(t *testing.T) {
				fi, err := os.Stat(filepath.Join(dataDir, "regions", r.Name, "region.json"))
				require.NoError(t, err)
				require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
			})

			t.Run("LogsServerOutputInClusterDir", func(t *testing.T) {
				log, err := os.ReadFile(filepath.Join(r.ClusterDir, "postgres.log"))
				require.NoError(t, err)
				require.Contains(t, string(log), "database system is ready to accept connections")
			})

			t.Run("PlacesClusterWhereServerUserReachesIt", func(t *testing.T) {
				fi, err := os.Stat(filepath.Join(r.ClusterDir, "data"))
				require.NoError(t, err)
				require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
				inside := strings.HasPrefix(r.ClusterDir, dataDir+string(filepath.Separator))
				if os.Geteuid() == 0 {
					// t.TempDir's parent is 0700 root, closed to the user postgres.
					require.False(t, inside, "cluster dir %s inside %s", r.ClusterDir, dataDir)
					require.True(t, strings.HasPrefix(r.ClusterDir, "/var/tmp/dbfleet-dev-"), r.ClusterDir)
				} else {
					require.True(t, inside, "cluster dir %s outside %s", r.ClusterDir, dataDir)
				}
			})
		})
	}

	modeAfter, err := os.Stat(dataDir)
	require.NoError(t, err)
	require.Equal(t, modeBefore.Mode(), modeAfter.Mode(), "the data directory's mode changed")
}

func TestStopThenStartReusesDataAndPort(t *testing.T) {
	t.Parallel()
	dataDir := newDataDir(t)
	f := startFleet(t, dataDir, "northeurope")
	before := regionByName(t, f, "northeurope")
	conn := connect(t, before)
	_, err := conn.Exec(context.Background(), "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')")
	require.NoError(t, err)
	conn.Close(context.Background())
	require.NoError(t, f.Stop(context.Background()))

	_, err = pgx.Connect(context.Background(), before.AdminDSN())
	require.Error(t, err, "the server still accepts connections after Stop")

	begin := time.Now()
	f = startFleet(t, dataDir, "northeurope")
	t.Logf("warm start took %v", time.Since(begin))
	after := regionByName(t, f, "northeurope")
	require.Equal(t, before, after)
	require.Equal(t, "still here", queryString(t, connect(t, after), "SELECT v FROM kept"))
}

func TestRestartMovesToNewPortWhenTaken(t *testing.T) {
	t.Parallel()
	dataDir := newDataDir(t)
	f := startFleet(t, dataDir, "westeurope")
	before := regionByName(t, f, "westeurope")
	require.NoError(t, f.Stop(context.Background()))

	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(before.Port)))
	require.NoError(t, err)
	defer l.Close()

	f = startFleet(t, dataDir, "westeurope")
	moved := regionByName(t, f, "westeurope")
	require.NotEqual(t, before.Port, moved.Port)
	require.Equal(t, "logical", queryString(t, connect(t, moved), "SHOW wal_level"))

	// The new port is remembered.
	require.NoError(t, f.Stop(context.Background()))
	f = startFleet(t, dataDir, "westeurope")
	require.Equal(t, moved.Port, regionByName(t, f, "westeurope").Port)
}

func TestStopRegionAndStartRegion(t *testing.T) {
	t.Parallel()
	f := startFleet(t, newDataDir(t), "westeurope", "northeurope")
	ctx := context.Background()
	stopped := regionByName(t, f, "westeurope")
	other := regionByName(t, f, "northeurope")

	require.NoError(t, f.StopRegion(ctx, "westeurope"))
	require.NoError(t, f.StopRegion(ctx, "westeurope"), "stopping a stopped region")
	_, err := pgx.Connect(ctx, stopped.AdminDSN())
	require.Error(t, err, "a stopped region accepts connections")
	require.Equal(t, "logical", queryString(t, connect(t, other), "SHOW wal_level"))

	require.NoError(t, f.StartRegion(ctx, "westeurope"))
	require.NoError(t, f.StartRegion(ctx, "westeurope"), "starting a running region")
	restarted := regionByName(t, f, "westeurope")
	require.Equal(t, stopped.Port, restarted.Port)
	require.Equal(t, "logical", queryString(t, connect(t, restarted), "SHOW wal_level"))

	require.ErrorContains(t, f.StopRegion(ctx, "nowhere"), `unknown dev region "nowhere"`)
	require.ErrorContains(t, f.StartRegion(ctx, "nowhere"), `unknown dev region "nowhere"`)
}

func TestStartRejectsBadOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    devregions.Options
		wantErr string
	}{
		{name: "NoDataDir", opts: devregions.Options{}, wantErr: "DataDir is required"},
		{name: "InvalidName", opts: devregions.Options{DataDir: t.TempDir(), Names: []string{"West-Europe"}}, wantErr: `"West-Europe" must match`},
		{name: "DuplicateName", opts: devregions.Options{DataDir: t.TempDir(), Names: []string{"eastus", "eastus"}}, wantErr: `"eastus" is listed twice`},
		{name: "NoPrograms", opts: devregions.Options{DataDir: t.TempDir(), BinDir: t.TempDir()}, wantErr: "initdb is missing or not executable"},
		{name: "UnknownAdmin", opts: devregions.Options{DataDir: t.TempDir(), Admin: "owner"}, wantErr: `admin kind "owner" is not one of superuser, managed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := devregions.Start(context.Background(), tt.opts)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// helperDataDirEnv makes TestHelperFleetOwner run a fleet on that data directory until killed.
const helperDataDirEnv = "DBFLEET_DEVREGIONS_HELPER_DATA_DIR"

// TestHelperFleetOwner is the process TestKilledOwnerLeavesNoServers kills; it does nothing in a
// normal run.
func TestHelperFleetOwner(t *testing.T) {
	dataDir := os.Getenv(helperDataDirEnv)
	if dataDir == "" {
		t.Skip("helper process for TestKilledOwnerLeavesNoServers")
	}
	f, err := devregions.Start(context.Background(), devregions.Options{DataDir: dataDir, Names: []string{"eastus"}})
	require.NoError(t, err)
	require.NoError(t, json.NewEncoder(os.Stdout).Encode(f.Regions()[0]))
	select {} // until killed
}

func TestKilledOwnerLeavesNoServers(t *testing.T) {
	t.Parallel()
	dataDir := newDataDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperFleetOwner$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperDataDirEnv+"="+dataDir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	var r devregions.Region
	require.NoError(t, json.NewDecoder(bufio.NewReader(out)).Decode(&r))
	pid := postmasterPID(t, r)
	conn := connect(t, r)
	_, err = conn.Exec(context.Background(), "CREATE TABLE survived (v int); INSERT INTO survived VALUES (1)")
	require.NoError(t, err)
	conn.Close(context.Background())

	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	require.Error(t, cmd.Wait())

	// A new owner waits for the orphaned server's shutdown and takes the cluster over.
	f := startFleet(t, dataDir, "eastus")
	require.Equal(t, r, regionByName(t, f, "eastus"))
	require.Equal(t, "1", queryString(t, connect(t, r), "SELECT v::text FROM survived"))
	require.NotEqual(t, pid, postmasterPID(t, r))
	require.False(t, running(pid), "the killed owner's server %d still runs", pid)
}

// postmasterPID reads the pid of the region's running postmaster from its postmaster.pid.
func postmasterPID(t *testing.T, r devregions.Region) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.ClusterDir, "data", "postmaster.pid"))
	require.NoError(t, err)
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(first)
	require.NoError(t, err)
	return pid
}

// running reports whether a process exists and has not exited (a zombie has).
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return !strings.HasPrefix(string(stat[i+1:]), " Z")
}

func TestStartRefusesClusterWithLostCredentials(t *testing.T) {
	t.Parallel()
	dataDir := newDataDir(t)
	f := startFleet(t, dataDir, "eastus")
	require.NoError(t, f.Stop(context.Background()))
	statePath := filepath.Join(dataDir, "regions", "eastus", "region.json")
	opts := devregions.Options{DataDir: dataDir, Names: []string{"eastus"}}

	t.Run("StateFileOfBeforeAdminKinds", func(t *testing.T) {
		// region.json as written before managed regions: a superuser admin, no kind.
		b, err := os.ReadFile(statePath)
		require.NoError(t, err)
		var state map[string]any
		require.NoError(t, json.Unmarshal(b, &state))
		for _, k := range []string{"adminKind", "superuserUser", "superuserPassword"} {
			require.Contains(t, state, k)
			delete(state, k)
		}
		b, err = json.Marshal(state)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(statePath, b, 0o600))
		f, err := devregions.Start(context.Background(), opts)
		require.NoError(t, err)
		r := f.Regions()[0]
		require.NoError(t, f.Stop(context.Background()))
		require.Equal(t, devregions.AdminSuperuser, r.AdminKind)
		require.Equal(t, r.AdminUser, r.SuperuserUser)
		require.Equal(t, r.AdminPassword, r.SuperuserPassword)
	})
	t.Run("WrongPassword", func(t *testing.T) {
		b, err := os.ReadFile(statePath)
		require.NoError(t, err)
		var state map[string]any
		require.NoError(t, json.Unmarshal(b, &state))
		state["adminPassword"] = "not-the-password"
		b, err = json.Marshal(state)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(statePath, b, 0o600))
		_, err = devregions.Start(context.Background(), opts)
		require.ErrorContains(t, err, "created with other credentials")
	})
	t.Run("MissingCredentialsFile", func(t *testing.T) {
		require.NoError(t, os.Remove(statePath))
		_, err := devregions.Start(context.Background(), opts)
		require.ErrorContains(t, err, "credentials file "+statePath+" is missing")
	})
}
