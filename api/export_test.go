package api

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// The request bodies, for the fuzz targets' reference decoder.
type (
	StartBody = startBody
	CodeBody  = codeBody
	CheckBody = checkBody
)

// ScopedKey exposes the store key of an Idempotency-Key to tests.
var ScopedKey = scopedKey

// HoldIdempotencyKey claims idemKey of keyName as an in-flight start of a
// verification to `to` would, so tests can see what a duplicate meets.
func HoldIdempotencyKey(ctx context.Context, s IdempotencyStore, keyName, idemKey, to string) error {
	claim, err := json.Marshal(idemRecord{Owner: "test", Fingerprint: fingerprint(startBody{To: to})})
	if err != nil {
		return err
	}
	_, ok, err := s.Claim(ctx, scopedKey(keyName, idemKey), claim, time.Minute)
	if err == nil && !ok {
		err = errors.New("key already held")
	}
	return err
}

// ProxiedPaths lists the Connexus paths the proxy exposes, for the test
// that compares the router with the OpenAPI document.
func ProxiedPaths() []string {
	var out []string
	for p := range proxiedPaths {
		out = append(out, p)
	}
	return out
}

// ProxyMethods are the methods the proxy forwards.
var ProxyMethods = proxyMethods
