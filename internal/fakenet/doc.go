// Package fakenet holds the network faults otpgate's fake SMS providers
// share: a listener that refuses connections and then accepts them again
// on the same address (Gate, for websms/sandbox and smsnexus/sandbox), and
// the hung and dropped answers every fake injects (Hang, Drop). It imports
// no testing code, since dev mode links the fakes into the server binary.
package fakenet
