//go:build !linux

package acceptance

import "syscall"

// sysProcAttr starts dbfleetd with the defaults: only Linux can tie its
// lifetime to the test binary's.
func sysProcAttr() *syscall.SysProcAttr {
	return nil
}
