package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/segmentio/kafka-go"
	"go.uber.org/zap"

	"toptraffic/libs/clock"
	"toptraffic/libs/counter"
	"toptraffic/services/ingest/internal/publisher"
	"toptraffic/services/ingest/internal/timepolicy"
)

// maxRecordValueLen is the most bytes counter.AppendRecord writes: a version byte and two
// varints of at most 10 bytes each.
const maxRecordValueLen = 1 + 10 + 10

// countersResponse is the body of every answer to a parsed POST: 200, and 422 when every
// record was dropped.
type countersResponse struct {
	// Accepted counts the (counter, domain) records written to Kafka.
	Accepted int `json:"accepted"`
	// Dropped counts the (counter, domain) records left out by the time policy.
	Dropped int `json:"dropped"`
	// DroppedReasons always holds both reasons, zero or not, so clients can rely on the shape.
	DroppedReasons droppedReasons `json:"dropped_reasons"`
	// Error and Code are set only on the 422.
	Error string `json:"error,omitempty"`
	Code  string `json:"code,omitempty"`
}

type droppedReasons struct {
	Future int `json:"future"`
	TooOld int `json:"too_old"`
}

type counters struct {
	cfg       Config
	publisher Publisher
	clock     clock.Clock
	logger    *zap.Logger
	// dropped, when not nil, counts the records the time policy left out.
	dropped func(future, tooOld int)
	// tooLarge answers a body over MaxBodyBytes. It is built once: formatting it for every
	// request, as a fallback that is rarely used, cost 7% of a small POST.
	tooLarge errorBody
}

func newCounters(
	cfg Config,
	pub Publisher,
	clk clock.Clock,
	logger *zap.Logger,
	dropped func(future, tooOld int),
) *counters {
	return &counters{
		cfg:       cfg,
		publisher: pub,
		clock:     clk,
		logger:    logger,
		dropped:   dropped,
		tooLarge: errorBody{
			Error: fmt.Sprintf("request body is larger than the limit of %d bytes: "+
				"split the counters over several requests", cfg.MaxBodyBytes),
			Code: codeBodyTooLarge,
		},
	}
}

// post takes a body of counters and answers once their records are acknowledged. The checks
// run cheapest first, and nothing is published unless the whole body is valid.
func (h *counters) post(c *gin.Context) {
	// The receipt time is the time every record of the request carries, and the time the
	// policy judges lateness by. Kafka keeps milliseconds, so the policy gets exactly the
	// instant the aggregators will later read back.
	now := h.clock.Now().Truncate(time.Millisecond)

	format, err := counter.FormatFor(c.GetHeader("Content-Type"))
	if err != nil {
		abortError(c, http.StatusUnsupportedMediaType, errorBody{
			Error: err.Error(),
			Code:  codeUnsupportedMediaType,
		})
		return
	}
	// A compressed body would fail as malformed JSON at its first byte, which says nothing
	// useful; 415 is the status HTTP gives an unsupported content coding.
	if enc := c.GetHeader("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		abortError(c, http.StatusUnsupportedMediaType, errorBody{
			Error: fmt.Sprintf("content encoding %.32q is not supported: "+
				"send the body uncompressed", enc),
			Code: codeUnsupportedMediaType,
		})
		return
	}

	body, ok := h.readBody(c)
	if !ok {
		return
	}

	parsed, err := counter.Parse(body, format, h.cfg.Limits)
	if err != nil {
		abortParseError(c, err)
		return
	}

	msgs, resp := h.records(parsed, now)
	if h.dropped != nil && resp.Dropped > 0 {
		h.dropped(resp.DroppedReasons.Future, resp.DroppedReasons.TooOld)
	}
	if len(msgs) > 0 {
		if err := h.publisher.Publish(c.Request.Context(), msgs); err != nil {
			h.abortPublishError(c, err, len(msgs))
			return
		}
	}

	if resp.Accepted == 0 && resp.Dropped > 0 {
		resp.Code = codeAllDropped
		resp.Error = fmt.Sprintf("every record was dropped: a timestamp may be at most %s "+
			"ahead of the gateway's clock (now %d) and is too old once its hour has ended "+
			"more than %s ago; send counters promptly with Unix-second timestamps",
			h.cfg.Policy.MaxFutureSkew, now.Unix(), h.cfg.Policy.AllowedLateness)
		c.JSON(http.StatusUnprocessableEntity, resp)
		return
	}
	// Every successful POST gets this answer: four numbers, written directly rather than
	// through encoding/json's reflection, which cost a sixth of the handler.
	c.Data(http.StatusOK, jsonContentType, appendCountersJSON(make([]byte, 0, 96), resp))
}

// jsonContentType is the Content-Type gin's JSON renderer sets.
const jsonContentType = "application/json; charset=utf-8"

// appendCountersJSON appends resp as encoding/json would write it, for an answer without
// Error and Code; the tests hold the two to the same bytes.
func appendCountersJSON(b []byte, resp countersResponse) []byte {
	b = append(b, `{"accepted":`...)
	b = strconv.AppendInt(b, int64(resp.Accepted), 10)
	b = append(b, `,"dropped":`...)
	b = strconv.AppendInt(b, int64(resp.Dropped), 10)
	b = append(b, `,"dropped_reasons":{"future":`...)
	b = strconv.AppendInt(b, int64(resp.DroppedReasons.Future), 10)
	b = append(b, `,"too_old":`...)
	b = strconv.AppendInt(b, int64(resp.DroppedReasons.TooOld), 10)
	return append(b, `}}`...)
}

