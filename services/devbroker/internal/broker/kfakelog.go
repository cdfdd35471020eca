package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// kfakeLogger passes kfake's printf-style lines to zap. kfake logs every failed request and
// group step at info, which is noise for people running the stack, so those go to debug;
// warnings and errors, which are mostly about persistence, keep their level.
type kfakeLogger struct {
	logger *zap.Logger
}

func (l kfakeLogger) Logf(level kfake.LogLevel, format string, args ...any) {
	zl := zapcore.DebugLevel
	switch level {
	case kfake.LogLevelError:
		zl = zapcore.ErrorLevel
	case kfake.LogLevelWarn:
		zl = zapcore.WarnLevel
	}

	// Check first so disabled levels cost no formatting.
	if ce := l.logger.Check(zl, "kfake"); ce != nil {
		ce.Write(
			zap.String("kfake_level", level.String()),
			zap.String("detail", fmt.Sprintf(format, args...)),
		)
	}
}
