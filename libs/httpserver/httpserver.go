// Package httpserver runs an http.Handler with the timeouts and graceful stop every toptraffic
// service needs: slow clients are cut off, and on shutdown the listener closes first while
// requests in flight get a bounded time to finish.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Config holds the listener address and the server's limits. The zero value of a duration
// means the default from DefaultConfig, never "no limit".
type Config struct {
	// Addr is host:port to listen on; port 0 picks a free port (see Server.Addr).
	Addr string
	// ReadHeaderTimeout bounds how long a client may take to send its request headers; it is
	// what cuts off a client that sends one byte a second.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading the whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds the time from the end of the headers to the end of the response.
	WriteTimeout time.Duration
	// IdleTimeout bounds how long a keep-alive connection waits for its next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps the size of the request headers.
	MaxHeaderBytes int
	// ShutdownTimeout bounds how long requests in flight may run after shutdown starts.
	ShutdownTimeout time.Duration
}

// DefaultConfig returns the limits toptraffic documents, listening on addr.
func DefaultConfig(addr string) Config {
	return Config{
		Addr:              addr,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ShutdownTimeout:   15 * time.Second,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig(c.Addr)
	if c.ReadHeaderTimeout <= 0 {
		c.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = d.ReadTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = d.WriteTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = d.ShutdownTimeout
	}
	return c
}

// Server is an HTTP server with an explicit lifecycle: Listen, Run until the context ends,
// then a bounded graceful shutdown.
type Server struct {
	cfg    Config
	srv    *http.Server
	logger *zap.Logger

	mu sync.Mutex
	ln net.Listener
}

// New returns a Server for h. Nothing listens until Listen or Run.
func New(cfg Config, h http.Handler, logger *zap.Logger) *Server {
	cfg = cfg.withDefaults()
	return &Server{
		cfg:    cfg,
		logger: logger,
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout:       cfg.ReadTimeout,
			WriteTimeout:      cfg.WriteTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			MaxHeaderBytes:    cfg.MaxHeaderBytes,
			ErrorLog:          zap.NewStdLog(logger.Named("http")),
		},
	}
}

// Listen binds the address so that Addr is known before Run; Run calls it if needed.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	return nil
}

// Addr returns the bound address, or the configured one before Listen.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	return s.cfg.Addr
}

// Run serves until ctx is done, then stops accepting connections and waits up to
// ShutdownTimeout for requests in flight before closing the rest. It returns nil after a clean
// stop.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.logger.Info("http server listening", zap.String("addr", s.Addr()))

	serveErr := make(chan error, 1)
	go func() { serveErr <- s.srv.Serve(s.ln) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve http on %s: %w", s.Addr(), err)
	case <-ctx.Done():
	}

	s.logger.Info("http server stopping", zap.Duration("deadline", s.cfg.ShutdownTimeout))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(shutdownCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		// Requests still running past the deadline are cut off rather than left hanging.
		_ = s.srv.Close()
		s.logger.Warn("http server shutdown deadline passed, closed remaining connections")
	}
	if serr := <-serveErr; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return fmt.Errorf("serve http on %s: %w", s.Addr(), serr)
	}
	s.logger.Info("http server stopped")
	return nil
}
