// Package openapi embeds the OpenAPI 3.1 document that `./just gen` generates from proto/
// beside this file. This file is written by hand and survives regeneration.
package openapi

import _ "embed"

// Document is the API's OpenAPI document, served at /api/v1/openapi.json and rendered at
// /docs.
//
//go:embed tutorhub.openapi.json
var Document []byte
