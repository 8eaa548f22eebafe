// Package redisstore keeps otpgate's verification state in Redis: an
// otp.Store on go-redis. Every decision about a verification (reserving and
// releasing a send, recording a sent code, using and resolving an attempt,
// ending one without a code, filing a delivery report) is one Lua script
// on the keys of one phone number, which share a Cluster hash tag, so it
// is atomic; each script is safe to run twice, since go-redis resends one
// after a dropped connection.
//
// Two operations add single-command writes and reads around their script.
// CommitSend writes a new verification's id index (SET) before the script,
// reads the current verification's id (HGET) to name its archive key, runs
// the script (again if that id changed meanwhile), then writes, rarely, a
// replacement id index and then the message index. RecordDelivery reads
// the message index (GET) and then runs its script. Each index is one
// command, and the order makes a failure between two steps harmless. The
// id index goes first, so no verification is stored without it; one whose
// verification never got written reads as not found and expires on its
// own. The message index goes last, so a failure before it only leaves
// that SMS's delivery reports unfiled; CommitSend then still returns the
// verification, with otp.ErrMessageNotIndexed, since the SMS is out and its
// code works. A failed replacement id index fails the commit, as without
// it the verification holding the code could not be found by id. The
// commit script checks the id the HGET read and asks for a retry if it
// changed, so a stale read is never applied; the delivery script checks
// that the message is still the verification's latest, so a stale message
// index files nothing.
//
// With WithReplicaAcks, every write a client is told about (the id index
// and commit of a start or resend, an attempt reservation, its resolution,
// an approval or cancel without a code, an idempotency record, every
// factor write) is followed on its connection by WAIT, and fails as
// unavailable when the replicas do not hold it in time.
//
// Events: with WithEvents, the scripts that make a change an app is told
// about (a send, an approval, a cancel, running out of attempts, a new
// delivery status) also record it as an event, and the Store is the
// delivery.Outbox that hands them out. Each verification has one event in
// the stream at a time, the rest wait in its queue, so they go out in
// order; a pending verification is in the expiry zset, which Claim reads
// to record verification.expired. Stream entries carry a snapshot of the
// verification's fields (never its code hash), rendered as Get renders
// them and presented as at the event's time, so every attempt carries the
// same bytes. Without WithEvents no event key is written.
//
// An event is deliverable from when it was recorded, on the service's
// clock (the scripts' now; EventConfig.Now for a delivery report), and
// keeps that time while it waits, so the deliverer's day of retries makes
// a verification's events all end within a day of being recorded. The
// outbox is bounded so that a receiver that is down cannot fill Redis
// until it refuses writes: a partition's stream holds at most 20000
// entries (8 per Cluster slot), one per verification with an event out,
// and a verification at most 16 events waiting behind its own. An event
// with no room is not recorded but counted by type in the partition's
// refused hash, and the change itself commits; Stats takes the counts
// atomically, so each is reported by one Stats call of one replica.
//
// Send budgets: the Store is also the otp.Budgets of the static caps and
// the fraud guard (CONTRACT §9b). Reserve decides and counts a send in one
// script (lua/budget_reserve.lua) that computes the guard's thresholds
// itself, so a count and the rule that reads it can never interleave with
// another start; it reads until it has decided, so a refusal writes
// nothing. Release, Bind and Approve are one script each. Members are
// reservation tokens (or verification ids), so each script is safe to run
// twice, and times are the service's clock. Every budget key carries the
// hash tag {fg}, which puts them all on one Cluster slot: the prefix,
// country and IP counts of one send must be decided together, and Approve
// names the keys of a send from its record. One slot is fine here, unlike
// for verifications: every reservation is an SMS the operator pays for, so
// the SMS bill bounds the load on that slot long before Redis does. One
// node reserves thousands of sends a second (4000 with the guard and a
// client IP on a loaded two-core test machine), which at NZ$0.10 an SMS
// would cost NZ$400 a second.
//
// Authenticator apps: Store.Factors is the factor.Store (CONTRACT §11).
// Everything of an identity is one hash, otp:{f:<identity>} (its fields
// are in lua/factor_common.lua), and the memos of its runs are a hash
// beside it, otp:{f:<identity>}:w; the hash tag puts both on the Cluster
// slot of the identity's event partition and queue, so each change
// (create, a code, a recovery code, new recovery codes, a delete) is one
// script that records its events too, sent through the writer that
// WithReplicaAcks makes wait. Load is one HGETALL of the identity's hash,
// which never holds a memo. Each script first drops the unverified factors
// past their hour; the hash then has no TTL while it holds a verified
// factor or recovery codes, and otherwise expires with the last of its
// unverified factors and its window of refused codes. The memos make the
// scripts safe to run twice, which their state alone would not (a replayed
// code would count as refused, a delete would find nothing): each call
// carries a random nonce, each run that changes something keeps its answer
// under its own nonce in the memo key, which goes a minute after its last
// memo, and a run that finds its nonce's memo answers what the first run
// answered, whatever ran in between. A factor event is a stream entry with
// its data already rendered by the service (D) instead of a snapshot,
// queued per identity as a verification's events are; Claim hands it out
// with Data and no Verification.
//
// Keys:
//
//	otp:{<number>}            hash: the number's cooldown, send in flight, cached lookup and current verification
//	otp:{<number>}:<hex id>   hash: an earlier verification of the number, still within retention
//	otp:i:<hex id>            string: the number of a verification, to find it by id
//	otp:m:<message id>        string: the number an SMS went to, to file delivery reports
//	otp:{<number>}:q:<hex id> list: while an event of the verification is in the stream, its entry id and then the events waiting behind it
//	otp:{f:<identity>}        hash: an identity's factors, recovery codes and refused codes; no TTL while it holds a verified factor or recovery codes
//	otp:{f:<identity>}:w      hash: nonce → answer (JSON) of each of the identity's runs that changed something; until a minute after the last
//	otp:{f:<identity>}:q:<32 zeros> list: the identity's factor events, as a verification's queue
//	otp:{fg}:pc:<prefix>      zset: token → ms of the sends to a number prefix, for its cap (its window)
//	otp:{fg}:d:<CC>:<day>     zset: token → ms of the sends to a country on a UTC day (yyyymmdd), "*" for all; until midnight
//	otp:{fg}:uc:<CC>          zset: token → ms of the unverified sends to a country (24 h)
//	otp:{fg}:up:<prefix>      zset: token → ms of the unverified sends to a prefix (1 h)
//	otp:{fg}:ui:<ip>          zset: "<CC>|<token>" → ms of the unverified sends started from a client IP (24 h)
//	otp:{fg}:ac:<CC>          zset: hex id → ms of the approvals in a country (24 h); ap:<prefix> of a prefix
//	otp:{fg}:ad:<CC>          hash: UTC day → approvals in a country that day (15 days)
//	otp:{fg}:ai:<ip>          zset: CC → ms of the latest approval of a country's send from a client IP (24 h)
//	otp:{fg}:t:<token>        hash: country, prefix, client IP and warnings of a send the guard counted (25 h)
//	otp:{fg}:v:<hex id>       set: the tokens of a verification's sends, bound for its approval (25 h)
//	otp:e                     stream: the events to deliver, read by the consumer group "otpgate"
//	otp:er                    zset: entries put back, by when they are due again (claimed: when the claim ends)
//	otp:ea                    hash: entry id → attempts failed, for the entries in otp:er
//	otp:ex                    zset: "<number>:<hex id>" of every pending verification, by its expiry; and "~" at 0 while otp:e holds entries or otp:ed counts
//	otp:ed                    hash: event type → events refused for want of room since Stats last took them
//
// On a Cluster the last five are one set per hash slot, named with the
// suffix ":{<tag>}" for a short tag of that slot, and a number's events go
// to its own slot's set, so each script stays on one slot. A Store finds
// the slots with work by a sweep: one pipelined ZCOUNT of otp:ex up to now
// per slot, which counts a due expiry or the "~" of a slot with entries
// or refused counts;
// 16384 commands, 20-60 ms on the three-master test Cluster. Claim sweeps
// at most every 2 s of the now it is given. Between sweeps it polls only
// the slots the last sweep found active and those the Store itself gave
// work since: an event it recorded or its Done let go, at once, and an
// event it put back with Retry, once due. That is two commands per slot
// (1-2 ms for 8) and none when there is no work, so a replica that
// claims every 500 ms sends 8192 commands a second while idle, where one
// sweep per Claim sent 32768. Work another replica gave a slot the Store
// did not know of, and an expiry there, waits for the next sweep: at most
// 2 s later than on a single Redis. Stats reads the same slots, one script
// each, rather than all 16384.
//
// Claim records due expiries in batches of 128, one script per batch that
// reads the expiry zset itself (so replicas claiming side by side take
// different members), and runs further batches while they come back full,
// for up to 50 ms per Claim: 1000 expiries take one Claim of about 25 ms.
// A partition that fails (a Cluster node failing over) is skipped by
// Claim and Stats, which return what the others gave with no error, and
// fail only when no partition answered; a sweep that failed on some slots
// keeps what the last one knew of them and is tried again next Claim.
//
// Keeping the current verification in the number's own hash, its id as raw
// bytes and the bcrypt hash unpacked from its text form keeps a pending
// verification under 460 bytes of MEMORY USAGE with its indexes (see
// lua/common.lua for the fields). Every key of a verification expires when
// its content stops being readable, so Redis frees the memory itself; an
// event's entry goes when it is done, and its expiry member when the
// verification ends or expires.
package redisstore
