package config

import (
	"errors"
	"fmt"
)

// AdminKeys reads OTPGATE_ADMIN_KEYS alone, with Load's rules for it, for a
// process that calls a running otpgate instead of serving one (the operator
// subcommands): a shell that holds an admin key need not hold the Redis and
// sender settings Load requires of a server. Errors never quote a secret.
func AdminKeys(getenv func(string) string) ([]Key, error) {
	p := parser{getenv: getenv}
	var keys []Key
	p.keys("OTPGATE_ADMIN_KEYS", &keys)
	var rules keyRules
	rules.check(p.fail, "OTPGATE_ADMIN_KEYS", keys)
	if err := errors.Join(p.errs...); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return keys, nil
}
