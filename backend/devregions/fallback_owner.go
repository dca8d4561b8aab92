package devregions

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// A fleet that keeps its clusters outside its data directory keeps them in one directory per data
// directory, fallbackDir's parent (/var/tmp/dbfleet-dev-<hash>), which records the data directory
// that owns it in a file of two lines: the absolute path, then the random id that the data
// directory keeps in its own file. A later start anywhere tells its clusters from the orphans of
// a data directory that is gone by that record (sweepFallback): the path alone would not tell a
// data directory deleted and made anew (rm -rf .dbfleet-dev, then dbfleetd dev) from the first.
const (
	ownerFileName = "owner"
	// ownerTmpName is where the record is written before it is renamed into place.
	ownerTmpName = "owner.tmp"
	// dataDirIDName is the file in the data directory that holds its id.
	dataDirIDName = "fallback.id"
	// maxRecordSize bounds what is read of a record or an id file.
	maxRecordSize = 4096
)

// owner is what a fallback directory records of the data directory that owns it.
type owner struct {
	dataDir string
	id      string
}

var (
	// errDirReplaced marks a directory removed or replaced between opening it and holding its lock.
	errDirReplaced = errors.New("directory was removed or replaced while being locked")
	// errDirLocked marks a directory whose lock another process holds.
	errDirLocked = errors.New("directory is locked by another process")
)

// claimFallbackParent makes parent, the directory of a fleet's clusters outside its data
// directory dataDir, a private directory of the server user that records dataDir, and its id,
// as its owner. It holds the directory's lock meanwhile, so that a sweep in another process,
// which holds it too, never sees the directory without its record nor removes it while it is
// being claimed.
func claimFallbackParent(parent, dataDir string, u serverUser) error {
	id, err := ensureDataDirID(dataDir)
	if err != nil {
		return err
	}
	const attempts = 3
	for range attempts {
		if err := ensurePrivateDir(parent, u); err != nil {
			return err
		}
		lock, err := lockDir(parent, true)
		if errors.Is(err, errDirReplaced) {
			continue // a sweep removed it while this waited for the lock: make it anew
		}
		if err != nil {
			return err
		}
		err = writeOwner(parent, owner{dataDir: dataDir, id: id}, u)
		lock.Close()
		return err
	}
	return fmt.Errorf("claiming %s: it was removed while being claimed, %d times", parent, attempts)
}

// ensureDataDirID returns the id of the data directory dataDir, making one on first use.
func ensureDataDirID(dataDir string) (string, error) {
	id, err := readDataDirID(dataDir)
	if !errors.Is(err, fs.ErrNotExist) {
		return id, err
	}
	path := filepath.Join(dataDir, dataDirIDName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readDataDirID(dataDir) // another fleet on this data directory was faster
	}
	if err != nil {
		return "", fmt.Errorf("creating %s: %w", path, err)
	}
	id = rand.Text()
	_, err = f.WriteString(id + "\n")
	if err = errors.Join(err, f.Close()); err != nil {
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return id, nil
}

// readDataDirID returns the id kept in the data directory dataDir; an error that matches
// fs.ErrNotExist when the data directory, or its id, is gone.
func readDataDirID(dataDir string) (string, error) {
	lines, err := readSmallFile(filepath.Join(dataDir, dataDirIDName), nil)
	if err != nil {
		return "", err
	}
	if len(lines) != 1 || lines[0] == "" {
		return "", fmt.Errorf("reading %s: it holds no id", filepath.Join(dataDir, dataDirIDName))
	}
	return lines[0], nil
}

// lockDir opens dir, which must be a directory and not a symbolic link, and takes its exclusive
// flock: waiting for it when wait is true, else failing with errDirLocked. Closing the returned
// file releases the lock. It fails with errDirReplaced when dir was removed or replaced by the
// time the lock was held.
func lockDir(dir string, wait bool) (*os.File, error) {
	fd, err := syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if errors.Is(err, syscall.ENOENT) {
		return nil, errDirReplaced
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s to lock it: %w", dir, err)
	}
	f := os.NewFile(uintptr(fd), dir)
	how := syscall.LOCK_EX
	if !wait {
		how |= syscall.LOCK_NB
	}
	if err := syscall.Flock(fd, how); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errDirLocked
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	held, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	if now, err := os.Lstat(dir); err != nil || !os.SameFile(held, now) {
		f.Close()
		return nil, errDirReplaced
	}
	return f, nil
}

// writeOwner records o as the owner of parent, whose lock the caller holds, unless the record
// says so already. The record belongs to the server user, as parent does.
func writeOwner(parent string, o owner, u serverUser) error {
	if cur, err := readOwner(parent, u); err == nil && cur == o {
		return nil
	}
	tmp := filepath.Join(parent, ownerTmpName)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("recording the owner of %s: %w", parent, err)
	}
	_, err = f.WriteString(o.dataDir + "\n" + o.id + "\n")
	if err = errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("recording the owner of %s: %w", parent, err)
	}
	if err := u.chown(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(parent, ownerFileName)); err != nil {
		return fmt.Errorf("recording the owner of %s: %w", parent, err)
	}
	return nil
}

// readOwner returns the owner that parent's record names. The record must be a regular file of
// the server user, never followed through a symbolic link, that holds an absolute, clean path and
// an id; a missing record is an error that matches fs.ErrNotExist.
func readOwner(parent string, u serverUser) (owner, error) {
	path := filepath.Join(parent, ownerFileName)
	lines, err := readSmallFile(path, &u)
	if err != nil {
		return owner{}, err
	}
	if len(lines) != 2 || !filepath.IsAbs(lines[0]) || filepath.Clean(lines[0]) != lines[0] || lines[1] == "" {
		return owner{}, fmt.Errorf("reading the owner record %s: it holds no absolute path and id", path)
	}
	return owner{dataDir: lines[0], id: lines[1]}, nil
}

// readSmallFile returns the lines of the regular file at path, each ended by a newline, never
// following a symbolic link. With u, the file must be u's.
func readSmallFile(path string, u *serverUser) ([]string, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("reading %s: not a regular file", path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); u != nil && (!ok || st.Uid != u.uid) {
		return nil, fmt.Errorf("reading %s: not a file of user %s", path, u.name)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxRecordSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	content, ok := strings.CutSuffix(string(b), "\n")
	if !ok || len(b) > maxRecordSize || strings.ContainsRune(content, 0) {
		return nil, fmt.Errorf("reading %s: not lines of text", path)
	}
	return strings.Split(content, "\n"), nil
}

// removeFallbackParentIfEmpty removes parent and its owner record when it holds nothing else.
func removeFallbackParentIfEmpty(parent string) error {
	entries, err := os.ReadDir(parent)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("removing %s: %w", parent, err)
	}
	for _, e := range entries {
		if e.Name() != ownerFileName && e.Name() != ownerTmpName {
			return nil
		}
	}
	for _, name := range []string{ownerTmpName, ownerFileName, ""} {
		if err := os.Remove(filepath.Join(parent, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing %s: %w", parent, err)
		}
	}
	return nil
}
