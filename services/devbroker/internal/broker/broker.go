// Package broker runs a single-node, in-process Kafka broker for development and tests, built
// on franz-go's kfake. It is not Kafka: it speaks the protocol well enough for the toptraffic
// services, keeps its state in a directory so a restarted dev stack finds its topics, records
// and committed offsets again, and never creates topics on its own.
package broker

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
)

// Config says where the broker listens and where it keeps its data.
type Config struct {
	// Addr is host:port. The host is bound as given and is also what clients are told to
	// connect to, so 0.0.0.0 binds everything but advertises an address remote clients cannot
	// use. Port 0 picks a free port; Addrs reports it.
	Addr string

	// DataDir is the persistence directory, relative to the working directory unless
	// absolute. Empty keeps everything in memory and loses it on Close.
	DataDir string

	// SyncWrites fsyncs each produced batch; without it batches reach the disk on segment
	// roll and on Close. Ignored when DataDir is empty.
	SyncWrites bool

	// GroupMinSessionTimeout and GroupMaxSessionTimeout bound the session timeout a consumer
	// group member may ask for; outside them JoinGroup fails.
	GroupMinSessionTimeout time.Duration
	GroupMaxSessionTimeout time.Duration
}

// Broker is a running kfake cluster of one node. It listens from New until Close.
type Broker struct {
	cluster *kfake.Cluster
	logger  *zap.Logger
	addrs   []string

	closeOnce sync.Once
	closed    chan struct{}
}

// New starts the broker: once it returns, the broker accepts connections on Addrs. With a
// DataDir it first loads whatever an earlier run left there.
func New(cfg Config, logger *zap.Logger) (*Broker, error) {
	host, portText, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("split listen address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("parse port of listen address %q: %w", cfg.Addr, err)
	}

	// Resolve the directory now so the log names the place the data really is, whatever
	// directory `make run` or a test happened to start in.
	dataDir := cfg.DataDir
	if dataDir != "" {
		if dataDir, err = filepath.Abs(dataDir); err != nil {
			return nil, fmt.Errorf("resolve data dir %q: %w", cfg.DataDir, err)
		}
	}
	syncWrites := cfg.SyncWrites && dataDir != ""

	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(int(port)),
		kfake.ListenFn(listenOn(host)),
		kfake.GroupMinSessionTimeout(cfg.GroupMinSessionTimeout),
		kfake.GroupMaxSessionTimeout(cfg.GroupMaxSessionTimeout),
		kfake.WithLogger(kfakeLogger{logger: logger.Named("kfake")}),
	}
	if dataDir != "" {
		opts = append(opts, kfake.DataDir(dataDir))
	}
	if syncWrites {
		opts = append(opts, kfake.SyncWrites())
	}

	cluster, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start kfake cluster on %s: %w", cfg.Addr, err)
	}

	// Ask for the addresses once, while the cluster runs: kfake answers through its event
	// loop, which is gone after Close.
	addrs := cluster.ListenAddrs()

	logger.Info("broker listening",
		zap.Strings("addrs", addrs),
		zap.String("data_dir", dataDir),
		zap.Bool("in_memory", dataDir == ""),
		zap.Bool("sync_writes", syncWrites),
		zap.Duration("group_min_session_timeout", cfg.GroupMinSessionTimeout),
		zap.Duration("group_max_session_timeout", cfg.GroupMaxSessionTimeout),
	)

	return &Broker{
		cluster: cluster,
		logger:  logger,
		addrs:   addrs,
		closed:  make(chan struct{}),
	}, nil
}

// listenOn binds kfake's listener to host. kfake always asks for 127.0.0.1 and the port from
// kfake.Ports; we keep the port and swap in the configured host.
func listenOn(host string) func(network, address string) (net.Listener, error) {
	return func(network, address string) (net.Listener, error) {
		_, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, fmt.Errorf("split kfake listen address %q: %w", address, err)
		}
		ln, err := net.Listen(network, net.JoinHostPort(host, port))
		if err != nil {
			return nil, fmt.Errorf("listen: %w", err)
		}
		return ln, nil
	}
}

// Addrs returns the host:port clients should bootstrap from.
func (b *Broker) Addrs() []string {
	return slices.Clone(b.addrs)
}

// Run blocks until ctx is done or the broker is closed. The broker serves from New on; Run
// only gives it the same lifecycle as the other long-running parts. It returns nil: kfake
// does not report failures of its own.
func (b *Broker) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
	case <-b.closed:
	}
	return nil
}

// Close stops the broker. In order, kfake closes its listeners and then, with a data dir,
// answers the offset commits already queued, writes its state and closes its files; last it
// stops its event loop, and its connection goroutines drop their clients shortly after Close
// returns. Close is safe to call more than once.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		start := time.Now()
		b.logger.Info("broker stopping")
		b.cluster.Close()
		close(b.closed)
		b.logger.Info("broker stopped", zap.Duration("took", time.Since(start)))
	})
	return nil
}
