package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"
)

// withAuth puts a bearer-token check in front of handler when tokens are configured.
func withAuth(tokens []string, logger *zap.Logger, handler gin.HandlerFunc) []gin.HandlerFunc {
	if len(tokens) == 0 {
		return []gin.HandlerFunc{handler}
	}
	return []gin.HandlerFunc{bearer(tokens, logger), handler}
}

// bearer admits requests whose Authorization header carries one of tokens. Tokens are compared
// as SHA-256 digests in constant time, and every token is compared, so neither the length of a
// token nor which one matched shows in the response time. Tokens are never logged.
func bearer(tokens []string, logger *zap.Logger) gin.HandlerFunc {
	digests := make([][sha256.Size]byte, len(tokens))
	for i, t := range tokens {
		digests[i] = sha256.Sum256([]byte(t))
	}

	return func(c *gin.Context) {
		scheme, token, found := strings.Cut(c.GetHeader("Authorization"), " ")
		given := sha256.Sum256([]byte(strings.TrimSpace(token)))
		match := 0
		for i := range digests {
			match |= subtle.ConstantTimeCompare(given[:], digests[i][:])
		}
		if found && strings.EqualFold(scheme, "Bearer") && match == 1 {
			c.Next()
			return
		}

		logger.Debug("request refused without a valid bearer token",
			zap.String("route", c.FullPath()),
			zap.Bool("authorization_sent", c.GetHeader("Authorization") != ""),
		)
		c.Header("WWW-Authenticate", `Bearer realm="toptraffic"`)
		abortError(c, http.StatusUnauthorized, errorBody{
			Error: msgUnauthorized,
			Code:  codeUnauthorized,
		})
	}
}
