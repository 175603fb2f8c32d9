//go:build !linux

package funchost

import "syscall"

// workerSysProcAttr: only Linux can tie the worker's life to the host's; on
// other systems a SIGKILLed host may leave the worker running.
func workerSysProcAttr() *syscall.SysProcAttr { return nil }
