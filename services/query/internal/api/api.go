// Package api serves the statistics over HTTP: the ten busiest domains of the last full minute
// and of the last full hour (the seed routes), the ranking of any retained window (the history
// routes), a dashboard page, Prometheus metrics, and liveness and readiness probes.
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
	"toptraffic/services/query/internal/store"
)

// Routes the service serves, all with GET.
const (
	RouteLastMinute = "/api/stats/lastMinute"
	RouteLastHour   = "/api/stats/lastHour"
	RouteMinute     = "/api/stats/minute"
	RouteHour       = "/api/stats/hour"
	RouteDashboard  = "/"
	RouteMetrics    = "/metrics"
	RouteHealth     = "/healthz"
	RouteReady      = "/readyz"
)

// TopN is how many domains a seed answer lists, and a history answer by default.
const TopN = 10

// MaxLimit is the largest limit a history request may ask for. The aggregators publish each
// partition's top TOP_K (100 by default) per window, and the merged ranking is exact for any
// depth up to that K (docs/design.md), so deeper ranks could be wrong and are not offered.
const MaxLimit = 100

// Response headers that carry the bounds of the window an answer describes, in RFC 3339 UTC.
// They are headers, not body fields, so the seed routes keep the seed's body shape.
const (
	HeaderWindowStart = "X-Window-Start"
	HeaderWindowEnd   = "X-Window-End"
)

// Response headers that tell how fresh an answer is: when the newest snapshot of its window
// was published (RFC 3339 UTC, milliseconds), and how many seconds before the answer that
// was. Both are left out while no snapshot of the window is held.
const (
	HeaderPublishedAt = "X-Snapshot-Published-At"
	HeaderSnapshotAge = "X-Snapshot-Age"
)

// Error codes of the JSON error body.
const (
	CodeWarmingUp        = "warming_up"
	CodeInvalidParameter = "invalid_parameter"
	CodeWindowExpired    = "window_expired"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeInternal         = "internal"
)

// warmingUpMessage tells a client why it got 503 and what to do about it.
const warmingUpMessage = "query service is still loading snapshots; retry shortly"

// unmatchedRoute labels requests for paths the service does not serve, in logs and metrics.
const unmatchedRoute = "unmatched"

// Store is what the handlers read; *store.Store implements it.
type Store interface {
	// Top returns at most n entries of window w, best first, never nil.
	Top(w window.Window, n int) []topk.Entry
	// Info describes window w, and reports false when nothing of it is held.
	Info(w window.Window) (store.Info, bool)
	// Expired reports whether w is past retention, so nothing of it is held any more.
	Expired(w window.Window) bool
	// Retention is how long after its end a window is kept.
	Retention() time.Duration
	// CaughtUp reports whether the initial load of the snapshots is complete.
	CaughtUp() bool
}

// Metrics counts requests and serves the metrics; *metrics.Metrics implements it.
type Metrics interface {
	// ObserveRequest counts one answered request by route pattern and status.
	ObserveRequest(route string, status int, took time.Duration)
	// Handler serves the metrics to Prometheus.
	Handler() http.Handler
}

// Deps are the parts the handlers use. Metrics may be nil: requests are then not counted
// and /metrics answers 404.
type Deps struct {
	Store   Store
	Clock   clock.Clock
	Logger  *zap.Logger
	Metrics Metrics
}

// errorBody is the JSON form of every error answer.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	// Parameter names the offending query parameter, when there is one.
	Parameter string `json:"parameter,omitempty"`
}

// statusBody is the JSON form of the probes' success answers.
type statusBody struct {
	Status string `json:"status"`
}

// New returns the HTTP handler of the query service.
func New(deps Deps) http.Handler {
	// Debug mode prints every route at start and warns on stdout; the service logs with zap.
	gin.SetMode(gin.ReleaseMode)

	h := &handlers{
		store:   deps.Store,
		clock:   deps.Clock,
		logger:  deps.Logger,
		metrics: deps.Metrics,
	}

	r := gin.New()
	// Paths are exact: the gateway forwards them as they are, and a redirect would only hide
	// a wrong path from the client.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	// A known path with the wrong method answers 405 with Allow, not 404.
	r.HandleMethodNotAllowed = true

	// Recovery sits inside the observing middleware, so a recovered panic is logged and
	// counted with its 500.
	r.Use(h.observe, h.recoverPanics)
	r.NoRoute(h.notFound)
	r.NoMethod(h.methodNotAllowed)

	r.GET(RouteLastMinute, h.lastFull(window.Minute))
	r.GET(RouteLastHour, h.lastFull(window.Hour))
	r.GET(RouteMinute, h.history(window.Minute))
	r.GET(RouteHour, h.history(window.Hour))
	r.GET(RouteDashboard, page(dashboardPage))
	for _, a := range dashboardAssets {
		r.GET(a.route, page(a))
	}
	r.GET(RouteMetrics, h.serveMetrics)
	r.GET(RouteHealth, h.healthz)
	r.GET(RouteReady, h.readyz)
	return r
}

type handlers struct {
	store   Store
	clock   clock.Clock
	logger  *zap.Logger
	metrics Metrics
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

// serveMetrics hands the request to the Prometheus handler.
func (h *handlers) serveMetrics(c *gin.Context) {
	if h.metrics == nil {
		h.notFound(c)
		return
	}
	h.metrics.Handler().ServeHTTP(c.Writer, c.Request)
}

func (h *handlers) warmingUp(c *gin.Context) {
	c.Header("Retry-After", "1")
	c.JSON(http.StatusServiceUnavailable, errorBody{Error: warmingUpMessage, Code: CodeWarmingUp})
}

func (h *handlers) notFound(c *gin.Context) {
	c.JSON(http.StatusNotFound, errorBody{
		Error: fmt.Sprintf("no endpoint at %s", clip(c.Request.URL.Path)),
		Code:  CodeNotFound,
	})
}

// methodNotAllowed runs after gin has set the Allow header.
func (h *handlers) methodNotAllowed(c *gin.Context) {
	c.JSON(http.StatusMethodNotAllowed, errorBody{
		Error: fmt.Sprintf("method %s not allowed; allowed: %s",
			clip(c.Request.Method),
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
			zap.String("route", routeOf(c)),
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

// observe counts every request in the metrics and logs it at debug, after it is answered.
func (h *handlers) observe(c *gin.Context) {
	start := h.clock.Now()
	c.Next()
	took := h.clock.Now().Sub(start)

	route := routeOf(c)
	if h.metrics != nil {
		h.metrics.ObserveRequest(route, c.Writer.Status(), took)
	}
	if ce := h.logger.Check(zap.DebugLevel, "request"); ce != nil {
		ce.Write(
			zap.String("method", clip(c.Request.Method)),
			zap.String("route", route),
			zap.String("path", clip(c.Request.URL.Path)),
			zap.Int("status", c.Writer.Status()),
			zap.Int("bytes", c.Writer.Size()),
			zap.Duration("latency", took),
			zap.String("remote_addr", c.Request.RemoteAddr),
		)
	}
}

// routeOf returns the route pattern that matched, or unmatchedRoute.
func routeOf(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return unmatchedRoute
}
