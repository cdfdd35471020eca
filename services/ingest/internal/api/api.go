// Package api is the ingest gateway's HTTP interface: it takes counters from producers, turns
// them into one Kafka record per (counter, domain), and answers only after the broker has
// acknowledged them. It also forwards the stats routes to the query service and reports health.
//
// Every error is JSON of one shape, {"error": ..., "code": ..., "field": ...}, where error says
// what is wrong and how to fix it, code is a stable snake_case name for programs, and field
// names the offending JSON key when there is one. Client input never causes a 5xx.
package api

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"toptraffic/libs/clock"
	"toptraffic/libs/counter"
	"toptraffic/services/ingest/internal/timepolicy"
)

// Routes the gateway serves.
const (
	RouteCounters   = "/api/counters"
	RouteLastMinute = "/api/stats/lastMinute"
	RouteLastHour   = "/api/stats/lastHour"
	RouteHealth     = "/healthz"
	RouteReady      = "/readyz"
)

// Publisher writes records to Kafka. Publish returns nil only once the broker has acknowledged
// every record; it takes the slice over. Errors wrapping publisher.ErrNotReady mean the topic is
// not confirmed yet; every error becomes a 503 with Retry-After.
type Publisher interface {
	Publish(ctx context.Context, msgs []kafka.Message) error
	Ready() bool
}

// Config holds the request limits, the time policy and the bearer tokens.
type Config struct {
	// MaxBodyBytes caps a POST body.
	MaxBodyBytes int64

	// Limits caps the counters per request and the domains per counter.
	Limits counter.Limits

	// Policy decides which timestamps are dropped as from the future or too old.
	Policy timepolicy.Policy

	// IngestTokens, when not empty, are the bearer tokens POST /api/counters accepts.
	IngestTokens []string

	// StatsTokens, when not empty, are the bearer tokens the stats routes accept.
	StatsTokens []string
}

// Deps are the parts the handlers use.
type Deps struct {
	Publisher Publisher

	// Stats serves the stats routes, normally by forwarding them to the query service.
	Stats http.Handler

	// Clock stamps each request's records with the time it was received.
	Clock clock.Clock

	Logger *zap.Logger
}

// New returns the gateway's HTTP handler.
func New(cfg Config, deps Deps) http.Handler {
	// Release mode keeps gin from printing routes and warnings to stdout; logging is zap's.
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// A redirect is no answer for a producer POSTing to a wrong path; it gets the 404 JSON.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false

	logger := deps.Logger
	r.Use(logRequests(logger, deps.Clock), recoverPanics(logger))
	r.NoRoute(notFound)
	r.NoMethod(methodNotAllowed)

	h := &counters{
		cfg:       cfg,
		publisher: deps.Publisher,
		clock:     deps.Clock,
		logger:    logger,
	}
	r.POST(RouteCounters, withAuth(cfg.IngestTokens, logger, h.post)...)

	stats := gin.WrapH(deps.Stats)
	r.GET(RouteLastMinute, withAuth(cfg.StatsTokens, logger, stats)...)
	r.GET(RouteLastHour, withAuth(cfg.StatsTokens, logger, stats)...)

	r.GET(RouteHealth, health)
	r.GET(RouteReady, ready(deps.Publisher))
	return r
}

// health answers as long as the process serves HTTP at all.
func health(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// ready answers 200 once the counters topic is confirmed, so that a load balancer sends no
// counters to a gateway that would only refuse them.
func ready(p Publisher) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !p.Ready() {
			abortUnavailable(c, codeNotReady, msgNotReady)
			return
		}
		c.JSON(http.StatusOK, gin.H{"status": "ready"})
	}
}
