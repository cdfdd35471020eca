// Package api serves the statistics over HTTP: the ten busiest domains of the last full minute
// and of the last full hour, plus liveness and readiness probes for the orchestrator.
//
// "Last full" is decided on the injected clock with window.LastFull, so the answer flips to the
// next window at exactly the window edge and tests can pin that edge.
package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"toptraffic/libs/clock"
	"toptraffic/libs/topk"
	"toptraffic/libs/window"
)

// TopN is how many domains a statistics answer lists at most.
const TopN = 10

// Response headers that carry the bounds of the window an answer describes, in RFC 3339 UTC.
// They are headers, not body fields, so the body keeps the seed's shape.
const (
	HeaderWindowStart = "X-Window-Start"
	HeaderWindowEnd   = "X-Window-End"
)

// Error codes of the JSON error body.
const (
	CodeWarmingUp        = "warming_up"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeInternal         = "internal"
)

// warmingUpMessage tells a client why it got 503 and what to do about it.
const warmingUpMessage = "query service is still loading snapshots; retry shortly"

// Store is what the handlers read; *store.Store implements it.
type Store interface {
	// Top returns at most n entries of window w, best first, never nil.
	Top(w window.Window, n int) []topk.Entry
	// CaughtUp reports whether the initial load of the snapshots is complete.
	CaughtUp() bool
}

// errorBody is the JSON form of every error answer.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// statusBody is the JSON form of the probes' success answers.
type statusBody struct {
	Status string `json:"status"`
}

// New returns the HTTP handler of the query service.
func New(st Store, clk clock.Clock, logger *zap.Logger) http.Handler {
	// Debug mode prints every route at start and warns on stdout; the service logs with zap.
	gin.SetMode(gin.ReleaseMode)

	h := &handlers{store: st, clock: clk, logger: logger}

	r := gin.New()
	// Paths are exact: the gateway forwards them as they are, and a redirect would only hide
	// a wrong path from the client.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	// A known path with the wrong method answers 405 with Allow, not 404.
	r.HandleMethodNotAllowed = true

	// Recovery sits inside the request log, so a recovered panic is logged with its 500.
	r.Use(h.logRequests, h.recoverPanics)
	r.NoRoute(h.notFound)
	r.NoMethod(h.methodNotAllowed)

	r.GET("/api/stats/lastMinute", h.lastFull(window.Minute))
	r.GET("/api/stats/lastHour", h.lastFull(window.Hour))
	r.GET("/healthz", h.healthz)
	r.GET("/readyz", h.readyz)
	return r
}

type handlers struct {
	store  Store
	clock  clock.Clock
	logger *zap.Logger
}

// lastFull answers the top domains of the last full window of the given size.
func (h *handlers) lastFull(size window.Size) gin.HandlerFunc {
	return func(c *gin.Context) {
		w := window.LastFull(size, h.clock.Now())
		c.Header(HeaderWindowStart, w.StartTime().Format(time.RFC3339))
		c.Header(HeaderWindowEnd, w.EndTime().Format(time.RFC3339))

		// Before the initial load completes an answer could miss partitions, and a wrong
		// ranking is worse than a short wait.
		if !h.store.CaughtUp() {
			h.warmingUp(c)
			return
		}
		c.JSON(http.StatusOK, h.store.Top(w, TopN))
	}
}

// healthz answers 200 while the process serves HTTP at all.
func (h *handlers) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, statusBody{Status: "ok"})
}

// readyz answers 200 once the snapshots are loaded, so traffic is routed only to replicas
// that give complete answers.
func (h *handlers) readyz(c *gin.Context) {
	if !h.store.CaughtUp() {
		h.warmingUp(c)
		return
	}
	c.JSON(http.StatusOK, statusBody{Status: "ready"})
}

func (h *handlers) warmingUp(c *gin.Context) {
	c.Header("Retry-After", "1")
	c.JSON(http.StatusServiceUnavailable, errorBody{Error: warmingUpMessage, Code: CodeWarmingUp})
}

func (h *handlers) notFound(c *gin.Context) {
	c.JSON(http.StatusNotFound, errorBody{
		Error: fmt.Sprintf("no endpoint at %s", c.Request.URL.Path),
		Code:  CodeNotFound,
	})
}

// methodNotAllowed runs after gin has set the Allow header.
func (h *handlers) methodNotAllowed(c *gin.Context) {
	c.JSON(http.StatusMethodNotAllowed, errorBody{
		Error: fmt.Sprintf("method %s not allowed; allowed: %s",
			c.Request.Method,
			c.Writer.Header().Get("Allow"),
		),
		Code: CodeMethodNotAllowed,
	})
}

// recoverPanics turns a panic in a handler into a JSON 500 and one error log line.
func (h *handlers) recoverPanics(c *gin.Context) {
	defer func() {
		rec := recover()
		if rec == nil {
			return
		}
		// net/http uses this panic to abort a response on purpose; let it through.
		if rec == http.ErrAbortHandler {
			panic(rec)
		}
		h.logger.Error("handler panicked",
			zap.String("method", c.Request.Method),
			zap.String("path", c.Request.URL.Path),
			zap.Any("panic", rec),
			zap.StackSkip("stack", 2),
		)
		if c.Writer.Written() {
			// The status line is out; all that is left is to stop writing.
			c.Abort()
			return
		}
		c.AbortWithStatusJSON(http.StatusInternalServerError, errorBody{
			Error: "internal error",
			Code:  CodeInternal,
		})
	}()
	c.Next()
}

// logRequests logs every request at debug, after it is answered.
func (h *handlers) logRequests(c *gin.Context) {
	start := h.clock.Now()
	c.Next()
	if ce := h.logger.Check(zap.DebugLevel, "request"); ce != nil {
		ce.Write(
			zap.String("method", c.Request.Method),
			zap.String("path", c.Request.URL.Path),
			zap.Int("status", c.Writer.Status()),
			zap.Int("bytes", c.Writer.Size()),
			zap.Duration("latency", h.clock.Now().Sub(start)),
			zap.String("remote_addr", c.Request.RemoteAddr),
		)
	}
}
