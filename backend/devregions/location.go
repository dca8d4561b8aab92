package devregions

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// fallbackRoot holds the clusters the server user cannot keep under the data directory. Unlike
// /tmp it is not emptied at boot, so the clusters survive a reboot.
const fallbackRoot = "/var/tmp"

// fallbackPrefix begins the name of the directory under fallbackRoot that holds the clusters of
// one data directory.
const fallbackPrefix = "dbfleet-dev-"

// maxSocketPath is the longest Unix socket path PostgreSQL accepts: sizeof(sockaddr_un.sun_path)
// less the terminating NUL.
const maxSocketPath = 107

// socketPath is the path of the server's Unix socket in dir for the longest port number.
func socketPath(dir string) string {
	return filepath.Join(dir, ".s.PGSQL.65535")
}

// placement is where a region's cluster lives and, when that is outside the data directory, why.
type placement struct {
	dir    string
	reason string // empty when dir is the default location under the data directory
}

// placeCluster decides where a new cluster of region name lives: metaDir/cluster when the server
// user can reach metaDir (which exists) and the socket path fits, else a private directory under
// fallbackRoot keyed by the data directory.
func placeCluster(dataDir, metaDir, name string, u serverUser) (placement, error) {
	inside := filepath.Join(metaDir, "cluster")
	blocker, err := firstUnsearchable(metaDir, u)
	if err != nil {
		return placement{}, err
	}
	switch {
	case blocker != "":
		return placement{dir: fallbackDir(dataDir, name), reason: fmt.Sprintf("user %s cannot enter %s", u.name, blocker)}, nil
	case len(socketPath(inside)) > maxSocketPath:
		return placement{dir: fallbackDir(dataDir, name), reason: "the Unix socket path under the data directory would be too long"}, nil
	default:
		return placement{dir: inside}, nil
	}
}

// fallbackDir is the cluster directory of region name outside the data directory: one directory
// per data directory, so that several dev fleets on one machine never share a cluster. That
// directory records its owner (claimFallbackParent), so that a start can remove the clusters of a
// data directory that is gone (sweepFallback).
func fallbackDir(dataDir, name string) string {
	sum := sha256.Sum256([]byte(dataDir))
	return filepath.Join(fallbackRoot, fallbackPrefix+hex.EncodeToString(sum[:6]), name)
}

// firstUnsearchable returns the first of dir and its ancestors, from the root down, that the user
// may not pass through, or "" when it can reach dir.
func firstUnsearchable(dir string, u serverUser) (string, error) {
	var chain []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		chain = append(chain, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i := len(chain) - 1; i >= 0; i-- {
		fi, err := os.Stat(chain[i])
		if err != nil {
			return "", fmt.Errorf("checking access to %s: %w", chain[i], err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return "", fmt.Errorf("checking access to %s: no owner information", chain[i])
		}
		if !u.canSearch(st) {
			return chain[i], nil
		}
	}
	return "", nil
}

// ensurePrivateDir makes dir, if missing, a directory of the server user with mode 0700, and
// otherwise checks that it is one. It never changes an existing directory: a directory somebody
// else owns, or that others may enter, is an error that says what to do.
func ensurePrivateDir(dir string, u serverUser) error {
	err := os.Mkdir(dir, 0o700)
	switch {
	case err == nil:
		return u.chown(dir)
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("checking %s: %w", dir, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory; remove it", dir)
	case !ok || st.Uid != u.uid:
		return fmt.Errorf("%s is not owned by user %s, who runs the PostgreSQL dev clusters; "+
			"remove it, or run dbfleetd as the user that created it", dir, u.name)
	case fi.Mode().Perm()&0o077 != 0:
		return fmt.Errorf("%s has mode %v, but a cluster directory must be private (0700); remove it", dir, fi.Mode().Perm())
	}
	return nil
}
