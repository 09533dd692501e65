package server

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPI is the hand-written OpenAPI 3.1 document of the API. TestOpenAPICoversRoutes
// fails when a registered route is missing from it.
//
//go:embed openapi.json
var openAPI []byte

func (s *Server) handleOpenAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json", openAPI)
}
