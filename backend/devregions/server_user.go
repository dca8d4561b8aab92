package devregions

import (
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"syscall"
)

// serverUserName is the user the clusters run as when dbfleetd runs as root. PostgreSQL refuses to
// run as root; Debian's postgresql package creates this user.
const serverUserName = "postgres"

// serverUser is the operating system user that runs initdb and postgres, and so must own and
// reach the cluster directories.
type serverUser struct {
	name   string
	uid    uint32
	gid    uint32
	groups []uint32
	// switchTo is true when this process runs as root and starts the cluster processes as this
	// user; false when they run as the current user.
	switchTo bool
}

// lookupServerUser returns the current user, or the user postgres when running as root.
func lookupServerUser() (serverUser, error) {
	if os.Geteuid() != 0 {
		groups, err := os.Getgroups()
		if err != nil {
			return serverUser{}, fmt.Errorf("reading the groups of the current user: %w", err)
		}
		u := serverUser{name: strconv.Itoa(os.Geteuid()), uid: uint32(os.Geteuid()), gid: uint32(os.Getegid())}
		if cu, err := user.Current(); err == nil {
			u.name = cu.Username
		}
		for _, g := range groups {
			u.groups = append(u.groups, uint32(g))
		}
		return u, nil
	}
	pu, err := user.Lookup(serverUserName)
	if err != nil {
		return serverUser{}, fmt.Errorf("PostgreSQL refuses to run as root, so as root dbfleetd runs the dev clusters as the user %q, "+
			"which does not exist: install PostgreSQL (apt-get install -y postgresql creates it) or run dbfleetd as an unprivileged user: %w",
			serverUserName, err)
	}
	u := serverUser{name: pu.Username, switchTo: true}
	if u.uid, err = parseID(pu.Uid); err != nil {
		return serverUser{}, fmt.Errorf("reading the uid of user %s: %w", serverUserName, err)
	}
	if u.gid, err = parseID(pu.Gid); err != nil {
		return serverUser{}, fmt.Errorf("reading the gid of user %s: %w", serverUserName, err)
	}
	if u.uid == 0 {
		return serverUser{}, fmt.Errorf("user %s has uid 0; PostgreSQL refuses to run as root", serverUserName)
	}
	gids, err := pu.GroupIds()
	if err != nil {
		return serverUser{}, fmt.Errorf("reading the groups of user %s: %w", serverUserName, err)
	}
	for _, g := range gids {
		id, err := parseID(g)
		if err != nil {
			return serverUser{}, fmt.Errorf("reading the groups of user %s: %w", serverUserName, err)
		}
		u.groups = append(u.groups, id)
	}
	return u, nil
}

func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err
}

// credential returns what the cluster processes run as: nil (this process's own user) unless the
// user is switched.
func (u serverUser) credential() *syscall.Credential {
	if !u.switchTo {
		return nil
	}
	return &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: u.groups}
}

// chown gives path, which this process has just created, to the server user.
func (u serverUser) chown(path string) error {
	if !u.switchTo {
		return nil
	}
	if err := os.Lchown(path, int(u.uid), int(u.gid)); err != nil {
		return fmt.Errorf("giving %s to user %s: %w", path, u.name, err)
	}
	return nil
}

// canSearch reports whether the user may pass through a directory with this owner, group and
// mode, by the classic permission bits (the owner's bits alone apply to the owner, the group's to
// its members). ACLs are not consulted.
func (u serverUser) canSearch(st *syscall.Stat_t) bool {
	switch {
	case u.uid == 0:
		return true
	case st.Uid == u.uid:
		return st.Mode&0o100 != 0
	case st.Gid == u.gid || slices.Contains(u.groups, st.Gid):
		return st.Mode&0o010 != 0
	default:
		return st.Mode&0o001 != 0
	}
}
