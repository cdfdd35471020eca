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
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"toptraffic/libs/clock"
	"toptraffic/libs/counter"
	"toptraffic/services/ingest/internal/publisher"
	"toptraffic/services/ingest/internal/timepolicy"
)

// Routes the gateway serves.
const (
	RouteCounters   = "/api/counters"
	RouteLastMinute = "/api/stats/lastMinute"
	RouteLastHour   = "/api/stats/lastHour"
	RouteMinute     = "/api/stats/minute"
	RouteHour       = "/api/stats/hour"
	RouteHealth     = "/healthz"
	RouteReady      = "/readyz"
	RouteMetrics    = "/metrics"
)

// Publisher writes records to Kafka. Publish returns nil only once the broker has acknowledged
// every record; it takes the slice over. Errors wrapping publisher.ErrNotReady mean the topic is
// not confirmed yet; every error becomes a 503 with Retry-After.
//
// Check is the readiness probe's question: nil when counters can be taken now. An error
// wrapping publisher.ErrUnavailable means no broker answered; any other means the topic is not
// confirmed yet. It must be cheap, since probes call it often.
type Publisher interface {
	Publish(ctx context.Context, msgs []kafka.Message) error
	Check(ctx context.Context) error
}

// Metrics instruments the gateway; see package metrics.
type Metrics interface {
	// Middleware observes every request with its route pattern and final status.
	Middleware() gin.HandlerFunc
	// Dropped counts the records of one request the time policy left out.
	Dropped(future, tooOld int)
	// Handler serves the series at /metrics.
	Handler() http.Handler
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

	// Metrics, when not nil, observes the requests and serves /metrics.
	Metrics Metrics

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
	var dropped func(future, tooOld int)
	if deps.Metrics != nil {
		// Outermost, so that it counts the 500 of a recovered panic too.
		r.Use(deps.Metrics.Middleware())
		dropped = deps.Metrics.Dropped
	}
	r.Use(logRequests(logger, deps.Clock), recoverPanics(logger))
	r.NoRoute(notFound)
	r.NoMethod(methodNotAllowed)

	h := newCounters(cfg, deps.Publisher, deps.Clock, logger, dropped)
	r.POST(RouteCounters, withAuth(cfg.IngestTokens, logger, h.post)...)

	stats := gin.WrapH(deps.Stats)
	r.GET(RouteLastMinute, withAuth(cfg.StatsTokens, logger, stats)...)
	r.GET(RouteLastHour, withAuth(cfg.StatsTokens, logger, stats)...)
	r.GET(RouteMinute, withAuth(cfg.StatsTokens, logger, stats)...)
	r.GET(RouteHour, withAuth(cfg.StatsTokens, logger, stats)...)

	r.GET(RouteHealth, health)
	r.GET(RouteReady, ready(deps.Publisher))
	if deps.Metrics != nil {
		r.GET(RouteMetrics, gin.WrapH(deps.Metrics.Handler()))
	}
	return r
}

// health answers as long as the process serves HTTP at all.
func health(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// ready answers 200 while the counters topic is confirmed and a broker answers, so that a load
// balancer sends no counters to a gateway that would only refuse them.
func ready(p Publisher) gin.HandlerFunc {
	return func(c *gin.Context) {
		switch err := p.Check(c.Request.Context()); {
		case err == nil:
			c.JSON(http.StatusOK, gin.H{"status": "ready"})
		case errors.Is(err, publisher.ErrUnavailable):
			abortUnavailable(c, codeKafkaUnavailable, msgBrokerUnreachable)
		default:
			abortUnavailable(c, codeNotReady, msgNotReady)
		}
	}
}
