package devregions

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"
)

// sweepSetup is a fallback root with one fallback directory in it, as claimFallbackParent makes it
// for the data directory dataDir.
type sweepSetup struct {
	root, parent, dataDir string
}

func newSweepSetup(t *testing.T) sweepSetup {
	t.Helper()
	root := t.TempDir()
	s := sweepSetup{root: root, parent: filepath.Join(root, fallbackPrefix+"0123456789ab"), dataDir: filepath.Join(t.TempDir(), "data")}
	require.NoError(t, os.Mkdir(s.dataDir, 0o700))
	require.NoError(t, claimFallbackParent(s.parent, s.dataDir, currentUser(t)))
	return s
}

// cluster makes the cluster directory of region name in the fallback directory and returns it.
func (s sweepSetup) cluster(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(s.parent, name)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "data"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "data", "PG_VERSION"), []byte("17\n"), 0o600))
	return dir
}

func (s sweepSetup) sweep(t *testing.T, u serverUser) {
	t.Helper()
	sweepFallback(s.root, u, zerolog.New(zerolog.NewTestWriter(t)))
}

// deadPID returns the id of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	return cmd.Process.Pid
}

func writePostmasterPID(t *testing.T, clusterDir string, pid int) {
	t.Helper()
	content := strconv.Itoa(pid) + "\n" + filepath.Join(clusterDir, "data") + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(clusterDir, "data", "postmaster.pid"), []byte(content), 0o600))
}

func TestSweepFallback(t *testing.T) {
	t.Parallel()
	me := currentUser(t)

	t.Run("RemovesClustersOfDeletedDataDir", func(t *testing.T) {
		t.Parallel()
		s := newSweepSetup(t)
		s.cluster(t, "westeurope")
		s.cluster(t, "eastus")
		require.NoError(t, os.RemoveAll(s.dataDir))
		s.sweep(t, me)
		require.NoDirExists(t, s.parent)
	})
	t.Run("RemovesClustersOfRecreatedDataDir", func(t *testing.T) {
		t.Parallel()
		// rm -rf .dbfleet-dev, then dbfleetd dev: the path is back, the id is not.
		s := newSweepSetup(t)
		s.cluster(t, "westeurope")
		require.NoError(t, os.RemoveAll(s.dataDir))
		require.NoError(t, os.Mkdir(s.dataDir, 0o700))
		s.sweep(t, me)
		require.NoDirExists(t, s.parent)
	})
	t.Run("KeepsClustersOfDataDirThatExists", func(t *testing.T) {
		t.Parallel()
		s := newSweepSetup(t)
		dir := s.cluster(t, "westeurope")
		s.sweep(t, me)
		require.DirExists(t, dir)
		require.FileExists(t, filepath.Join(s.parent, ownerFileName))
	})
	t.Run("KeepsClusterWhoseServerRuns", func(t *testing.T) {
		t.Parallel()
		s := newSweepSetup(t)
		running := s.cluster(t, "westeurope")
		writePostmasterPID(t, running, os.Getpid())
		stopped := s.cluster(t, "eastus")
		writePostmasterPID(t, stopped, deadPID(t))
		require.NoError(t, os.RemoveAll(s.dataDir))
		s.sweep(t, me)
		require.DirExists(t, running)
		require.NoDirExists(t, stopped, "a stale postmaster.pid of a dead process does not keep a cluster")
	})
	t.Run("KeepsDirLockedByAnotherProcess", func(t *testing.T) {
		t.Parallel()
		s := newSweepSetup(t)
		require.NoError(t, os.RemoveAll(s.dataDir))
		dir := s.cluster(t, "westeurope")
		lock, err := lockDir(s.parent, false)
		require.NoError(t, err)
		s.sweep(t, me)
		require.DirExists(t, dir)
		require.NoError(t, lock.Close())
		s.sweep(t, me)
		require.NoDirExists(t, s.parent)
	})
	t.Run("NeverFollowsSymlinks", func(t *testing.T) {
		t.Parallel()
		s := newSweepSetup(t)
		require.NoError(t, os.RemoveAll(s.dataDir))
		elsewhere := t.TempDir()
		precious := filepath.Join(elsewhere, "precious")
		require.NoError(t, os.WriteFile(precious, nil, 0o600))
		require.NoError(t, os.Symlink(elsewhere, filepath.Join(s.parent, "westeurope")))
		require.NoError(t, os.Symlink(s.parent, filepath.Join(s.root, fallbackPrefix+"ba9876543210")))
		s.sweep(t, me)
		require.FileExists(t, precious)
		require.DirExists(t, s.parent, "a link it does not know keeps the directory")
	})
	t.Run("LeavesOtherNamesAlone", func(t *testing.T) {
		t.Parallel()
		s := newSweepSetup(t)
		require.NoError(t, os.RemoveAll(s.dataDir))
		other := filepath.Join(s.root, "dbfleet-dev-notahash")
		require.NoError(t, os.Rename(s.parent, other))
		s.sweep(t, me)
		require.DirExists(t, other)
	})
}

