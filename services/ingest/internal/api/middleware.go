package api

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"toptraffic/libs/clock"
)

// logRequests logs one Debug line per request, in place of gin's own logger. It logs the
// route pattern rather than the raw path, so a client cannot put arbitrary text into the log.
func logRequests(logger *zap.Logger, clk clock.Clock) gin.HandlerFunc {
	return func(c *gin.Context) {
		// Debug is off in production: then the line is not written and the clock, which
		// costs tens of nanoseconds a read, is not read for it either.
		if !logger.Core().Enabled(zap.DebugLevel) {
			c.Next()
			return
		}
		start := clk.Now()
		c.Next()

		if ce := logger.Check(zap.DebugLevel, "http request"); ce != nil {
			route := c.FullPath()
			if route == "" {
				route = "unmatched"
			}
			ce.Write(
				zap.String("method", clip(c.Request.Method)),
				zap.String("route", route),
				zap.Int("status", c.Writer.Status()),
				zap.Int("response_bytes", c.Writer.Size()),
				zap.Duration("took", clk.Now().Sub(start)),
			)
		}
	}
}

// recoverPanics turns a panic in a handler into a JSON 500 and one Error log line, so one bad
// request neither kills the process nor leaves the client with a dropped connection.
func recoverPanics(logger *zap.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			// net/http's way of aborting a response on purpose; let the server handle it.
			if err, ok := r.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(r)
			}
			logger.Error("handler panicked",
				zap.String("route", c.FullPath()),
				zap.Any("panic", r),
				zap.Stack("stack"),
			)
			if c.Writer.Written() {
				c.Abort()
				return
			}
			abortError(c, http.StatusInternalServerError, errorBody{
				Error: msgInternal,
				Code:  codeInternal,
			})
		}()
		c.Next()
	}
}
