package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// Error codes, the stable part of every error response.
const (
	codeMalformedBody        = "malformed_body"
	codeInvalidTimestamp     = "invalid_timestamp"
	codeInvalidDomain        = "invalid_domain"
	codeInvalidCount         = "invalid_count"
	codeRequestTooLarge      = "request_too_large"
	codeBodyTooLarge         = "body_too_large"
	codeBodyUnreadable       = "body_unreadable"
	codeUnsupportedMediaType = "unsupported_media_type"
	codeAllDropped           = "all_dropped"
	codeUnauthorized         = "unauthorized"
	codeNotFound             = "not_found"
	codeMethodNotAllowed     = "method_not_allowed"
	codeNotReady             = "not_ready"
	codeShuttingDown         = "shutting_down"
	codeKafkaUnavailable     = "kafka_unavailable"
	codeQueryUnavailable     = "query_unavailable"
	codeInternal             = "internal_error"
)

// Messages that do not depend on the request.
const (
	msgNotReady = "the gateway is not ready: the counters topic is not confirmed yet " +
		"(is Kafka reachable?); retry after the Retry-After delay"
	msgShuttingDown = "the gateway is shutting down; retry, another instance or the restarted " +
		"one will take the request"
	msgKafkaUnavailable = "Kafka is unavailable or did not acknowledge every record of the " +
		"request in time; retry after the Retry-After delay (the records may well have been " +
		"written all the same, so a retry can count them twice)"
	msgBrokerUnreachable = "the gateway cannot reach Kafka: no broker answered its last " +
		"check; retry after the Retry-After delay"
	msgQueryUnavailable = "the query service did not answer; retry after the Retry-After delay"
	msgUnauthorized     = "missing or wrong bearer token: send the header " +
		"'Authorization: Bearer TOKEN' with one of the tokens this gateway was given"
	msgNotFound = "no such endpoint: this gateway serves POST " + RouteCounters +
		", GET " + RouteLastMinute + ", GET " + RouteLastHour +
		", GET " + RouteMinute + ", GET " + RouteHour +
		", GET " + RouteHealth + ", GET " + RouteReady + " and GET " + RouteMetrics
	msgInternal = "internal error in the gateway; the request may be retried, " +
		"and the problem is logged"
)

// retryAfterSeconds is what every 503 tells the client to wait.
const retryAfterSeconds = "1"

// maxEcho is the most bytes of client input an error message quotes.
const maxEcho = 64

// errorBody is the JSON of every error response.
type errorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	// Field is the offending JSON key, when the error is about one.
	Field string `json:"field,omitempty"`
	// Counter is the index of the offending counter in the request, when the error is about
	// one (for NDJSON, the index among non-blank lines).
	Counter *int `json:"counter,omitempty"`
}

// abortError answers status with an error body and stops the handler chain.
func abortError(c *gin.Context, status int, body errorBody) {
	c.AbortWithStatusJSON(status, body)
}

// abortUnavailable answers 503 with Retry-After, the answer to every failure that retrying
// can fix.
func abortUnavailable(c *gin.Context, code, msg string) {
	c.Header("Retry-After", retryAfterSeconds)
	abortError(c, http.StatusServiceUnavailable, errorBody{Error: msg, Code: code})
}

// QueryUnavailable answers a stats request whose forwarding failed. The proxy calls it.
func QueryUnavailable(w http.ResponseWriter, _ *http.Request, _ error) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Retry-After", retryAfterSeconds)
	w.WriteHeader(http.StatusServiceUnavailable)
	// The client may be gone; there is no one left to tell about a failed write.
	_ = json.NewEncoder(w).Encode(errorBody{Error: msgQueryUnavailable, Code: codeQueryUnavailable})
}

func notFound(c *gin.Context) {
	abortError(c, http.StatusNotFound, errorBody{Error: msgNotFound, Code: codeNotFound})
}

// methodNotAllowed runs after gin has set the Allow header.
func methodNotAllowed(c *gin.Context) {
	allow := c.Writer.Header().Get("Allow")
	abortError(c, http.StatusMethodNotAllowed, errorBody{
		Error: "method " + strconv.Quote(clip(c.Request.Method)) +
			" is not allowed on this path: use " + strings.ReplaceAll(allow, ", ", " or "),
		Code: codeMethodNotAllowed,
	})
}

// clip cuts s to at most maxEcho bytes, ending in "..." when it had to, without splitting a
// UTF-8 sequence.
func clip(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	i := maxEcho - len("...")
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "..."
}