// TestSweepFallbackKeeps holds the sweep to what it may remove: each case's cluster would go but
// for what the case changes.
func TestSweepFallbackKeeps(t *testing.T) {
	t.Parallel()
	me := currentUser(t)
	tests := []struct {
		name string
		// keepDataDir keeps the owner's data directory, which the other cases delete.
		keepDataDir bool
		prepare     func(t *testing.T, s sweepSetup)
		user        *serverUser
	}{
		{name: "WhenTheIDCannotBeRead", keepDataDir: true, prepare: func(t *testing.T, s sweepSetup) {
			require.NoError(t, os.WriteFile(filepath.Join(s.dataDir, dataDirIDName), []byte("no newline"), 0o600))
		}},
		{name: "DirWithoutRecord", prepare: func(t *testing.T, s sweepSetup) {
			require.NoError(t, os.Remove(filepath.Join(s.parent, ownerFileName)))
		}},
		{name: "DirOthersMayEnter", prepare: func(t *testing.T, s sweepSetup) {
			require.NoError(t, os.Chmod(s.parent, 0o755))
		}},
		{name: "DirOfAnotherUser", user: &stranger},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSweepSetup(t)
			dir := s.cluster(t, "westeurope")
			if !tt.keepDataDir {
				require.NoError(t, os.RemoveAll(s.dataDir))
			}
			if tt.prepare != nil {
				tt.prepare(t, s)
			}
			u := me
			if tt.user != nil {
				u = *tt.user
			}
			s.sweep(t, u)
			require.DirExists(t, dir)
		})
	}
}

// fallbackParents lists the fallback directories under fallbackRoot.
func fallbackParents(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(fallbackRoot)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		if fallbackParentPattern.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestStartRemovesClustersOfDeletedDataDir deletes the data directories of real fleets whose
// clusters live under /var/tmp and checks that the next start of a fleet removes them, but not
// while their server runs.
func TestStartRemovesClustersOfDeletedDataDir(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	log := zerolog.New(zerolog.NewTestWriter(t))
	before := fallbackParents(t)
	// Socket paths this long under the data directory send the clusters to /var/tmp, whoever runs
	// the test.
	deleted := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	next := filepath.Join(t.TempDir(), strings.Repeat("n", 100))
	start := func(dataDir string) *Fleet {
		t.Helper()
		f, err := Start(ctx, Options{DataDir: dataDir, Names: []string{"westeurope"}, Logger: log})
		require.NoError(t, err)
		return f
	}

	f := start(deleted)
	orphan := filepath.Dir(f.Regions()[0].ClusterDir)
	require.Equal(t, FallbackParent(deleted), orphan)
	t.Cleanup(func() { _ = os.RemoveAll(orphan) })
	require.NoError(t, os.RemoveAll(deleted), "the data directory goes while its fleet runs")

	g := start(next)
	t.Cleanup(func() { _ = RemoveClusters(next, "westeurope") })
	require.DirExists(t, orphan, "a cluster whose server runs stays")
	require.NoError(t, g.Stop(ctx))
	require.NoError(t, f.Stop(ctx))
	require.DirExists(t, orphan, "stopping leaves the clusters of a deleted data directory")

	g = start(next)
	require.NoDirExists(t, orphan, "the next start removes them")
	require.NoError(t, g.Stop(ctx))
	require.NoError(t, RemoveClusters(next, "westeurope"))

	var added []string
	for _, name := range fallbackParents(t) {
		if !slices.Contains(before, name) {
			added = append(added, name)
		}
	}
	// Other test processes may start and stop fleets meanwhile; neither of these may remain.
	require.NotContains(t, added, filepath.Base(orphan))
	require.NotContains(t, added, filepath.Base(FallbackParent(next)))
}
