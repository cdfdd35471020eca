package lifecycle

import (
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestSecondSignalForcesExit(t *testing.T) {
	exited := make(chan int, 1)
	ctx, stop := SignalContext(zap.NewNop(), func(code int) { exited <- code })
	defer stop()

	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("first SIGTERM did not cancel the context")
	}
	select {
	case code := <-exited:
		t.Fatalf("exit(%d) after one signal, want a graceful shutdown", code)
	default:
	}

	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-exited:
		if code != 1 {
			t.Fatalf("exit(%d), want exit(1)", code)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second SIGTERM did not force exit")
	}
}
