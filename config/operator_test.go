package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestAdminKeysNeedNoServerSettings(t *testing.T) {
	getenv := env(nil, map[string]string{"OTPGATE_ADMIN_KEYS": " ops : ops-secret-0123456789 , backup:backup-secret"})
	if _, err := Load(getenv); err == nil {
		t.Fatal("Load accepted an admin key without Redis; this test no longer shows why AdminKeys exists")
	}
	keys, err := AdminKeys(getenv)
	want := []Key{{"ops", "ops-secret-0123456789"}, {"backup", "backup-secret"}}
	if err != nil || !reflect.DeepEqual(keys, want) {
		t.Fatalf("AdminKeys = %v, %v; want %v", keys, err, want)
	}
	if keys, err := AdminKeys(env(nil, nil)); err != nil || len(keys) != 0 {
		t.Errorf("AdminKeys of an empty environment = %v, %v", keys, err)
	}
}

func TestAdminKeysRefusesMalformedEntries(t *testing.T) {
	// Load's rules for the list, each with the words of its message.
	for raw, want := range map[string]string{
		"ops-secret-without-name":        "not name:secret",
		"ops:":                           "empty secret",
		"ops team:ops-secret-0123456789": "name must be",
		"ops:ops-secret-0123456789,ops:ops-secret-9876543210":    "used twice",
		"ops:ops-secret-0123456789,backup:ops-secret-0123456789": "reuses the secret",
	} {
		_, err := AdminKeys(env(nil, map[string]string{"OTPGATE_ADMIN_KEYS": raw}))
		if err == nil || !strings.Contains(err.Error(), "OTPGATE_ADMIN_KEYS") || !strings.Contains(err.Error(), want) {
			t.Errorf("AdminKeys(%q) = %v, want an error naming OTPGATE_ADMIN_KEYS that says %q", raw, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "ops-secret") {
			t.Errorf("the error quotes the secret: %v", err)
		}
	}
}
