// Package ceiling measures what the pipeline's building blocks can do on their own on this
// machine, with nothing of toptraffic around them: a bare HTTP handler, kafka-go producing in
// batches, and kafka-go consuming a partition at a time. The benchmarks divide the services'
// numbers by these to say how much of the machine the pipeline uses.
package ceiling

import (
	"context"
	"io"
	"net/http"

	"go.uber.org/zap"

	"toptraffic/libs/httpserver"
)

// BareHandler reads the request body and answers 204: the least an HTTP ingest endpoint can
// do with a POST.
func BareHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	})
}

// ServeBare serves BareHandler on addr until ctx ends, with the same server limits the gateway
// runs with.
func ServeBare(ctx context.Context, addr string, logger *zap.Logger) error {
	srv := httpserver.New(httpserver.DefaultConfig(addr), BareHandler(), logger)
	if err := srv.Listen(); err != nil {
		return err
	}
	return srv.Run(ctx)
}
