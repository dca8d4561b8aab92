package acceptance

import "syscall"

// sysProcAttr has the kernel send dbfleetd SIGTERM when the thread that
// started it exits: when the test binary dies without TestMain's cleanup (a
// -timeout panic, say), dbfleetd still stops its PostgreSQL servers.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
