package devregions

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// currentUser is the user running the test, as the server user of a non-root dbfleetd.
func currentUser(t *testing.T) serverUser {
	t.Helper()
	return serverUser{name: "me", uid: uint32(os.Geteuid()), gid: uint32(os.Getegid())}
}

// stranger is a user that owns nothing here and is in no group of the test's files.
var stranger = serverUser{name: "stranger", uid: 4242, gid: 4242}

func TestCanSearch(t *testing.T) {
	t.Parallel()
	u := serverUser{uid: 100, gid: 200, groups: []uint32{300}}
	tests := []struct {
		name string
		user serverUser
		st   syscall.Stat_t
		want bool
	}{
		{name: "OwnerWithOwnerBit", user: u, st: syscall.Stat_t{Uid: 100, Gid: 1, Mode: 0o700}, want: true},
		{name: "OwnerIgnoresOtherBits", user: u, st: syscall.Stat_t{Uid: 100, Gid: 1, Mode: 0o077}, want: false},
		{name: "PrimaryGroup", user: u, st: syscall.Stat_t{Uid: 1, Gid: 200, Mode: 0o750}, want: true},
		{name: "SupplementaryGroup", user: u, st: syscall.Stat_t{Uid: 1, Gid: 300, Mode: 0o710}, want: true},
		{name: "GroupWithoutBit", user: u, st: syscall.Stat_t{Uid: 1, Gid: 300, Mode: 0o705}, want: false},
		{name: "Other", user: u, st: syscall.Stat_t{Uid: 1, Gid: 1, Mode: 0o755}, want: true},
		{name: "ClosedToOthers", user: u, st: syscall.Stat_t{Uid: 1, Gid: 1, Mode: 0o700}, want: false},
		{name: "RootPassesAnything", user: serverUser{}, st: syscall.Stat_t{Uid: 1, Gid: 1, Mode: 0o000}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.user.canSearch(&tt.st))
		})
	}
}

func TestPlaceCluster(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir() // t.TempDir's parent is 0700: closed to everyone but its owner
	metaDir := filepath.Join(dataDir, "regions", "westeurope")
	require.NoError(t, os.MkdirAll(metaDir, 0o755))
	long := filepath.Join(dataDir, strings.Repeat("d", 100), "regions", "westeurope")
	require.NoError(t, os.MkdirAll(long, 0o755))

	t.Run("InsideWhenReachable", func(t *testing.T) {
		t.Parallel()
		p, err := placeCluster(dataDir, metaDir, "westeurope", currentUser(t))
		require.NoError(t, err)
		require.Equal(t, placement{dir: filepath.Join(metaDir, "cluster")}, p)
	})
	t.Run("OutsideWhenAParentIsClosed", func(t *testing.T) {
		t.Parallel()
		p, err := placeCluster(dataDir, metaDir, "westeurope", stranger)
		require.NoError(t, err)
		require.Equal(t, fallbackDir(dataDir, "westeurope"), p.dir)
		require.Contains(t, p.reason, "user stranger cannot enter "+filepath.Dir(dataDir))
	})
	t.Run("OutsideWhenSocketPathTooLong", func(t *testing.T) {
		t.Parallel()
		p, err := placeCluster(dataDir, long, "westeurope", currentUser(t))
		require.NoError(t, err)
		require.Equal(t, fallbackDir(dataDir, "westeurope"), p.dir)
		require.Contains(t, p.reason, "socket path")
	})
	t.Run("FallbackIsPerDataDirAndRegion", func(t *testing.T) {
		t.Parallel()
		a := fallbackDir("/srv/a", "eastus")
		require.True(t, strings.HasPrefix(a, "/var/tmp/dbfleet-dev-"), a)
		require.Equal(t, "eastus", filepath.Base(a))
		require.NotEqual(t, a, fallbackDir("/srv/b", "eastus"))
		require.LessOrEqual(t, len(socketPath(a)), maxSocketPath)
	})
}

func TestEnsurePrivateDir(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	me := currentUser(t)

	t.Run("CreatesPrivateDir", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(root, "new")
		require.NoError(t, ensurePrivateDir(dir, me))
		fi, err := os.Stat(dir)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
		require.NoError(t, ensurePrivateDir(dir, me), "an existing private dir is fine")
	})
	t.Run("RefusesOpenDirWithoutChangingIt", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(root, "open")
		require.NoError(t, os.Mkdir(dir, 0o700))
		require.NoError(t, os.Chmod(dir, 0o755))
		require.ErrorContains(t, ensurePrivateDir(dir, me), "must be private")
		fi, err := os.Stat(dir)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
	})
	t.Run("RefusesDirOfAnotherUser", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(root, "theirs")
		require.NoError(t, os.Mkdir(dir, 0o700))
		require.ErrorContains(t, ensurePrivateDir(dir, stranger), "not owned by user stranger")
	})
	t.Run("RefusesSymlink", func(t *testing.T) {
		t.Parallel()
		target := filepath.Join(root, "target")
		require.NoError(t, os.Mkdir(target, 0o700))
		link := filepath.Join(root, "link")
		require.NoError(t, os.Symlink(target, link))
		require.ErrorContains(t, ensurePrivateDir(link, me), "not a directory")
	})
}
