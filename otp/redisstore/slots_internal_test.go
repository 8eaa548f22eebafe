package redisstore

import (
	"context"
	"testing"

	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

func TestKeySlot(t *testing.T) {
	// CRC16-XMODEM's check value, and slots Redis documents.
	if got := crc16("123456789"); got != 0x31c3 {
		t.Errorf("crc16 check = %#x, want 0x31c3", got)
	}
	for tag, want := range map[string]int{"foo": 12182, "bar": 5061, "user1000": 3443} {
		if got := keySlot(tag); got != want {
			t.Errorf("keySlot(%q) = %d, want %d", tag, got, want)
		}
	}
	seen := map[string]bool{}
	for slot, tag := range slotTags() {
		if keySlot(tag) != slot || seen[tag] || len(tag) > 4 {
			t.Fatalf("tag %q for slot %d: its slot is %d", tag, slot, keySlot(tag))
		}
		seen[tag] = true
	}
}

// TestSlotPartitionsLandInTheirSlot asks the Cluster itself where every
// slot's keys go, and where a number's events go.
func TestSlotPartitionsLandInTheirSlot(t *testing.T) {
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		if tp.Cluster == nil {
			t.Skip("only a Cluster has slots")
		}
		ctx := context.Background()
		parts := slotPartitions()
		var slots [][4]*redis.IntCmd
		if _, err := tp.Client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, part := range parts {
				slots = append(slots, [4]*redis.IntCmd{
					p.ClusterKeySlot(ctx, part.stream), p.ClusterKeySlot(ctx, part.retry),
					p.ClusterKeySlot(ctx, part.attempts), p.ClusterKeySlot(ctx, part.expiry),
				})
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for slot, cmds := range slots {
			for _, cmd := range cmds {
				if cmd.Val() != int64(slot) {
					t.Fatalf("a key of slot %d's partition is in slot %d", slot, cmd.Val())
				}
			}
		}
		s := New(tp.Client)
		for _, number := range []string{"64211234567", "61400000001", "15555550100"} {
			want := tp.Client.ClusterKeySlot(ctx, s.phoneKey(number)).Val()
			if got := tp.Client.ClusterKeySlot(ctx, s.partitionOf(number).stream).Val(); got != want {
				t.Errorf("events of %s go to slot %d, its keys are in %d", number, got, want)
			}
		}
	})
}