// readBody reads the body up to MaxBodyBytes, answering the request itself when it cannot.
func (h *counters) readBody(c *gin.Context) ([]byte, bool) {
	limit := h.cfg.MaxBodyBytes
	// A declared length over the limit is refused before reading a byte of it.
	if c.Request.ContentLength > limit {
		abortError(c, http.StatusRequestEntityTooLarge, h.tooLarge)
		return nil, false
	}

	body, err := readAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit),
		c.Request.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			abortError(c, http.StatusRequestEntityTooLarge, h.tooLarge)
			return nil, false
		}
		// The client stopped sending or was too slow for the server's read timeout.
		h.logger.Debug("request body unreadable", zap.Error(err))
		abortError(c, http.StatusBadRequest, errorBody{
			Error: "the request body could not be read completely; send it again",
			Code:  codeBodyUnreadable,
		})
		return nil, false
	}
	return body, true
}

// maxPresize bounds the buffer readAll sizes from a declared length before any byte arrived,
// so a client declaring a large body it never sends makes the gateway hold little.
const maxPresize = 64 << 10

// readAll reads r to its end like io.ReadAll, starting with a buffer of the declared length
// (plus one byte, for the read that finds the end) when it is known, up to maxPresize: a body
// then takes one allocation of its size, where io.ReadAll takes 512 bytes for a small one and
// grows and copies its buffer a dozen times for a batch of counters.
func readAll(r io.Reader, declared int64) ([]byte, error) {
	size := 512
	if declared >= 0 {
		size = int(min(declared, maxPresize)) + 1
	}
	b := make([]byte, 0, size)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			// Full: let append pick the next size.
			b = append(b, 0)[:len(b)]
		}
	}
}

// abortParseError answers a body counter.Parse refused. Its messages are written for the
// producer and quote at most a short prefix of the input, so they are passed on unchanged.
func abortParseError(c *gin.Context, err error) {
	body := errorBody{Error: err.Error(), Code: codeMalformedBody}
	var ce *counter.Error
	if errors.As(err, &ce) {
		body.Field = ce.Field
		if ce.Counter >= 0 {
			idx := ce.Counter
			body.Counter = &idx
		}
	}

	status := http.StatusBadRequest
	switch {
	case errors.Is(err, counter.ErrTooLarge):
		status, body.Code = http.StatusRequestEntityTooLarge, codeRequestTooLarge
	case errors.Is(err, counter.ErrUnsupportedMediaType):
		status, body.Code = http.StatusUnsupportedMediaType, codeUnsupportedMediaType
	case errors.Is(err, counter.ErrTimestamp):
		body.Code = codeInvalidTimestamp
	case errors.Is(err, counter.ErrDomain):
		body.Code = codeInvalidDomain
	case errors.Is(err, counter.ErrCount):
		body.Code = codeInvalidCount
	case ce == nil:
		// Not one of the codec's own errors: do not pass an unknown message on.
		body.Error = "the request body is not valid counters JSON; send " +
			`{"timestamp":1608102631,"example.com":3} or an array of such objects`
	}
	abortError(c, status, body)
}

// records applies the time policy and builds one Kafka record per accepted (counter, domain).
// Keys and values of all records share one buffer, sized up front so it never grows.
func (h *counters) records(
	parsed []counter.Counter,
	now time.Time,
) ([]kafka.Message, countersResponse) {
	var resp countersResponse
	verdicts := make([]timepolicy.Verdict, len(parsed))
	records, size := 0, 0
	for i, ctr := range parsed {
		verdicts[i] = h.cfg.Policy.Check(ctr.Timestamp, now)
		switch verdicts[i] {
		case timepolicy.Future:
			resp.DroppedReasons.Future += len(ctr.Domains)
		case timepolicy.TooOld:
			resp.DroppedReasons.TooOld += len(ctr.Domains)
		default:
			records += len(ctr.Domains)
			for _, d := range ctr.Domains {
				size += len(d.Domain) + maxRecordValueLen
			}
		}
	}
	resp.Dropped = resp.DroppedReasons.Future + resp.DroppedReasons.TooOld
	resp.Accepted = records
	if records == 0 {
		return nil, resp
	}

	msgs := make([]kafka.Message, 0, records)
	buf := make([]byte, 0, size)
	for i, ctr := range parsed {
		if verdicts[i] != timepolicy.Accept {
			continue
		}
		for _, d := range ctr.Domains {
			start := len(buf)
			buf = append(buf, d.Domain...)
			key := buf[start:len(buf):len(buf)]

			start = len(buf)
			buf = counter.AppendRecord(buf, ctr.Timestamp, d.Count)
			value := buf[start:len(buf):len(buf)]

			msgs = append(msgs, kafka.Message{Key: key, Value: value, Time: now})
		}
	}
	return msgs, resp
}

// abortPublishError answers a request whose records were not all acknowledged. Every such
// failure can pass with time, so each is a 503 with Retry-After.
func (h *counters) abortPublishError(c *gin.Context, err error, records int) {
	switch {
	case errors.Is(err, publisher.ErrNotReady):
		abortUnavailable(c, codeNotReady, msgNotReady)
		return
	case errors.Is(err, publisher.ErrClosed):
		abortUnavailable(c, codeShuttingDown, msgShuttingDown)
		return
	case errors.Is(err, context.Canceled):
		// The client went away; the answer reaches no one.
		h.logger.Debug("client left before its records were acknowledged",
			zap.Int("records", records))
	default:
		h.logger.Warn("publish failed", zap.Int("records", records), zap.Error(err))
	}
	abortUnavailable(c, codeKafkaUnavailable, msgKafkaUnavailable)
}
