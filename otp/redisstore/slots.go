package redisstore

// Where a number's events go: one partition (a stream with its retry,
// attempts and expiry keys) on a single Redis, one per hash slot on a
// Cluster, tagged so that it lands in the slot of the number's own keys.

import "sync"

// slotCount is the number of Redis Cluster hash slots.
const slotCount = 16384

// partition names the keys of one event stream.
type partition struct {
	stream   string // the events, read by the consumer group
	retry    string // zset: entries put back, by when they are due
	attempts string // hash: entry id → failed attempts, while in retry
	expiry   string // zset: "<number>:<hex id>" of pending verifications, by expiry, and activeMark
	refused  string // hash: event type → events not recorded for want of room, until Stats takes them
	slot     int    // its hash slot on a Cluster
}

func newPartition(slot int, suffix string) partition {
	return partition{
		slot:     slot,
		stream:   prefix + "e" + suffix,
		retry:    prefix + "er" + suffix,
		attempts: prefix + "ea" + suffix,
		expiry:   prefix + "ex" + suffix,
		refused:  prefix + "ed" + suffix,
	}
}

// maxHeads bounds the entries of one partition's stream, one per
// verification with an event out, and so the outbox (see lua/events.lua):
// on a single Redis, measured on 7.0 (TestEventMemory), 20000 heads of
// 575 bytes with at most 16 waiting events of 351 bytes each are 124 MB
// at the very worst, 26 MB with the three events a verification mostly
// makes, well inside deploy/'s 512 MB; a Cluster allows 8 a slot, 131072
// in all, spread over its masters (167 MB with three events each).
const (
	maxHeads     = 20000
	maxSlotHeads = 8
)

// maxHeadsOf is maxHeads of the store's partitions.
func (s *Store) maxHeadsOf() int {
	if s.cluster {
		return maxSlotHeads
	}
	return maxHeads
}

// single is the one partition of a single or Sentinel Redis.
var single = newPartition(0, "")

// slotPartitions are the partitions of a Cluster, by slot, built on first
// use.
var slotPartitions = sync.OnceValue(func() []partition {
	parts := make([]partition, slotCount)
	for slot, tag := range slotTags() {
		parts[slot] = newPartition(slot, ":{"+tag+"}")
	}
	return parts
})

// slotTags finds, for every slot, a short string whose hash slot it is:
// the first of 0-9a-z strings, shortest first, that lands there.
func slotTags() []string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	tags := make([]string, slotCount)
	left := slotCount
	for length := 1; left > 0; length++ {
		n := 1
		for range length {
			n *= len(alphabet)
		}
		buf := make([]byte, length)
		for i := 0; i < n && left > 0; i++ {
			for j, k := length-1, i; j >= 0; j, k = j-1, k/len(alphabet) {
				buf[j] = alphabet[k%len(alphabet)]
			}
			if slot := keySlot(string(buf)); tags[slot] == "" {
				tags[slot] = string(buf)
				left--
			}
		}
	}
	return tags
}

// keySlot is the Cluster hash slot of a hash tag (or of a key without
// one): CRC16-XMODEM modulo 16384, as Redis computes it.
func keySlot(tag string) int {
	return int(crc16(tag) % slotCount)
}

var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

func crc16(s string) uint16 {
	var c uint16
	for i := 0; i < len(s); i++ {
		c = c<<8 ^ crcTable[byte(c>>8)^s[i]]
	}
	return c
}

// partitionOf is where the events of number go.
func (s *Store) partitionOf(number string) partition {
	if !s.cluster {
		return single
	}
	return slotPartitions()[keySlot(number)]
}

func (s *Store) queueKey(number, hexID string) string {
	return s.phoneKey(number) + ":q:" + hexID
}

// expiryMember names a verification in its partition's expiry zset, as
// expiry_member in lua/events.lua.
func expiryMember(number, hexID string) string { return number + ":" + hexID }
