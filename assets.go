package tutorhub

import _ "embed"

// OpenAPI is the OpenAPI 3.1 document generated from proto/ (gen/openapi), served at
// /api/v1/openapi.json and rendered at /docs.
//
//go:embed gen/openapi/tutorhub.openapi.json
var OpenAPI []byte
