package testenv

import "syscall"

// sysProcAttr has the kernel kill the child when the thread that started
// it exits, so a test binary that dies without running TestMain's Cleanup
// does not leave the server behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
