package apptest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"keysmith/handlers/api"
)

// APIPrefix is where the API that the OpenAPI document describes is served.
const APIPrefix = "/api/v1/"

// Contract is the OpenAPI document of /api/v1, loaded and checked with kin-openapi, with a
// router that finds the operation of a request.
type Contract struct {
	Doc    *openapi3.T
	router routers.Router
}

// LoadContract reads and validates an OpenAPI 3.1 document. kin-openapi validates the
// document's structure and references, and validates bodies and headers against its schemas
// with a JSON Schema 2020-12 validator, as OpenAPI 3.1 asks.
func LoadContract(data []byte) (*Contract, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load the OpenAPI document: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("the document is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is invalid: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route the OpenAPI document: %w", err)
	}
	return &Contract{Doc: doc, router: router}, nil
}

// Check tells whether an answer of the API to req, with its body read into body, is one the
// document describes: the operation documents its status, its required headers are there and
// match, and its body matches the schema. An answer to a request that no operation takes must
// be Echo's 404 or 405, or the 400 of a path that is not text, in the shape of every error.
func (c *Contract) Check(req *http.Request, res *http.Response, body []byte) error {
	route, params, err := c.router.FindRoute(req)
	if errors.Is(err, routers.ErrPathNotFound) || errors.Is(err, routers.ErrMethodNotAllowed) {
		switch res.StatusCode {
		case http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusBadRequest:
		default:
			return fmt.Errorf("answered %d to a request that no documented operation takes (%v): want 404, 405 or 400", res.StatusCode, err)
		}
		if req.Method == http.MethodHead {
			return nil
		}
		var value any
		if err := json.Unmarshal(body, &value); err != nil {
			return fmt.Errorf("the error answer is not JSON: %w", err)
		}
		return c.Doc.Components.Schemas["Error"].Value.VisitJSON(value, openapi3.EnableJSONSchema2020())
	}
	if err != nil {
		return fmt.Errorf("find the operation: %w", err)
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	input.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), input)
}

// contract is an App's OpenAPI document, the one its server serves, loaded the first time an
// answer is checked.
type contract struct {
	once     sync.Once
	contract *Contract
	err      error
}

func (a *App) contract() (*Contract, error) {
	a.openAPI.once.Do(func() {
		a.openAPI.contract, a.openAPI.err = LoadContract(api.OpenAPIDocument())
	})
	return a.openAPI.contract, a.openAPI.err
}

// checkedTransport sends requests through next and checks every answer of the API against the
// App's OpenAPI document, failing the test (without stopping it) on any that does not match.
type checkedTransport struct {
	t    testing.TB
	app  *App
	next http.RoundTripper
}

func (ct *checkedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := ct.next.RoundTrip(req)
	if err != nil || !strings.HasPrefix(req.URL.Path, APIPrefix) {
		return res, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	contract, err := ct.app.contract()
	if err == nil {
		err = contract.Check(req, res, body)
	}
	if err != nil {
		ct.t.Errorf("%s %s: the answer does not match the OpenAPI document (handlers/api/openapi.json): %v\nstatus %d, headers %v, body %.1000s",
			req.Method, req.URL.RequestURI(), err, res.StatusCode, res.Header, body)
	}
	return res, nil
}
