// Package proxy forwards the gateway's stats routes to the query service, so producers and
// dashboards need to know only one address. A query service that is down or slow costs the
// caller at most the timeout, never a hang.
package proxy

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"

	"go.uber.org/zap"
)

// Config says where to forward and how long to wait.
type Config struct {
	// Target is the query service's base URL; the request path is appended to its path.
	Target *url.URL

	// Timeout bounds one forwarded request from dialling to the end of the response.
	Timeout time.Duration
}

// ErrorFunc answers a request that could not be forwarded.
type ErrorFunc func(w http.ResponseWriter, r *http.Request, err error)

// Proxy is an http.Handler that forwards every request it gets to the target.
type Proxy struct {
	rp        *httputil.ReverseProxy
	transport *http.Transport
	timeout   time.Duration
}

// New returns a Proxy that answers with onError when the target cannot be reached in time.
func New(cfg Config, logger *zap.Logger, onError ErrorFunc) *Proxy {
	transport := &http.Transport{
		// The target is named explicitly; an HTTP_PROXY in the environment must not
		// reroute it.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: cfg.Timeout}).DialContext,
		ResponseHeaderTimeout: cfg.Timeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   32,
	}
	target := cfg.Target
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.SetXForwarded()
			// A gateway token is for the gateway; the query service has no use for it.
			pr.Out.Header.Del("Authorization")
		},
		Transport: transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			logger.Warn("query service unavailable",
				zap.String("target", target.Redacted()),
				zap.Error(err),
			)
			onError(w, r, err)
		},
	}
	return &Proxy{rp: rp, transport: transport, timeout: cfg.Timeout}
}

// ServeHTTP forwards r within the timeout.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), p.timeout)
	defer cancel()
	p.rp.ServeHTTP(w, r.WithContext(ctx))
}

// Close drops the idle connections to the query service. It is safe to call more than once.
func (p *Proxy) Close() {
	p.transport.CloseIdleConnections()
}
