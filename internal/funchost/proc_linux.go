package funchost

import "syscall"

// workerSysProcAttr makes the kernel SIGKILL the worker when the host dies,
// even by SIGKILL, so that no orphan keeps the port or consumes messages.
func workerSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
