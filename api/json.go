package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"
)

// decodeJSON reads the request body strictly into dst: JSON content type,
// one JSON object, no unknown fields, no trailing data. Its errors are
// 400 invalid_request with a message saying what was wrong, or 413.
func decodeJSON(c *gin.Context, dst any) error {
	if !strings.EqualFold(c.ContentType(), "application/json") {
		return invalidRequest("Content-Type must be application/json")
	}
	dec := json.NewDecoder(c.Request.Body)
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return bodyError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if errors.As(err, new(*http.MaxBytesError)) {
			return errTooLarge
		}
		return invalidRequest("request body must hold exactly one JSON object")
	}
	// encoding/json decodes null into a struct as nothing at all, so it
	// would pass for an empty object.
	if raw[0] != '{' {
		return invalidRequest("request body must be a JSON object")
	}
	obj := json.NewDecoder(bytes.NewReader(raw))
	obj.DisallowUnknownFields()
	if err := obj.Decode(dst); err != nil {
		return bodyError(err)
	}
	return nil
}

// decodeOptionalJSON is decodeJSON for endpoints whose body may be absent.
func decodeOptionalJSON(c *gin.Context, dst any) error {
	if c.Request.ContentLength == 0 {
		return nil
	}
	return decodeJSON(c, dst)
}

// unknownFieldPrefix starts encoding/json's error for an unknown field.
const unknownFieldPrefix = "json: unknown field "

func bodyError(err error) error {
	var (
		syntax *json.SyntaxError
		typ    *json.UnmarshalTypeError
		tooBig *http.MaxBytesError
	)
	switch {
	case errors.As(err, &tooBig):
		return errTooLarge
	case errors.Is(err, io.EOF):
		return invalidRequest("request body is empty")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return invalidRequest("request body is not valid JSON")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return invalidRequest("request body must be a JSON object")
		}
		return invalidRequest("field %q must be a %s", typ.Field, typ.Type.Kind())
	case strings.HasPrefix(err.Error(), unknownFieldPrefix):
		// encoding/json has no typed error for unknown fields; the field
		// name it quotes is the caller's own input.
		return invalidRequest("unknown field %s", strings.TrimPrefix(err.Error(), unknownFieldPrefix))
	}
	return invalidRequest("request body is not valid JSON")
}

// parseClientIP checks an optional client_ip and returns the key the
// per-IP limits count it under. An IPv6 address is keyed by its /64, since
// a subscriber is usually handed a whole /64 and can rotate through it at
// will; an IPv4-mapped address is the IPv4 address it carries.
func parseClientIP(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return "", invalidRequest("client_ip must be an IP address")
	}
	ip = ip.WithZone("").Unmap()
	if ip.Is4() {
		return ip.String(), nil
	}
	return netip.PrefixFrom(ip, ipv6LimitBits).Masked().String(), nil
}

// ipv6LimitBits is the IPv6 prefix length counted as one end user.
const ipv6LimitBits = 64
