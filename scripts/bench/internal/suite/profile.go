package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"go.uber.org/zap"

	"toptraffic/scripts/bench/internal/procs"
)

// profileEnvVar names the file a profiled service writes its CPU profile to.
const profileEnvVar = "BENCH_CPUPROFILE"

// profileWritten is the line the hook prints once the profile is on disk.
const profileWritten = "bench: cpu profile written"

// profileHook is added to the main package of the gateway and the aggregator with
// `go build -overlay`, so the services' source stays as it is. With BENCH_CPUPROFILE set, the
// process profiles its CPU from start until it gets SIGUSR1, which the services do not use,
// writes the profile and says so; the benchmark then stops the service as usual. Stopping the
// profile on SIGTERM instead would race the service's own exit.
const profileHook = `package main

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func init() {
	path := os.Getenv("` + profileEnvVar + `")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench cpu profile:", err)
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "bench cpu profile:", err)
		return
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGUSR1)
	go func() {
		<-stop
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "bench cpu profile:", err)
			return
		}
		fmt.Fprintln(os.Stderr, "` + profileWritten + `")
	}()
}
`

// stopProfile makes a profiled service write its profile and waits until it has.
func (s *suite) stopProfile(p *procs.Proc) {
	if !s.profiled[p.Name] {
		return
	}
	if err := p.Signal(syscall.SIGUSR1); err != nil {
		s.logger.Warn("ask for the profile failed", zap.String("name", p.Name), zap.Error(err))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := p.WaitLines(ctx, profileWritten, 1); err != nil {
		s.logger.Warn("profile not written", zap.String("name", p.Name), zap.Error(err))
	}
}

// buildProfiled builds the gateway and the aggregator with the profile hook into the
// temporary directory and uses those binaries for the run.
func (s *suite) buildProfiled(ctx context.Context) error {
	if s.cfg.Repo == "" {
		return errors.New("profile: the repository root is unknown")
	}
	hook := filepath.Join(s.tmp, "bench_cpuprofile.go")
	if err := os.WriteFile(hook, []byte(profileHook), 0o644); err != nil {
		return fmt.Errorf("profile: write hook: %w", err)
	}
	services := []string{"ingest", "aggregator"}
	replace := map[string]string{}
	for _, svc := range services {
		dst := filepath.Join(s.cfg.Repo, "services", svc, "cmd", svc, "zz_bench_cpuprofile.go")
		replace[dst] = hook
	}
	overlay, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		return fmt.Errorf("profile: encode overlay: %w", err)
	}
	overlayPath := filepath.Join(s.tmp, "overlay.json")
	if err := os.WriteFile(overlayPath, overlay, 0o644); err != nil {
		return fmt.Errorf("profile: write overlay: %w", err)
	}
	for _, svc := range services {
		bin := filepath.Join(s.tmp, "bin", svc)
		cmd := exec.CommandContext(ctx, "go", "build", "-overlay", overlayPath, "-o", bin,
			"./services/"+svc+"/cmd/"+svc)
		cmd.Dir = s.cfg.Repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("profile: build %s: %w\n%s", svc, err, out)
		}
		s.bins[svc] = bin
	}
	s.logger.Info("built profiling variants", zap.Strings("services", services))
	return nil
}

// collectProfile writes the top of a profile a stopped service left as text next to it.
func (s *suite) collectProfile(name, service string) error {
	if !s.cfg.Profile {
		return nil
	}
	prof := s.profilePath(name)
	if _, err := os.Stat(prof); err != nil {
		s.logger.Warn("no profile written", zap.String("name", name), zap.Error(err))
		return nil
	}
	// Copy the binary next to the profile so it can be explored later with go tool pprof.
	bin := filepath.Join(s.cfg.Out, "profiles", service)
	if b, err := os.ReadFile(s.bins[service]); err == nil {
		_ = os.WriteFile(bin, b, 0o755)
	}
	for _, view := range []struct {
		suffix string
		flags  []string
	}{
		{".top.txt", []string{"-top"}},
		{".cum.txt", []string{"-top", "-cum"}},
	} {
		args := append([]string{"tool", "pprof", "-nodecount=40"}, view.flags...)
		args = append(args, bin, prof)
		out, err := exec.Command("go", args...).Output()
		if err != nil {
			return fmt.Errorf("profile %s: go tool pprof: %w", name, err)
		}
		path := filepath.Join(s.cfg.Out, "profiles", name+view.suffix)
		if err := os.WriteFile(path, out, 0o644); err != nil {
			return fmt.Errorf("profile %s: %w", name, err)
		}
		s.report.Profiles = append(s.report.Profiles, path)
	}
	return nil
}
