package devregions

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClaimFallbackParent(t *testing.T) {
	t.Parallel()
	me := currentUser(t)

	t.Run("MakesPrivateDirWithRecord", func(t *testing.T) {
		t.Parallel()
		parent, dataDir := filepath.Join(t.TempDir(), "p"), t.TempDir()
		require.NoError(t, claimFallbackParent(parent, dataDir, me))
		fi, err := os.Stat(parent)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
		id, err := readDataDirID(dataDir)
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(parent, ownerFileName))
		require.NoError(t, err)
		require.Equal(t, dataDir+"\n"+id+"\n", string(b))
		require.NoFileExists(t, filepath.Join(parent, ownerTmpName))
	})
	t.Run("KeepsTheDataDirID", func(t *testing.T) {
		t.Parallel()
		dataDir := t.TempDir()
		a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
		require.NoError(t, claimFallbackParent(a, dataDir, me))
		require.NoError(t, claimFallbackParent(b, dataDir, me))
		oa, err := readOwner(a, me)
		require.NoError(t, err)
		ob, err := readOwner(b, me)
		require.NoError(t, err)
		require.Equal(t, oa, ob)
	})
	t.Run("RecordsTheLatestOwner", func(t *testing.T) {
		t.Parallel()
		parent, first, second := filepath.Join(t.TempDir(), "p"), t.TempDir(), t.TempDir()
		require.NoError(t, claimFallbackParent(parent, first, me))
		require.NoError(t, claimFallbackParent(parent, second, me))
		o, err := readOwner(parent, me)
		require.NoError(t, err)
		require.Equal(t, second, o.dataDir)
	})
	t.Run("RefusesDirOfAnotherUser", func(t *testing.T) {
		t.Parallel()
		parent := filepath.Join(t.TempDir(), "p")
		require.NoError(t, os.Mkdir(parent, 0o700))
		require.ErrorContains(t, claimFallbackParent(parent, t.TempDir(), stranger), "not owned by user stranger")
		require.NoFileExists(t, filepath.Join(parent, ownerFileName))
	})
	t.Run("MakesItAnewWhenRemovedWhileWaiting", func(t *testing.T) {
		t.Parallel()
		parent, dataDir := filepath.Join(t.TempDir(), "p"), t.TempDir()
		require.NoError(t, claimFallbackParent(parent, t.TempDir(), me))
		lock, err := lockDir(parent, true)
		require.NoError(t, err)
		claimed := make(chan error, 1)
		go func() { claimed <- claimFallbackParent(parent, dataDir, me) }()
		// A sweep removes the directory while holding its lock; the claim, waiting for the lock
		// or not started yet, must end with a directory of its own.
		require.NoError(t, os.RemoveAll(parent))
		require.NoError(t, lock.Close())
		require.NoError(t, <-claimed)
		o, err := readOwner(parent, me)
		require.NoError(t, err)
		require.Equal(t, dataDir, o.dataDir)
	})
}

func TestLockDir(t *testing.T) {
	t.Parallel()

	t.Run("SecondLockFailsWithoutWaiting", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		lock, err := lockDir(dir, false)
		require.NoError(t, err)
		_, err = lockDir(dir, false)
		require.ErrorIs(t, err, errDirLocked)
		require.NoError(t, lock.Close())
		again, err := lockDir(dir, false)
		require.NoError(t, err, "closing releases the lock")
		require.NoError(t, again.Close())
	})
	t.Run("WaiterSeesDirReplaced", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "d")
		require.NoError(t, os.Mkdir(dir, 0o700))
		lock, err := lockDir(dir, true)
		require.NoError(t, err)
		waited := make(chan error, 1)
		go func() {
			l, err := lockDir(dir, true)
			if err == nil {
				l.Close()
			}
			waited <- err
		}()
		require.NoError(t, os.Rename(dir, dir+".old"))
		require.NoError(t, os.Mkdir(dir, 0o700))
		require.NoError(t, lock.Close())
		// Whether it opened the old directory and waited, or opened the new one after the rename.
		if err := <-waited; err != nil {
			require.ErrorIs(t, err, errDirReplaced)
		}
	})
	t.Run("RefusesSymlink", func(t *testing.T) {
		t.Parallel()
		link := filepath.Join(t.TempDir(), "link")
		require.NoError(t, os.Symlink(t.TempDir(), link))
		_, err := lockDir(link, false)
		require.Error(t, err)
	})
}

func TestReadOwner(t *testing.T) {
	t.Parallel()
	me := currentUser(t)
	tests := []struct {
		name    string
		content string
		symlink bool
		want    owner
		wantErr string
	}{
		{name: "PathAndID", content: "/srv/a\nID\n", want: owner{dataDir: "/srv/a", id: "ID"}},
		{name: "NoID", content: "/srv/a\n", wantErr: "no absolute path and id"},
		{name: "Relative", content: "srv/a\nID\n", wantErr: "no absolute path and id"},
		{name: "NotClean", content: "/srv/../a\nID\n", wantErr: "no absolute path and id"},
		{name: "NoNewline", content: "/srv/a\nID", wantErr: "not lines of text"},
		{name: "ThreeLines", content: "/srv/a\nID\nmore\n", wantErr: "no absolute path and id"},
		{name: "Symlink", content: "/srv/a\nID\n", symlink: true, wantErr: "too many levels of symbolic links"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent := t.TempDir()
			path := filepath.Join(parent, ownerFileName)
			if tt.symlink {
				target := filepath.Join(t.TempDir(), "elsewhere")
				require.NoError(t, os.WriteFile(target, []byte(tt.content), 0o600))
				require.NoError(t, os.Symlink(target, path))
			} else {
				require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o600))
			}
			got, err := readOwner(parent, me)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
	t.Run("OtherUsersRecord", func(t *testing.T) {
		t.Parallel()
		parent := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(parent, ownerFileName), []byte("/srv/a\nID\n"), 0o600))
		_, err := readOwner(parent, stranger)
		require.ErrorContains(t, err, "not a file of user stranger")
	})
	t.Run("Missing", func(t *testing.T) {
		t.Parallel()
		_, err := readOwner(t.TempDir(), me)
		require.ErrorIs(t, err, os.ErrNotExist)
	})
}

func TestEnsureDataDirID(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	id, err := ensureDataDirID(dataDir)
	require.NoError(t, err)
	require.NotEmpty(t, id)
	again, err := ensureDataDirID(dataDir)
	require.NoError(t, err)
	require.Equal(t, id, again, "the id stays")
	other, err := ensureDataDirID(t.TempDir())
	require.NoError(t, err)
	require.NotEqual(t, id, other)
	_, err = ensureDataDirID(filepath.Join(t.TempDir(), "gone"))
	require.ErrorIs(t, err, os.ErrNotExist, "the data directory must exist")
}
